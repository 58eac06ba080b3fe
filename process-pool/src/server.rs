//! The fork server: a single-threaded process forked at build that forks
//! every worker (Python's `forkserver` start method).
//!
//! `fork` copies only the calling thread, with every lock the other threads
//! held still held. A pool that forked replacements from the program would
//! have to refuse once the program starts a thread. So the pool forks one
//! server while the program is still single-threaded, and every worker,
//! first or replacement, is a fork of that server, which never runs a
//! second thread.
//!
//! Parent and server talk over a `SOCK_SEQPACKET` socket pair, one message
//! per record. The parent sends `[worker index: u32]` with the worker's two
//! pipe ends attached (`SCM_RIGHTS`); the server forks and answers
//! `[1, pid: i32]` (a negative pid is `-errno`). Workers are the server's
//! children, so the server reaps them (woken by a `signalfd`) and reports
//! each end as `[2, pid: i32, 0 exited | 1 signalled, code or signal: i32]`.
//! A record of any other shape is an error for the pool, never a panic.
//!
//! The server dies with the pool's thread (`PR_SET_PDEATHSIG`), its workers
//! die with the server, and it exits when the parent closes its socket.

use std::collections::HashMap;
use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid};

use crate::Death;
use crate::options::EXIT_PROTOCOL;
use crate::recovery::{POOL_FDS, reap};

/// How long the parent waits for the server to answer a request.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// What the server is asked to do in a new worker: run worker `wi` on
/// these pipe ends, with these inherited descriptors to close, as a child
/// of `server`. It ends in `_exit`; the server `_exit`s with its result if
/// it ever returns.
pub(crate) type WorkerBody<'a> = dyn Fn(usize, OwnedFd, OwnedFd, &[RawFd], Pid) -> i32 + 'a;

