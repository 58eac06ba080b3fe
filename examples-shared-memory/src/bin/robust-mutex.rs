//! A lock shared between processes must survive its owner's death and wake
//! waiters in other processes: a robust, process-shared pthread mutex does
//! both; `std::sync::Mutex` placed in shared memory does neither.
//!
//! Notice: a child is SIGKILLed halfway through moving 10 from `a` to `b`
//! while holding the lock; the next `lock()` returns `OwnerDied`, we see
//! `a + b = 90`, redo the journalled credit, call `make_consistent` and the
//! lock works again. Then a child blocks on a lock the parent holds (we wait
//! until `/proc` shows it asleep) and the parent unlocks: the pthread mutex
//! wakes it at once; the std Mutex's wake-up is process-private and never
//! arrives, so a watchdog kills the child after 2 s and reports it (this is
//! deterministic, not a race). Exit 0 when all three outcomes are as
//! described, 1 otherwise. Reach for it when processes share data under a
//! lock and one of them may crash. Python: `multiprocessing.Lock` stays
//! held forever when its owner is killed.
use std::process::ExitCode;

use clap::Parser;
use examples_shared_memory::robust_mutex::RobustMutex;
use examples_shared_memory::robust_mutex::demo::{
    self, Handoff, SharedLock, StdMutexInSharedMemory,
};
use lesson::Failure;

/// No flags: the demonstration is deterministic.
#[derive(Parser)]
struct Args {}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let _: Args = lesson::args();
    let recovery = demo::owner_dies()?;
    println!("{recovery}");
    let robust = RobustMutex::new(0u64)?;
    let std_mutex = StdMutexInSharedMemory::new()?;
    let woke = demo::handoff(&robust)?;
    let lost = demo::handoff(&std_mutex)?;
    println!("{:<22} {woke}", robust.name());
    println!("{:<22} {lost}", std_mutex.name());
    println!(
        "lesson: between processes use a PROCESS_SHARED + ROBUST pthread mutex, not std Mutex"
    );
    if !recovery.recovered() {
        return Err(Failure::claim(
            "the dead owner's lock was not recovered as expected",
        ));
    }
    if !matches!(woke, Handoff::Woke(_)) || !matches!(lost, Handoff::Lost(_)) {
        return Err(Failure::claim(
            "expected the pthread mutex to wake its waiter, std Mutex to lose it",
        ));
    }
    Ok(())
}
