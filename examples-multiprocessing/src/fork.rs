//! Forking a child that dies with its parent and is always reaped, and a
//! watchdog for children that may hang.
//!
//! The fork itself is the process toolkit's, re-exported here:
//! [`fork`] is the safe way in (it refuses to fork unless the calling
//! process runs exactly one thread, so the child may run any Rust code);
//! [`fork_raw`] is the `unsafe` way for a multi-threaded parent, where the
//! child may only make async-signal-safe calls (other threads' locks,
//! including malloc's and stdout's, are copied in whatever state they were
//! in, and their owners do not exist in the child). Either way the child's
//! closure returns an exit code and the child ends in `_exit`; a panic in
//! the child becomes exit code [`PANIC_EXIT`].
//!
//! What this module adds is [`dies_with_parent`]: wrap a child's closure in
//! it, and the child sets `PR_SET_PDEATHSIG` to `SIGKILL` before it runs,
//! so however the parent ends (even by `SIGKILL`, when no cleanup code
//! runs) the kernel kills the child, and a child stuck on purpose in a
//! lesson cannot outlive it. A child that wants to outlive its parent (an
//! orphan, on purpose) clears it with `nix::sys::prctl::set_pdeathsig(None)`.
//! The signal follows the parent *thread* that forked, not the whole
//! process: fork from the thread that lives as long as the process (the
//! main thread).
//!
//! The parent gets a [`Child`], which owns the process: it waits for it
//! ([`Child::wait`], [`Child::wait_timeout`]) and, if dropped unwaited,
//! kills it with `SIGKILL` and reaps it, so no zombie outlives it.
//!
//! Python: `os.fork()` + `os.waitpid()`; `multiprocessing` with the `fork`
//! start method does this for you. Since Python 3.14 that is no longer the
//! default on Linux: `multiprocessing` and `ProcessPoolExecutor` start
//! workers with `forkserver`, and code that needs fork (a child that
//! inherits the parent's memory) must ask for it, with
//! `multiprocessing.get_context("fork")` or `mp_context=`. Python 3.12
//! already warns (`DeprecationWarning`) when a process with threads forks.
//!
//! ```no_run
//! use nix::sys::wait::WaitStatus;
//! use examples_multiprocessing::fork::{dies_with_parent, fork};
//!
//! let mut child = fork(dies_with_parent(|| 7))?;
//! assert_eq!(child.wait()?, WaitStatus::Exited(child.pid(), 7));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use nix::sys::signal::{self, SigSet, SigmaskHow, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::{Pid, alarm};

// One home for the fork, the owned child and the thread count: the toolkit.
pub use process_toolkit::{Child, ForkError, PANIC_EXIT, fork, fork_raw, thread_count};

/// Exit code of a child whose parent died before the child could arm its
/// death signal (it was already an orphan, so it ends at once). Nobody but
/// init reads it.
pub const PARENT_GONE: i32 = process_toolkit::EXIT_PARENT_GONE;

/// Wraps a child's closure so that the child dies with this process
/// (the toolkit's [`process_toolkit::dying_with_parent`]; a child whose
/// parent is already gone ends with [`PARENT_GONE`]).
pub use process_toolkit::dying_with_parent as dies_with_parent;

/// Watchdog for a child that is expected to finish: long enough never to
/// fire on a loaded machine, short enough that a real hang still ends.
pub const FINISH_WATCHDOG_SECS: u32 = 30;

/// Arms a watchdog in the calling process: in `seconds` the kernel sends
/// `SIGALRM`, whose default action kills the process, so a parent that
/// waits sees `WaitStatus::Signaled(pid, SIGALRM, false)` instead of a
/// hang. Restores the default action and unblocks the signal first.
///
/// Async-signal-safe (`sigaction`, `sigprocmask` and `alarm` are on the
/// list): call it first thing in a child forked from a threaded parent.
pub fn arm_watchdog(seconds: u32) {
    // SAFETY: installing SIG_DFL runs no handler code of ours.
    let _ = unsafe { signal::signal(Signal::SIGALRM, signal::SigHandler::SigDfl) };
    let mut set = SigSet::empty();
    set.add(Signal::SIGALRM);
    let _ = signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    alarm::set(seconds.max(1));
}

/// How a child is predicted to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// `_exit(code)`.
    Exit(i32),
    /// Killed by this signal (no core dump).
    Killed(Signal),
}

impl Ending {
    /// The exact `WaitStatus` the parent should see for child `pid`.
    pub fn status(self, pid: Pid) -> WaitStatus {
        match self {
            Ending::Exit(code) => WaitStatus::Exited(pid, code),
            Ending::Killed(sig) => WaitStatus::Signaled(pid, sig, false),
        }
    }
}

/// Waits for `child` (killing it at `limit`), prints one line with its pid
/// and exact status, and returns whether it ended as predicted.
pub fn report(
    label: &str,
    child: &mut Child,
    want: Ending,
    limit: Duration,
) -> std::io::Result<bool> {
    let (status, killed) = child.wait_or_kill(limit)?;
    let ok = status == want.status(child.pid());
    println!(
        "{label:<22} child pid {:<7} -> {status:?}{}  {}",
        child.pid(),
        if killed {
            " (still running at the deadline: killed)"
        } else {
            ""
        },
        if ok { "as predicted" } else { "UNEXPECTED" },
    );
    Ok(ok)
}

/// Describes a wait status the way a shell user reads it: `exit code 7`,
/// `killed by SIGKILL`.
pub fn describe(status: WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exit code {code}"),
        WaitStatus::Signaled(_, sig, core) => {
            let core = if core { " (core dumped)" } else { "" };
            format!("killed by {}{core}", sig.as_str())
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_codes_and_signals() {
        let pid = Pid::from_raw(1);
        assert_eq!(describe(WaitStatus::Exited(pid, 7)), "exit code 7");
        assert_eq!(
            describe(WaitStatus::Signaled(pid, Signal::SIGKILL, false)),
            "killed by SIGKILL"
        );
    }
}