/// The parent's side of the fork server.
pub(crate) struct ForkServer {
    pid: Pid,
    sock: Option<OwnedFd>,
    /// Workers whose end the server reported, not yet asked for.
    ended: HashMap<i32, Death>,
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

impl ForkServer {
    /// Forks the server. The caller has checked that this process is
    /// single-threaded (or accepted the risk); `workers` bounds the index
    /// a request may name.
    pub fn start(workers: usize, body: &WorkerBody<'_>) -> io::Result<Self> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        crate::recovery::register(&[ours.as_raw_fd()]);
        let parent = getpid();
        let registry = POOL_FDS.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the pool is built from a single-threaded process (checked
        // by the caller unless `allow_threads` accepted the risk), so the
        // child is a full copy. It never returns: `serve` ends in `_exit`.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                for &fd in registry.iter() {
                    // SAFETY: pool-side descriptors inherited from the
                    // parent (other pools', and `ours`); nothing here owns
                    // them, and the parent's `OwnedFd`s never drop here.
                    unsafe { libc::close(fd) };
                }
                let code = serve(parent, theirs, workers, body);
                // SAFETY: ends the server without the parent's destructors.
                unsafe { libc::_exit(code) }
            }
            Ok(ForkResult::Parent { child }) => Ok(ForkServer {
                pid: child,
                sock: Some(ours),
                ended: HashMap::new(),
            }),
            Err(e) => {
                drop(registry);
                let mut ours = Some(ours);
                crate::recovery::close(&mut ours);
                Err(e.into())
            }
        }
    }

    /// Asks for worker `wi` on these pipe ends; returns its pid.
    pub fn spawn(&mut self, wi: usize, task_r: OwnedFd, result_w: OwnedFd) -> io::Result<Pid> {
        let sock = self
            .sock
            .as_ref()
            .ok_or_else(|| bad("fork server stopped"))?;
        let request = (wi as u32).to_le_bytes();
        let fds = [task_r.as_raw_fd(), result_w.as_raw_fd()];
        loop {
            match sendmsg::<()>(
                sock.as_raw_fd(),
                &[IoSlice::new(&request)],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(_) => break,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(io::Error::other(format!("fork server gone: {e}"))),
            }
        }
        drop((task_r, result_w)); // the server holds its copies now
        let deadline = Instant::now() + ANSWER_WITHIN;
        loop {
            match self.next(deadline)? {
                Some(Record::Forked(pid)) if pid > 0 => return Ok(Pid::from_raw(pid)),
                Some(Record::Forked(e)) => {
                    return Err(io::Error::from_raw_os_error(e.checked_neg().unwrap_or(0)));
                }
                Some(Record::Ended(pid, death)) => {
                    self.ended.insert(pid, death);
                }
                None => return Err(bad("fork server did not answer within 5 s")),
            }
        }
    }

    /// How worker `pid` ended, waiting up to `limit` for the report; then
    /// `SIGKILL` and up to 5 s more; `Death::Unknown` if no report comes.
    pub fn ended(&mut self, pid: Pid, limit: Duration) -> Death {
        if let Some(death) = self.wait_end(pid, Instant::now() + limit) {
            return death;
        }
        // Not reported as ended, so not reaped: the pid is still the worker's.
        let _ = signal::kill(pid, Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(5);
        self.wait_end(pid, deadline).unwrap_or(Death::Unknown)
    }

    /// Worker `pid`'s end if the server reports it by `deadline`;
    /// `Death::Unknown` if the server cannot say any more.
    pub fn wait_end(&mut self, pid: Pid, deadline: Instant) -> Option<Death> {
        loop {
            if let Some(death) = self.ended.remove(&pid.as_raw()) {
                return Some(death);
            }
            match self.next(deadline) {
                Ok(Some(Record::Ended(p, death))) => {
                    self.ended.insert(p, death);
                }
                Ok(Some(Record::Forked(_))) | Err(_) => return Some(Death::Unknown),
                Ok(None) => return None,
            }
        }
    }

    /// The next record, or `None` once `deadline` passes. A closed socket
    /// or a record of the wrong shape is an error.
    fn next(&mut self, deadline: Instant) -> io::Result<Option<Record>> {
        let sock = self
            .sock
            .as_ref()
            .ok_or_else(|| bad("fork server stopped"))?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = left.as_millis().min(60_000) as u16 + u16::from(!left.is_zero());
            let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let mut buf = [0u8; 16];
            let n = loop {
                match nix::sys::socket::recv(sock.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                    Err(Errno::EINTR) => continue,
                    other => break other,
                }
            };
            return match n {
                Err(Errno::EAGAIN) => continue,
                Err(e) => Err(e.into()),
                Ok(0) => Err(bad("fork server ended")),
                Ok(n) => Record::parse(&buf[..n]).map(Some),
            };
        }
    }

    /// Closes the socket (the server exits) and reaps the server.
    pub fn stop(&mut self) {
        if self.sock.is_some() {
            crate::recovery::close(&mut self.sock);
            reap(self.pid, Duration::from_secs(1));
        }
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A record from the server.
#[derive(Debug, PartialEq, Eq)]
enum Record {
    Forked(i32),
    Ended(i32, Death),
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Record {
    fn parse(b: &[u8]) -> io::Result<Record> {
        match b {
            [1, ..] if b.len() == 5 => Ok(Record::Forked(i32_at(b, 1))),
            [2, .., kind, _, _, _, _] if b.len() == 10 && i32_at(b, 1) > 0 => {
                let (pid, value) = (i32_at(b, 1), i32_at(b, 6));
                let death = match kind {
                    0 => Death::Exited(value),
                    1 => Death::Signaled(
                        Signal::try_from(value)
                            .map_err(|_| bad(format!("fork server: no signal {value}")))?,
                    ),
                    _ => return Err(bad(format!("fork server: bad record {b:?}"))),
                };
                Ok(Record::Ended(pid, death))
            }
            _ => Err(bad(format!("fork server: bad record {b:?}"))),
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Record::Forked(pid) => [&[1u8][..], &pid.to_le_bytes()].concat(),
            Record::Ended(pid, death) => {
                let (kind, value) = match death {
                    Death::Exited(code) => (0u8, *code),
                    Death::Signaled(sig) => (1, *sig as i32),
                    Death::Unknown => (0, -1),
                };
                [
                    &[2u8][..],
                    &pid.to_le_bytes(),
                    &[kind],
                    &value.to_le_bytes(),
                ]
                .concat()
            }
        }
    }
}

/// The server's loop: fork a worker per request, report every worker's
/// end, exit when the parent's end closes. Returns the exit code.
fn serve(parent: Pid, sock: OwnedFd, workers: usize, body: &WorkerBody<'_>) -> i32 {
    if process_toolkit::die_with_parent(parent).is_err() {
        return process_toolkit::EXIT_PARENT_GONE;
    }
    // SAFETY: installing SIG_IGN / SIG_DFL runs no code of ours. A Ctrl-C
    // or a `kill` to the process group is the parent's to handle: the
    // server ends only with the pool (its socket closes) or its parent
    // (the death signal), never halfway through a shutdown the parent runs.
    // The parent's handlers do not belong here; each worker sets its own.
    unsafe {
        for sig in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
            Signal::SIGPIPE,
        ] {
            let _ = signal::signal(sig, SigHandler::SigIgn);
        }
        let _ = signal::signal(Signal::SIGALRM, SigHandler::SigDfl);
    }
    let mut chld = SigSet::empty();
    chld.add(Signal::SIGCHLD);
    if signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&chld), None).is_err() {
        return EXIT_PROTOCOL;
    }
    let Ok(reaped) = SignalFd::with_flags(&chld, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
    else {
        return EXIT_PROTOCOL;
    };
    let me = getpid();
    let send = |r: Record| {
        let bytes = r.encode();
        loop {
            match nix::sys::socket::send(sock.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL) {
                Err(Errno::EINTR) => continue,
                other => return other.is_ok(),
            }
        }
    };
    loop {
        let mut fds = [
            PollFd::new(sock.as_fd(), PollFlags::POLLIN),
            PollFd::new(reaped.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return EXIT_PROTOCOL,
        }
        while let Ok(Some(_)) = reaped.read_signal() {}
        loop {
            let death = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid, Death::Exited(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid, Death::Signaled(sig)),
                Err(Errno::EINTR) => continue,
                _ => break,
            };
            if !send(Record::Ended(death.0.as_raw(), death.1)) {
                return 0; // the parent is gone
            }
        }
        let mut buf = [0u8; 8];
        let mut space = nix::cmsg_space!([RawFd; 2]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => msg,
            Err(Errno::EAGAIN | Errno::EINTR) => continue,
            Err(_) => return EXIT_PROTOCOL,
        };
        let n = msg.bytes;
        let mut passed: Vec<OwnedFd> = Vec::new();
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    // SAFETY: the kernel just installed these descriptors
                    // in this process for us; nothing else owns them.
                    passed.extend(
                        fds.into_iter()
                            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                    );
                }
            }
        }
        if n == 0 {
            return 0; // the pool closed its end: shut down
        }
        let wi = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if n != 4 || passed.len() != 2 || wi >= workers {
            return EXIT_PROTOCOL;
        }
        let result_w = passed.pop().expect("two");
        let task_r = passed.pop().expect("two");
        let close = [sock.as_raw_fd(), reaped.as_fd().as_raw_fd()];
        // SAFETY: the server runs one thread (it never starts one), so the
        // worker is a full copy; `body` never returns (it ends in `_exit`).
        let answer = match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                let code = body(wi, task_r, result_w, &close, me);
                // SAFETY: ends the worker without running the server's destructors.
                unsafe { libc::_exit(code) }
            }
            Ok(ForkResult::Parent { child }) => child.as_raw(),
            Err(e) => -(e as i32),
        };
        if !send(Record::Forked(answer)) {
            return 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_garbage_is_an_error() {
        for r in [
            Record::Forked(42),
            Record::Forked(-11),
            Record::Ended(7, Death::Exited(3)),
            Record::Ended(8, Death::Signaled(Signal::SIGKILL)),
        ] {
            assert_eq!(Record::parse(&r.encode()).unwrap(), r);
        }
        let garbage: [&[u8]; 5] = [
            &[],
            &[1, 0, 0],
            &[3, 1, 0, 0, 0],
            &[2, 7, 0, 0, 0, 9, 0, 0, 0, 0],
            &[2, 7, 0, 0, 0, 1, 99, 0, 0, 0],
        ];
        for g in garbage {
            assert!(Record::parse(g).is_err(), "{g:?} accepted");
        }
    }
}
