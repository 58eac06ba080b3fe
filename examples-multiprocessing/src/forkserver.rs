//! A forkserver: a small single-threaded helper, forked early, that forks
//! workers on request.
//!
//! Forking from a big or multi-threaded parent is slow (page tables) or
//! unsafe (other threads' locks). So fork once, at startup, while the
//! process is still small and single-threaded; later the parent asks that
//! helper for workers. Each worker is a fork of the helper, so it inherits
//! the helper's small state, not the parent's current memory or threads.
//!
//! Protocol, over two `O_CLOEXEC` pipes: the parent writes a `u32` argument;
//! the server forks a worker that exits with `work(argument)`, reaps it and
//! answers with the worker's pid and how it ended (checked by
//! [`parse_reply`]). The server exits when the request pipe closes, and
//! dies with the parent (`PR_SET_PDEATHSIG`, armed by [`crate::fork`]).
//!
//! Python: `multiprocessing.set_start_method("forkserver")`, the default
//! start method on Linux since Python 3.14 (for `multiprocessing` and
//! `ProcessPoolExecutor`); code that needs fork must now ask for it.
//!
//! ```no_run
//! use nix::sys::wait::WaitStatus;
//! use examples_multiprocessing::forkserver::ForkServer;
//!
//! // Early in main, before threads and big allocations.
//! let mut server = ForkServer::start(|n| (n % 256) as i32)?;
//! let (pid, status) = server.run(42)?;
//! assert_eq!(status, WaitStatus::Exited(pid, 42));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::{Pid, pipe2};

use crate::fork::{Child, dies_with_parent, fork};

/// A forkserver process and the pipes to talk to it. Dropping it closes the
/// request pipe, gives the server a second to exit, then kills and reaps it.
#[derive(Debug)]
pub struct ForkServer {
    requests: Option<File>,
    replies: File,
    server: Child,
}

impl ForkServer {
    /// Forks the server now; it runs `work` in a fresh fork of itself for
    /// every request. Must be called while this process is single-threaded.
    pub fn start(work: fn(u32) -> i32) -> io::Result<Self> {
        let (request_rx, request_tx) = pipe2(OFlag::O_CLOEXEC)?;
        let (reply_rx, reply_tx) = pipe2(OFlag::O_CLOEXEC)?;
        let parent_ends = [request_tx.as_raw_fd(), reply_rx.as_raw_fd()];
        // The server dies with the parent (`fork` arms `PR_SET_PDEATHSIG`).
        let server = fork(dies_with_parent(|| {
            // The parent was single-threaded: the server may run any code.
            for fd in parent_ends {
                // SAFETY: closes the server's copies of the parent's ends
                // (so it sees EOF when the parent closes its end); the
                // `OwnedFd`s holding these numbers are never used or
                // dropped in this process, which ends in `_exit`.
                unsafe { libc::close(fd) };
            }
            match serve(work, File::from(request_rx), File::from(reply_tx)) {
                Ok(()) => 0,
                Err(_) => 1,
            }
        }))?;
        Ok(Self {
            requests: Some(File::from(request_tx)),
            replies: File::from(reply_rx),
            server,
        })
    }

    /// The server's pid.
    pub fn pid(&self) -> Pid {
        self.server.pid()
    }

    /// Has the server fork a worker that runs `work(argument)`; returns the
    /// worker's pid and exact wait status once the server has reaped it.
    ///
    /// If the server has died, this is an error (`UnexpectedEof`), or, in a
    /// process that keeps `SIGPIPE` at its default action (as the lesson
    /// programs do, for quiet `| head`), the write to its closed pipe ends
    /// this process too. A server only dies if someone kills it.
    pub fn run(&mut self, argument: u32) -> io::Result<(Pid, WaitStatus)> {
        let requests = self.requests.as_mut().ok_or(io::ErrorKind::BrokenPipe)?;
        requests.write_all(&argument.to_le_bytes())?;
        let mut reply = [0_u8; 9];
        self.replies.read_exact(&mut reply)?;
        parse_reply(reply)
    }
}

/// Decodes the server's 9-byte reply: the worker's pid (4 bytes), 0 for an
/// exit code or 1 for a signal, and the code or signal (4 bytes). A reply
/// that cannot be from a live server (a pid below 1, an unknown kind, an
/// exit code outside 0-255, no such signal) is an `InvalidData` error that
/// says which.
///
/// ```
/// use examples_multiprocessing::forkserver::parse_reply;
///
/// let mut reply = [0_u8; 9];
/// reply[0..4].copy_from_slice(&42_i32.to_le_bytes());
/// assert!(parse_reply(reply).is_ok()); // pid 42 exited 0
/// reply[4] = 7;
/// let err = parse_reply(reply).unwrap_err();
/// assert!(err.to_string().contains("kind 7"), "{err}");
/// ```
pub fn parse_reply(reply: [u8; 9]) -> io::Result<(Pid, WaitStatus)> {
    let word =
        |at: usize| i32::from_le_bytes([reply[at], reply[at + 1], reply[at + 2], reply[at + 3]]);
    let (raw_pid, value) = (word(0), word(5));
    let bad = |what: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("forkserver reply: {what}"),
        )
    };
    if raw_pid < 1 {
        return Err(bad(format!("pid {raw_pid}")));
    }
    let pid = Pid::from_raw(raw_pid);
    let status = match reply[4] {
        0 if (0..=255).contains(&value) => WaitStatus::Exited(pid, value),
        0 => return Err(bad(format!("exit code {value}"))),
        1 => match Signal::try_from(value) {
            Ok(signal) => WaitStatus::Signaled(pid, signal, false),
            Err(_) => return Err(bad(format!("signal {value}"))),
        },
        kind => return Err(bad(format!("kind {kind} (0 exit, 1 signal)"))),
    };
    Ok((pid, status))
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        drop(self.requests.take()); // EOF: the server's loop ends
        let _ = self.server.wait_timeout(Duration::from_secs(1));
        // `self.server`'s own Drop kills and reaps it if it is still there.
    }
}

/// The server loop: one worker per request, reaped before the reply.
fn serve(work: fn(u32) -> i32, mut requests: File, mut replies: File) -> io::Result<()> {
    let mut request = [0_u8; 4];
    loop {
        match requests.read_exact(&mut request) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            other => other?,
        }
        let argument = u32::from_le_bytes(request);
        // The server is single-threaded, so the worker may run any code.
        let mut worker = fork(dies_with_parent(|| work(argument))).map_err(io::Error::other)?;
        let (kind, value) = match worker.wait()? {
            WaitStatus::Exited(_, code) => (0_u8, code),
            WaitStatus::Signaled(_, signal, _) => (1, signal as i32),
            other => return Err(io::Error::other(format!("unexpected status {other:?}"))),
        };
        let mut reply = [0_u8; 9];
        reply[0..4].copy_from_slice(&worker.pid().as_raw().to_le_bytes());
        reply[4] = kind;
        reply[5..9].copy_from_slice(&value.to_le_bytes());
        replies.write_all(&reply)?;
    }
}
