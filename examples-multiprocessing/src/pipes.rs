//! Pipes between a parent and its child: their capacity, and reading while
//! waiting so a chatty child cannot deadlock with its parent.
//!
//! A pipe holds a bounded amount (64 KiB by default on Linux, see
//! [`capacity`]). A child that writes more blocks in `write` until someone
//! reads; a parent that first waits for the child to exit and only then
//! reads never reads: both stall. [`drain_and_wait`] reads as the child
//! writes, then reaps it.
//!
//! Python: the `subprocess` docs warn that `Popen.wait()` "can deadlock
//! when using stdout=PIPE" and the child fills the pipe; use
//! `communicate()`. The same holds for a `multiprocessing.Queue` whose
//! items are not consumed before `join()`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::WaitStatus;

use crate::fork::{Child, dies_with_parent, fork};

/// How many bytes the pipe holds before a writer blocks (`F_GETPIPE_SZ`).
///
/// ```
/// use examples_multiprocessing::pipes::{capacity, queued};
///
/// let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
/// assert_eq!(capacity(&rx)?, 64 * 1024); // Linux's default
/// nix::unistd::write(&tx, b"ping")?;
/// assert_eq!(queued(&rx)?, 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn capacity(pipe: impl AsFd) -> io::Result<usize> {
    let bytes = fcntl(pipe, FcntlArg::F_GETPIPE_SZ)?;
    Ok(usize::try_from(bytes).unwrap_or(0))
}

/// How many bytes sit in the pipe, written but not yet read (`FIONREAD`).
pub fn queued(pipe: impl AsFd) -> io::Result<usize> {
    let mut bytes: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points
    // at a live local; the fd is open for the duration of the borrow.
    let rc = unsafe { libc::ioctl(pipe.as_fd().as_raw_fd(), libc::FIONREAD, &mut bytes) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(bytes).unwrap_or(0))
}

/// Forks a child that writes `bytes` bytes into a fresh pipe and exits 0
/// (1 if a write fails: the reader is gone); returns the child and the
/// pipe's read end, the only read end left. The calling process must be
/// single-threaded. Drop the `Child` to kill and reap the writer.
pub fn fork_writer(bytes: usize) -> io::Result<(Child, OwnedFd)> {
    let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let reader = rx.as_raw_fd();
    // Single-threaded (checked by the fork): the child may allocate and loop.
    // The closure owns `tx`: the parent's copy closes when it is dropped
    // after the fork, so the child's exit means end-of-file.
    let child = fork(dies_with_parent(move || {
        // SAFETY: closes this process's copy of the read end (its `OwnedFd`
        // is never used or dropped here), so that if the parent dies the
        // blocked write fails instead of waiting forever.
        unsafe { libc::close(reader) };
        let data = vec![b'x'; bytes];
        let mut sent = 0;
        while sent < bytes {
            match nix::unistd::write(&tx, &data[sent..]) {
                Ok(n) => sent += n,
                Err(_) => return 1,
            }
        }
        0
    }))?;
    Ok((child, rx))
}

/// What [`drain_and_wait`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Bytes read before end of file (or the deadline).
    pub bytes: usize,
    /// How the child ended.
    pub status: WaitStatus,
    /// Whether the deadline passed and the child had to be killed.
    pub killed: bool,
}

/// Reads `pipe` (the read end; the caller must have closed its own write
/// end) until end of file while the child runs, then reaps the child. If
/// `limit` passes first, the child is killed and reaped.
pub fn drain_and_wait(child: &mut Child, pipe: OwnedFd, limit: Duration) -> io::Result<Drained> {
    let deadline = Instant::now() + limit;
    let mut buf = vec![0_u8; 64 * 1024];
    let mut bytes = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
        if left.is_zero() || poll(&mut fds, PollTimeout::from(ms))? == 0 {
            if Instant::now() >= deadline {
                let status = child.kill_and_wait()?;
                return Ok(Drained {
                    bytes,
                    status,
                    killed: true,
                });
            }
            continue;
        }
        match nix::unistd::read(&pipe, &mut buf) {
            Ok(0) => break, // EOF: every write end is closed, the child is done writing
            Ok(n) => bytes += n,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let (status, killed) =
        child.wait_or_kill(deadline.saturating_duration_since(Instant::now()))?;
    Ok(Drained {
        bytes,
        status,
        killed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_pipe_holds_64_kib_and_counts_what_is_queued() {
        let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        assert_eq!(capacity(&rx).unwrap(), 64 * 1024);
        assert_eq!(queued(&rx).unwrap(), 0);
        nix::unistd::write(&tx, b"hello").unwrap();
        assert_eq!(queued(&rx).unwrap(), 5);
    }
}
