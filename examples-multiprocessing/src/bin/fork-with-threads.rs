//! fork while another thread holds a mutex: the child inherits the lock
//! locked, with no thread left to unlock it, and blocks forever.
//!
//! Notice: the child's own watchdog (`alarm`, default SIGALRM action) turns
//! the silent hang into a status the parent reads: `Signaled(pid, SIGALRM)`,
//! and `PR_SET_PDEATHSIG` (armed by `fork::dies_with_parent`) kills it if
//! this program dies first, by any signal. The same lock is fine in a child
//! forked before the thread started, and in a child that `exec`s at once (a
//! fresh image has no inherited locks). malloc, stdout and logging locks
//! fail the same way, which is why a child of a threaded parent may only
//! make async-signal-safe calls. Reach for this when mixing threads with
//! fork: fork first, or exec. Python 3.12 raises a `DeprecationWarning`
//! ("use of fork() may lead to deadlocks in the child") for this case, and
//! 3.14 no longer forks by default on Linux (`forkserver`). Exits 0 when all
//! three children end as predicted, 1 otherwise, 71 when the system refuses
//! a thread or process.

use std::sync::{Mutex, mpsc};
use std::time::Duration;

use clap::Parser;
use examples_multiprocessing::fork::{
    Ending, FINISH_WATCHDOG_SECS, ForkError, arm_watchdog, dies_with_parent, fork, fork_raw, report,
};
use examples_multiprocessing::start::fork_exec;
use lesson::Failure;
use nix::sys::signal::Signal;

static LOCK: Mutex<()> = Mutex::new(());

/// fork while a thread holds a mutex: the child hangs (watchdog), fork-first and exec work.
#[derive(Parser)]
struct Args {
    /// Seconds before the child's watchdog fires.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    watchdog_secs: u32,
    /// Take LOCK and exit: the program the exec'd child runs.
    #[arg(long, hide = true)]
    exec_child: bool,
}

fn main() -> std::process::ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    if args.exec_child {
        drop(LOCK.lock());
        return Ok(());
    }
    let secs = args.watchdog_secs;
    let limit = |secs: u32| Duration::from_secs(u64::from(secs) + 5);
    let (go_rx, go_tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // Fix 1, fork before threads: any code is fine in this child. It takes
    // LOCK once the parent's thread holds it (the byte on `go`).
    let mut early = fork(dies_with_parent(|| {
        arm_watchdog(FINISH_WATCHDOG_SECS);
        let _ = nix::unistd::read(&go_rx, &mut [0]);
        i32::from(LOCK.lock().is_err())
    }))?;
    let (held_tx, held) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let holder = std::thread::Builder::new().spawn(move || {
        let _guard = LOCK.lock();
        let _ = held_tx.send(());
        let _ = release_rx.recv();
    });
    let holder = holder.map_err(|e| Failure::system(format!("cannot start a thread: {e}")))?;
    held.recv()
        .map_err(|_| Failure::claim("the holder thread ended early"))?;
    nix::unistd::write(&go_tx, &[1])?;

    // SAFETY: `arm_watchdog` is async-signal-safe. `LOCK.lock()` is not, on
    // purpose: it is the hazard shown. It cannot corrupt memory (the futex
    // word was copied locked and its owner is not in this process, so it
    // waits), and the watchdog armed first bounds the wait.
    let mut stuck = unsafe {
        fork_raw(dies_with_parent(|| {
            arm_watchdog(secs);
            drop(LOCK.lock());
            0
        }))
    }
    .map_err(ForkError::Fork)?;
    // Fix 2, exec at once: a fresh image of this program, with no locks held.
    let mut fresh = fork_exec(&std::env::current_exe()?, &["--exec-child"])?;

    let (done, finish) = (Ending::Exit(0), limit(FINISH_WATCHDOG_SECS));
    let alarm = Ending::Killed(Signal::SIGALRM);
    let mut ok = true;
    for (label, child, want, within) in [
        ("fork before threads", &mut early, done, finish),
        ("fork while locked", &mut stuck, alarm, limit(secs)),
        ("fork + exec", &mut fresh, done, finish),
    ] {
        ok &= report(label, child, want, within)?;
    }
    println!(
        "(the child forked while a thread held LOCK blocked on it until its alarm({secs}) watchdog fired;"
    );
    println!(" had this program died first, PR_SET_PDEATHSIG would have killed it at once)");
    drop(release);
    let _ = holder.join();
    if !ok {
        return Err(Failure::claim("a child did not end as predicted"));
    }
    println!(
        "lesson: after fork in a threaded process only async-signal-safe calls are safe; fork before starting threads, or exec at once"
    );
    Ok(())
}
