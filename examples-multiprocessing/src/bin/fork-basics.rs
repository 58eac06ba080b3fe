//! fork + waitpid: how a child ended (exit code or killing signal), and
//! copy-on-write: the child's writes never reach the parent.
//!
//! Notice: `WaitStatus` tells `exit(7)` apart from "killed by SIGKILL" (a
//! shell folds both into one number, 128 + signal); a child that rewrites a
//! heap value leaves the parent's copy untouched, while a `MAP_SHARED`
//! page mapped before the fork really is shared. Reach for fork when the
//! child needs a cheap snapshot of the parent; send results back through
//! pipes or shared memory. Python: `os.fork()`, `os.waitpid()`,
//! `os.WIFSIGNALED`. Exits 0 when every status and value is as predicted,
//! 1 otherwise.

use std::sync::atomic::Ordering::SeqCst;

use anyhow::{Result, ensure};
use clap::Parser;
use examples_multiprocessing::fork::{SharedU64, describe, fork_single_threaded};
use nix::sys::signal::{Signal, raise};
use nix::sys::wait::WaitStatus;

/// fork + waitpid: exit code vs killing signal, and copy-on-write. Exits 0 when the claim held, 1 when not, 2 on a bad flag.
#[derive(Parser)]
struct Args {
    /// Exit code the first child returns (0-255).
    #[arg(long, default_value_t = 7)]
    code: u8,
}

fn main() -> std::process::ExitCode {
    examples_multiprocessing::fork::exit_code(run())
}

fn run() -> Result<()> {
    let args: Args = lesson::args();
    let code = i32::from(args.code);

    // Children may run any code: fork_single_threaded checked that this
    // program runs one thread.
    let mut exits = fork_single_threaded(|| code)?;
    let status = exits.wait()?;
    let pid = exits.pid();
    println!(
        "child pid {pid:<7} exit({code})        -> {status:?}  {}",
        describe(status)
    );
    ensure!(
        status == WaitStatus::Exited(pid, code),
        "expected exit code {code}"
    );

    let mut killed = fork_single_threaded(|| {
        let _ = raise(Signal::SIGKILL);
        0 // never reached: SIGKILL cannot be caught
    })?;
    let status = killed.wait()?;
    let pid = killed.pid();
    println!(
        "child pid {pid:<7} raise(SIGKILL) -> {status:?}  {}",
        describe(status)
    );
    ensure!(
        status == WaitStatus::Signaled(pid, Signal::SIGKILL, false),
        "expected SIGKILL"
    );

    let mut private = vec![1_u64; 1024];
    let shared = SharedU64::new()?;
    shared.word().store(1, SeqCst);
    // The child writes to its copy of the heap and to the shared page.
    let mut writer = fork_single_threaded(|| {
        private[0] = 99;
        shared.word().store(99, SeqCst);
        i32::from(private[0] != 99) // 0: the child saw its own write
    })?;
    let status = writer.wait()?;
    let pid = writer.pid();
    ensure!(
        status == WaitStatus::Exited(pid, 0),
        "writer child: {status:?}"
    );
    let (heap, page) = (private[0], shared.word().load(SeqCst));
    println!(
        "child pid {pid:<7} wrote 99 to both -> parent sees heap Vec {heap} (copy-on-write), MAP_SHARED page {page}"
    );
    ensure!(heap == 1 && page == 99, "copy-on-write claim did not hold");
    println!(
        "lesson: a child reports back only through its exit status, pipes or MAP_SHARED memory; its ordinary writes stay in its own copy"
    );
    Ok(())
}
