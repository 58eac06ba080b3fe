//! fork + waitpid: how a child ended (exit code or killing signal), and
//! copy-on-write: the child's writes never reach the parent.
//!
//! Notice: `WaitStatus` tells `exit(7)` apart from "killed by SIGKILL" (a
//! shell folds both into one number, 128 + signal); a child that rewrites a
//! heap value leaves the parent's copy untouched, while a `MAP_SHARED`
//! page mapped before the fork really is shared. Reach for fork when the
//! child needs a cheap snapshot of the parent; send results back through
//! pipes or shared memory. Python: `os.fork()`, `os.waitpid()`,
//! `os.WIFSIGNALED` (and, since 3.14 defaults to `forkserver` on Linux,
//! `multiprocessing.get_context("fork")` to ask for fork). Exits 0 when
//! every status and value is as predicted, 1 otherwise, 71 when the system
//! refuses a process.

use std::sync::atomic::Ordering::SeqCst;

use clap::Parser;
use examples_multiprocessing::fork::{Ending, describe, dies_with_parent, fork};
use lesson::Failure;
use nix::sys::signal::{Signal, raise};
use process_toolkit::SharedMapping;

/// fork + waitpid: exit code vs killing signal, and copy-on-write.
#[derive(Parser)]
struct Args {
    /// Exit code the first child returns.
    #[arg(long, default_value_t = 7)]
    code: u8,
}

fn main() -> std::process::ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let code = i32::from(args.code);

    // Children may run any code: `fork` checked that this
    // program runs one thread.
    let exits = fork(dies_with_parent(|| code))?;
    let killed = fork(dies_with_parent(|| {
        let _ = raise(Signal::SIGKILL);
        0 // never reached: SIGKILL cannot be caught
    }))?;
    let sigkill = Ending::Killed(Signal::SIGKILL);
    for (label, mut child, want) in [
        (format!("exit({code})"), exits, Ending::Exit(code)),
        ("raise(SIGKILL)".to_string(), killed, sigkill),
    ] {
        let (status, pid) = (child.wait()?, child.pid());
        println!(
            "child pid {pid:<7} {label:<14} -> {status:?}  {}",
            describe(status)
        );
        if status != want.status(pid) {
            return Err(Failure::claim(format!(
                "expected {want:?}, got {}",
                describe(status)
            )));
        }
    }

    let mut private = vec![1_u64; 1024];
    let shared = SharedMapping::new(8)?;
    shared.atomic_u64s()[0].store(1, SeqCst);
    // The child writes to its copy of the heap and to the shared page.
    let mut writer = fork(dies_with_parent(|| {
        private[0] = 99;
        shared.atomic_u64s()[0].store(99, SeqCst);
        i32::from(private[0] != 99) // 0: the child saw its own write
    }))?;
    let (status, pid) = (writer.wait()?, writer.pid());
    if status != Ending::Exit(0).status(pid) {
        return Err(Failure::claim(format!(
            "writer child: {}",
            describe(status)
        )));
    }
    let (heap, page) = (private[0], shared.atomic_u64s()[0].load(SeqCst));
    println!(
        "child pid {pid:<7} wrote 99 to both -> parent sees heap Vec {heap} (copy-on-write), MAP_SHARED page {page}"
    );
    if (heap, page) != (1, 99) {
        return Err(Failure::claim("copy-on-write claim did not hold"));
    }
    println!(
        "lesson: a child reports back only through its exit status, pipes or MAP_SHARED memory; its ordinary writes stay in its own copy"
    );
    Ok(())
}
