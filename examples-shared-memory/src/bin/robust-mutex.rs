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
use clap::Parser;
use examples_shared_memory::robust_mutex::RobustMutex;
use examples_shared_memory::robust_mutex::demo::{
    self, Handoff, SharedLock, StdMutexInSharedMemory,
};

/// No flags: the demonstration is deterministic.
#[derive(Parser)]
struct Args {}

fn main() -> anyhow::Result<()> {
    let _: Args = lesson::args();
    // SAFETY: main is single-threaded; nothing started a thread (the same
    // holds for the two `handoff` calls below).
    let recovery = unsafe { demo::owner_dies() }?;
    println!("{recovery}");
    let robust = RobustMutex::new(0u64)?;
    let std_mutex = StdMutexInSharedMemory::new()?;
    // SAFETY: as above.
    let woke = unsafe { demo::handoff(&robust) }?;
    // SAFETY: as above.
    let lost = unsafe { demo::handoff(&std_mutex) }?;
    println!("{:<22} {woke}", robust.name());
    println!("{:<22} {lost}", std_mutex.name());
    println!(
        "lesson: between processes use a PROCESS_SHARED + ROBUST pthread mutex, not std Mutex"
    );
    if !recovery.recovered() {
        eprintln!("error: the dead owner's lock was not recovered as expected");
        std::process::exit(1);
    }
    if !matches!(woke, Handoff::Woke(_)) || !matches!(lost, Handoff::Lost(_)) {
        eprintln!("error: expected the pthread mutex to wake its waiter, std Mutex to lose it");
        std::process::exit(1);
    }
    Ok(())
}
