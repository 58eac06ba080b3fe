//! fork while another thread holds a mutex: the child inherits the lock
//! locked, with no thread left to unlock it, and blocks forever.
//!
//! Notice: the child's own watchdog (`alarm`, default SIGALRM action) turns
//! the silent hang into a status the parent reads: `Signaled(pid, SIGALRM)`.
//! The same lock is fine in a child forked before the thread started, and
//! in a child that `exec`s at once (a fresh image has no inherited locks).
//! malloc, stdout and logging locks fail the same way, which is why a child
//! of a threaded parent may only make async-signal-safe calls. Reach for
//! this when mixing threads with fork: fork first, or exec. Python 3.12
//! warns "use of fork() may lead to deadlocks in the child" for this case.
//! Exits 0 when all three children end as predicted, 1 otherwise.

use std::sync::{Mutex, mpsc};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use clap::Parser;
use examples_multiprocessing::fork::{
    Ending, FINISH_WATCHDOG_SECS, arm_watchdog, fork_async_safe, fork_single_threaded, report,
};
use examples_multiprocessing::start::fork_exec;
use nix::sys::signal::Signal;

static LOCK: Mutex<()> = Mutex::new(());

/// fork while a thread holds a mutex: the child hangs (watchdog), fork-first and exec work. Exits 0 when the claim held, 1 when not, 2 on a bad flag.
#[derive(Parser)]
struct Args {
    /// Seconds before the child's watchdog fires (1-60).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=60))]
    watchdog_secs: u32,
    /// Take LOCK and exit: the program the exec'd child runs.
    #[arg(long, hide = true)]
    exec_child: bool,
}

fn main() -> std::process::ExitCode {
    examples_multiprocessing::fork::exit_code(run())
}

fn run() -> Result<()> {
    let args: Args = lesson::args();
    if args.exec_child {
        drop(LOCK.lock());
        return Ok(());
    }
    let (secs, limit) = (
        args.watchdog_secs,
        Duration::from_secs(u64::from(args.watchdog_secs) + 5),
    );
    let finish = Duration::from_secs(u64::from(FINISH_WATCHDOG_SECS) + 5);
    let (go_rx, go_tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let parent_end = std::os::fd::AsRawFd::as_raw_fd(&go_tx);
    // Fix 1, fork before threads: any code is fine in this child.
    let mut early = fork_single_threaded(|| {
        arm_watchdog(FINISH_WATCHDOG_SECS);
        // SAFETY: closes this process's copy of the parent's write end (its
        // `OwnedFd` is never used or dropped here), so a parent that dies
        // early ends the read below with EOF instead of a wait.
        unsafe { libc::close(parent_end) };
        let _ = nix::unistd::read(&go_rx, &mut [0]); // until the parent's thread holds LOCK
        i32::from(LOCK.lock().is_err())
    })?;
    let (held_tx, held) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _guard = LOCK.lock();
        let _ = held_tx.send(());
        let _ = release_rx.recv();
    });
    held.recv().context("holder thread")?;
    nix::unistd::write(&go_tx, &[1])?;

    // SAFETY: `arm_watchdog` is async-signal-safe. `LOCK.lock()` is not, on
    // purpose: it is the hazard shown. It cannot corrupt memory (the futex
    // word was copied locked and its owner is not in this process, so it
    // waits), and the watchdog armed first bounds the wait.
    let mut stuck = unsafe {
        fork_async_safe(|| {
            arm_watchdog(secs);
            drop(LOCK.lock());
            0
        })
    }?;

    let exe = std::env::current_exe()?;
    let mut fresh = fork_exec(&exe, &["--exec-child"])?;

    let mut ok = report("fork before threads", &mut early, Ending::Exit(0), finish)?;
    ok &= report(
        "fork while locked",
        &mut stuck,
        Ending::Killed(Signal::SIGALRM),
        limit,
    )?;
    ok &= report("fork + exec", &mut fresh, Ending::Exit(0), finish)?;
    println!(
        "(the child forked while a thread held LOCK blocked on it until its alarm({secs}) watchdog fired)"
    );
    drop(release);
    let _ = holder.join();
    ensure!(ok, "a child did not end as predicted");
    println!(
        "lesson: after fork in a threaded process only async-signal-safe calls are safe; fork before starting threads, or exec at once"
    );
    Ok(())
}
