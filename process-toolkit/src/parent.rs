//! Dying with the parent.

use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::unistd::{Pid, getppid};

/// A conventional exit code for a child that found its parent gone.
pub const EXIT_PARENT_GONE: i32 = 4;

/// The parent died before the death signal was armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the parent process {0} is gone")]
pub struct ParentGone(pub Pid);

/// Makes the kernel send this process `SIGKILL` when its parent dies
/// (`PR_SET_PDEATHSIG`), then checks that `parent` (the pid the parent
/// recorded before forking) is still the parent: if it died in between,
/// this process was already re-parented and no signal would ever come.
/// On `Err` the caller should `_exit` (with [`EXIT_PARENT_GONE`]).
///
/// The death signal fires when the parent *thread* that forked this
/// process ends, so fork long-lived children from a thread that lives as
/// long as they should. Async-signal-safe (two system calls): fine in a
/// child forked from a threaded parent, or in `pre_exec`.
///
/// ```
/// use process_toolkit::{Ended, die_with_parent, fork_raw};
///
/// let parent = nix::unistd::getpid();
/// // SAFETY: the child makes two system calls and returns a number.
/// let mut child = unsafe { fork_raw(move || die_with_parent(parent).map_or(4, |()| 0)) }?;
/// assert_eq!(child.wait_ended()?, Ended::Exited(0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn die_with_parent(parent: Pid) -> Result<(), ParentGone> {
    signal_when_parent_dies(parent, Signal::SIGKILL)
}

/// [`die_with_parent`] with another signal than `SIGKILL`: `SIGINT` or
/// `SIGTERM` lets a child that handles it clean up (a Python script
/// unlinks its shared memory on `KeyboardInterrupt`) before it exits.
pub fn signal_when_parent_dies(parent: Pid, signal: Signal) -> Result<(), ParentGone> {
    if prctl::set_pdeathsig(signal).is_err() || getppid() != parent {
        return Err(ParentGone(parent));
    }
    Ok(())
}

/// Wraps a child's closure so that the child dies with this process: the
/// parent's pid is taken now (before the fork), and the child first arms
/// the death signal ([`die_with_parent`], two system calls,
/// async-signal-safe, so fine inside [`crate::fork_raw`]) and ends with
/// [`EXIT_PARENT_GONE`] if the parent is already gone.
///
/// ```
/// use process_toolkit::{Ended, dying_with_parent, fork};
///
/// # if process_toolkit::thread_count()? != 1 { return Ok(()); } // doctests may run threaded
/// let mut child = fork(dying_with_parent(|| 3))?;
/// assert_eq!(child.wait_ended()?, Ended::Exited(3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn dying_with_parent<F: FnOnce() -> i32>(child: F) -> impl FnOnce() -> i32 {
    let parent = nix::unistd::getpid();
    move || match die_with_parent(parent) {
        Ok(()) => child(),
        Err(_) => EXIT_PARENT_GONE,
    }
}
