//! A checked fork, and the raw one for threaded parents.

use std::io::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use nix::errno::Errno;
use nix::unistd::ForkResult;

use crate::Child;

/// Exit code of a child whose closure panicked (what a Rust program exits
/// with after an uncaught panic on its main thread).
pub const PANIC_EXIT: i32 = 101;

/// Why a fork was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    /// The process runs other threads, so the child could inherit their
    /// held locks (malloc's, stdout's); see [`fork_raw`].
    #[error(
        "refusing to fork: this process runs {0} threads (fork copies their held locks into the child)"
    )]
    Threaded(usize),
    /// `fork(2)` itself failed (`EAGAIN`: process limit, `ENOMEM`).
    #[error("cannot fork: {}", what_ran_out(*.0))]
    Fork(Errno),
    /// Counting threads in `/proc/self/task` failed.
    #[error("cannot count this process's threads: {0}")]
    Proc(#[from] io::Error),
}

impl From<Errno> for ForkError {
    fn from(errno: Errno) -> Self {
        ForkError::Fork(errno) // not a `source`: the message names it already
    }
}

impl From<ForkError> for io::Error {
    fn from(e: ForkError) -> Self {
        match e {
            ForkError::Proc(e) => e,
            ForkError::Fork(errno) => {
                io::Error::new(io::Error::from(errno).kind(), ForkError::Fork(errno))
            }
            threaded => io::Error::other(threaded),
        }
    }
}

/// A failed fork's cause in words a user can act on.
fn what_ran_out(errno: Errno) -> String {
    match errno {
        Errno::EAGAIN => {
            "the process limit is reached (ulimit -u, or the cgroup's pids.max)".into()
        }
        Errno::ENOMEM => "out of memory".into(),
        other => other.desc().into(),
    }
}

/// Threads in the calling process, from `/proc/self/task`.
///
/// ```
/// assert!(process_toolkit::thread_count()? >= 1);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// Forks a child that runs `child` and exits with the code it returns
/// ([`PANIC_EXIT`] if it panics).
///
/// Safe because it checks: it refuses with [`ForkError::Threaded`] unless
/// this process runs exactly one thread, and then the child is a complete
/// copy that may allocate, lock, print or panic. (Only the calling thread
/// could start a second thread between the check and the fork, and it is
/// busy here.) Stdout and stderr are flushed before the fork, so the child
/// does not print the parent's pending output again, and before the
/// child's `_exit`, so its own output is not lost.
///
/// ```
/// use process_toolkit::{Ended, ForkError, fork};
///
/// match fork(|| 3) {
///     Ok(mut child) => assert_eq!(child.wait_ended()?, Ended::Exited(3)),
///     Err(ForkError::Threaded(n)) => assert!(n > 1), // the test harness runs threads
///     Err(e) => return Err(e.into()),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn fork<F: FnOnce() -> i32>(child: F) -> Result<Child, ForkError> {
    let threads = thread_count()?;
    if threads != 1 {
        return Err(ForkError::Threaded(threads));
    }
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    // SAFETY: the process runs exactly one thread (checked just above, and
    // only this thread could start another), so the child is a full copy
    // with no lock held by a thread that is missing in it.
    Ok(unsafe {
        fork_raw(|| {
            let code = child();
            let _ = io::stdout().flush(); // `_exit` would drop a partial line
            code
        })
    }?)
}

/// Forks a child that runs `child` and `_exit`s with the code it returns,
/// whatever threads the parent runs.
///
/// # Safety
///
/// If the parent runs other threads, `child` must only make
/// async-signal-safe calls (see `signal-safety(7)`): no allocation, no
/// `println!`, no locks, no `std::process::exit`, and no captured value
/// whose drop frees memory. Raw system calls (`write`, `close`, `kill`,
/// `execv` with arguments prepared before the fork) and
/// [`die_with_parent`](crate::die_with_parent) are fine.
///
/// ```
/// use process_toolkit::{Ended, fork_raw};
///
/// // SAFETY: the child only returns a number: no allocation, no lock.
/// let mut child = unsafe { fork_raw(|| 5) }?;
/// assert_eq!(child.wait_ended()?, Ended::Exited(5));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub unsafe fn fork_raw<F: FnOnce() -> i32>(child: F) -> nix::Result<Child> {
    // SAFETY: the caller upholds the async-signal-safety contract for what
    // runs in the child; the child never returns from this function.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(Child::adopt(child)),
        ForkResult::Child => {
            let code = catch_unwind(AssertUnwindSafe(child)).unwrap_or(PANIC_EXIT);
            // SAFETY: `_exit` is async-signal-safe and ends the process
            // without running the parent's destructors or atexit handlers.
            unsafe { libc::_exit(code) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fork_is_refused_while_another_thread_runs() {
        let (stop, parked) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || parked.recv());
        match fork(|| 0) {
            Err(ForkError::Threaded(n)) => assert!(n >= 2),
            other => panic!("expected a refusal, got {other:?}"),
        }
        drop(stop);
        let _ = other.join();
    }
}
