//! Moving messages to a peer: a channel to another thread, or a pipe, a
//! Unix socket or a shared-memory ring
//! ([`examples_shared_memory::ring`]) to another process.
//!
//! Notice: between threads a message is a pointer that changes hands (a
//! `Vec` is moved, its bytes are not copied); between processes every byte
//! crosses the kernel (pipe, socket: two copies) or a shared mapping (one
//! copy). Python: `queue.Queue` between threads against
//! `multiprocessing.Pipe`/`Queue`, which also pickle every message.
//!
//! Where the two processes run is chosen, not left to the scheduler:
//! - [`Transport::Pipe`], [`Transport::UnixSocket`] and [`Transport::Ring`]
//!   run on two cores: the peer is pinned to the second CPU this thread may
//!   run on, and the parent to the first while it runs a batch. Unpinned,
//!   the scheduler tends to leave a pair that hands work back and forth in
//!   short batches on one CPU (it woke the peer there), which is the
//!   one-core case below: `compare` showed the one-core figures in these
//!   rows. Where this thread may run on one CPU only they run unpinned,
//!   and their labels say so.
//! - [`Transport::PipeOneCore`] and [`Transport::RingOneCore`] run the same
//!   peers with both processes pinned to one CPU (a busy machine, a
//!   one-CPU container): a ring side that spun there would burn the time
//!   slice its peer needs, so a ring on one CPU yields the CPU to its peer
//!   at once (and sleeps if that does not help).
//!
//! A [`Peer`] is started once (a thread, or a forked child process that only
//! reads, writes and `_exit`s, so it may be forked from a process that runs
//! other threads) and then driven in batches with [`Peer::run`]:
//! - [`Pattern::Stream`]: send `n` messages, the peer acknowledges the byte
//!   count once at the end (throughput);
//! - [`Pattern::RoundTrip`]: send one message and wait for it to come back,
//!   `n` times (latency).
//!
//! ```
//! use benches::ipc::{Pattern, Peer, Transport};
//! let mut peer = Peer::start(Transport::Crossbeam, Pattern::Stream, 4096)?;
//! assert_eq!(peer.run(10)?, 10 * 4096);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe2};

use examples_shared_memory::child::close_other_fds;
use examples_shared_memory::measure::{OnOneCpu, first_cpu, first_two_cpus, pin_to};
use examples_shared_memory::ring::{Consumer, Producer, Ring, RingError};

/// The message sizes the benches use: 64 B, 4 KiB, 64 KiB, 1 MiB.
pub const SIZES: [usize; 4] = [64, 4 << 10, 64 << 10, 1 << 20];

/// Where the peer is and how bytes reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `crossbeam_channel::bounded` to a thread.
    Crossbeam,
    /// `std::sync::mpsc::sync_channel` to a thread.
    Mpsc,
    /// Two pipes to a forked process, on two cores (unpinned where there
    /// is one CPU only).
    Pipe,
    /// A `socketpair(AF_UNIX, SOCK_STREAM)` to a forked process, on two
    /// cores (unpinned where there is one CPU only).
    UnixSocket,
    /// Two SPSC rings in shared memory
    /// (`examples_shared_memory::ring`) to a forked process, on two cores
    /// (unpinned where there is one CPU only).
    Ring,
    /// [`Transport::Pipe`] with both processes pinned to one CPU (the
    /// parent only while it runs a batch): what a busy machine or a
    /// one-CPU container gives a pair of processes.
    PipeOneCore,
    /// [`Transport::Ring`] with both processes pinned to one CPU.
    RingOneCore,
}

impl Transport {
    /// Every transport, threads first, the one-core pair last.
    pub const ALL: [Transport; 7] = [
        Transport::Crossbeam,
        Transport::Mpsc,
        Transport::Pipe,
        Transport::UnixSocket,
        Transport::Ring,
        Transport::PipeOneCore,
        Transport::RingOneCore,
    ];

    /// A short label for tables and benchmark ids. The two-core rows say
    /// "unpinned" instead where this thread may run on one CPU only.
    pub fn label(self) -> &'static str {
        // Said from `placement`, which pins the pair: apart, or not at all.
        let two = matches!(placement(self), Ok(Some([parent, peer])) if parent != peer);
        match self {
            Transport::Crossbeam => "crossbeam channel (thread)",
            Transport::Mpsc => "std mpsc (thread)",
            Transport::Pipe if two => "pipe (process, two cores)",
            Transport::Pipe => "pipe (process, unpinned)",
            Transport::UnixSocket if two => "unix socket (process, two cores)",
            Transport::UnixSocket => "unix socket (process, unpinned)",
            Transport::Ring if two => "shared-memory ring (process, two cores)",
            Transport::Ring => "shared-memory ring (process, unpinned)",
            Transport::PipeOneCore => "pipe (process, one core)",
            Transport::RingOneCore => "shared-memory ring (process, one core)",
        }
    }
}

/// What a batch measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// `n` messages one way, one acknowledgement at the end.
    Stream,
    /// `n` times: one message there and back.
    RoundTrip,
}

/// Messages in flight on a channel before the sender blocks.
const CHANNEL_CAPACITY: usize = 16;

enum Kind {
    Crossbeam {
        tx: Option<crossbeam_channel::Sender<Vec<u8>>>,
        rx: crossbeam_channel::Receiver<Vec<u8>>,
        thread: Option<JoinHandle<()>>,
    },
    Mpsc {
        tx: Option<mpsc::SyncSender<Vec<u8>>>,
        rx: mpsc::Receiver<Vec<u8>>,
        thread: Option<JoinHandle<()>>,
    },
    Process {
        to: Option<File>,
        from: File,
        child: Pid,
        buf: Vec<u8>,
        cpus: Option<Cpus>,
    },
    Ring {
        to: Producer,
        from: Consumer,
        child: Pid,
        buf: Vec<u8>,
        cpus: Option<Cpus>,
    },
}

/// Where a pinned pair runs: `[parent, peer]`, the same CPU twice for a
/// one-core transport.
type Cpus = [usize; 2];

/// How long the parent waits for a ring peer before it calls it dead (a
/// killed peer never closes its side of a ring).
const RING_TIMEOUT: Duration = Duration::from_secs(20);

/// A running peer for one transport, pattern and message size; stopped and
/// joined (or reaped) on drop.
pub struct Peer {
    size: usize,
    pattern: Pattern,
    kind: Kind,
}

impl Peer {
    /// Starts the peer thread or forks the peer process.
    pub fn start(transport: Transport, pattern: Pattern, size: usize) -> io::Result<Self> {
        if size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "message size 0",
            ));
        }
        let kind = match transport {
            Transport::Crossbeam => {
                let (tx, peer_rx) = crossbeam_channel::bounded::<Vec<u8>>(CHANNEL_CAPACITY);
                let (peer_tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(CHANNEL_CAPACITY);
                let thread = std::thread::spawn(move || {
                    thread_peer(pattern, || peer_rx.recv().ok(), |v| peer_tx.send(v).is_ok())
                });
                Kind::Crossbeam {
                    tx: Some(tx),
                    rx,
                    thread: Some(thread),
                }
            }
            Transport::Mpsc => {
                let (tx, peer_rx) = mpsc::sync_channel::<Vec<u8>>(CHANNEL_CAPACITY);
                let (peer_tx, rx) = mpsc::sync_channel::<Vec<u8>>(CHANNEL_CAPACITY);
                let thread = std::thread::spawn(move || {
                    thread_peer(pattern, || peer_rx.recv().ok(), |v| peer_tx.send(v).is_ok())
                });
                Kind::Mpsc {
                    tx: Some(tx),
                    rx,
                    thread: Some(thread),
                }
            }
            Transport::Pipe | Transport::PipeOneCore => {
                let cpus = placement(transport)?;
                let (down_r, down_w) = pipe2(OFlag::O_CLOEXEC)?;
                let (up_r, up_w) = pipe2(OFlag::O_CLOEXEC)?;
                fork_peer(pattern, size, cpus, [down_w, up_r, down_r, up_w])?
            }
            Transport::UnixSocket => {
                let (mine, theirs) = socketpair(
                    AddressFamily::Unix,
                    SockType::Stream,
                    None,
                    SockFlag::SOCK_CLOEXEC,
                )?;
                let mine2 = mine.try_clone()?;
                let theirs2 = theirs.try_clone()?;
                let cpus = placement(transport)?;
                fork_peer(pattern, size, cpus, [mine, mine2, theirs, theirs2])?
            }
            Transport::Ring | Transport::RingOneCore => {
                fork_ring_peer(pattern, size, placement(transport)?)?
            }
        };
        Ok(Self {
            size,
            pattern,
            kind,
        })
    }

    /// The peer process's pid; `None` for a thread peer.
    pub fn pid(&self) -> Option<u32> {
        match &self.kind {
            Kind::Process { child, .. } | Kind::Ring { child, .. } => Some(child.as_raw() as u32),
            Kind::Crossbeam { .. } | Kind::Mpsc { .. } => None,
        }
    }

    /// Runs one batch of `n` messages (stream) or `n` round trips, and
    /// returns the bytes the peer confirmed: `n * size` when all went well.
    pub fn run(&mut self, n: u64) -> io::Result<u64> {
        let size = self.size;
        // A pinned peer runs on its CPU for good; the parent takes its own
        // (the peer's, on one core; the other one, on two) for the batch.
        let _pinned = match &self.kind {
            Kind::Process {
                cpus: Some([mine, _]),
                ..
            }
            | Kind::Ring {
                cpus: Some([mine, _]),
                ..
            } => Some(OnOneCpu::on(*mine)?),
            _ => None,
        };
        match &mut self.kind {
            Kind::Crossbeam { tx, rx, .. } => {
                let tx = tx.as_ref().ok_or_else(gone)?;
                drive_channel(
                    self.pattern,
                    size,
                    n,
                    |v| tx.send(v).map_err(|_| gone()),
                    || rx.recv().map_err(|_| gone()),
                )
            }
            Kind::Mpsc { tx, rx, .. } => {
                let tx = tx.as_ref().ok_or_else(gone)?;
                drive_channel(
                    self.pattern,
                    size,
                    n,
                    |v| tx.send(v).map_err(|_| gone()),
                    || rx.recv().map_err(|_| gone()),
                )
            }
            Kind::Process { to, from, buf, .. } => {
                let to = to.as_mut().ok_or_else(gone)?;
                to.write_all(&n.to_le_bytes())?;
                match self.pattern {
                    Pattern::Stream => {
                        for i in 0..n {
                            buf.fill(i as u8);
                            to.write_all(buf)?;
                        }
                        let mut ack = [0u8; 8];
                        from.read_exact(&mut ack)?;
                        Ok(u64::from_le_bytes(ack))
                    }
                    Pattern::RoundTrip => {
                        let mut echoed = 0;
                        for i in 0..n {
                            let mark = i as u8;
                            buf[0] = mark;
                            to.write_all(buf)?;
                            from.read_exact(buf)?;
                            if buf[0] == mark {
                                echoed += buf.len() as u64;
                            }
                        }
                        Ok(echoed)
                    }
                }
            }
            Kind::Ring { to, from, buf, .. } => {
                let ring_err = |e: RingError| io::Error::other(format!("ring peer: {e}"));
                to.send(&n.to_le_bytes()).map_err(ring_err)?;
                let mut back = Vec::with_capacity(size.max(8));
                match self.pattern {
                    Pattern::Stream => {
                        for i in 0..n {
                            buf.fill(i as u8);
                            to.send(buf).map_err(ring_err)?;
                        }
                        from.recv_timeout(&mut back, RING_TIMEOUT)
                            .map_err(ring_err)?;
                        let ack: [u8; 8] = back[..]
                            .try_into()
                            .map_err(|_| io::Error::other("bad acknowledgement"))?;
                        Ok(u64::from_le_bytes(ack))
                    }
                    Pattern::RoundTrip => {
                        let mut echoed = 0;
                        for i in 0..n {
                            let mark = i as u8;
                            buf[0] = mark;
                            to.send(buf).map_err(ring_err)?;
                            let len = from
                                .recv_timeout(&mut back, RING_TIMEOUT)
                                .map_err(ring_err)?;
                            if back[0] == mark {
                                echoed += len as u64;
                            }
                        }
                        Ok(echoed)
                    }
                }
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        match &mut self.kind {
            Kind::Crossbeam { tx, thread, .. } => {
                drop(tx.take());
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
            Kind::Mpsc { tx, thread, .. } => {
                drop(tx.take());
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
            Kind::Process { to, child, .. } => {
                if let Some(mut to) = to.take() {
                    let _ = to.write_all(&0u64.to_le_bytes());
                }
                reap(*child, Duration::from_secs(2));
            }
            Kind::Ring { to, child, .. } => {
                let _ = to.send_timeout(&0u64.to_le_bytes(), Duration::from_secs(1));
                reap(*child, Duration::from_secs(2));
            }
        }
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "peer is gone")
}

/// The thread side: echo every message, or count bytes until an empty
/// message and answer with the count.
fn thread_peer(
    pattern: Pattern,
    recv: impl Fn() -> Option<Vec<u8>>,
    send: impl Fn(Vec<u8>) -> bool,
) {
    let mut total = 0u64;
    while let Some(v) = recv() {
        let ok = match pattern {
            Pattern::RoundTrip => send(v),
            Pattern::Stream if v.is_empty() => {
                let ok = send(total.to_le_bytes().to_vec());
                total = 0;
                ok
            }
            Pattern::Stream => {
                // Read the message, as a process peer must.
                total += u64::from(std::hint::black_box(v[v.len() - 1]) == v[0]) * v.len() as u64;
                true
            }
        };
        if !ok {
            return;
        }
    }
}

fn drive_channel(
    pattern: Pattern,
    size: usize,
    n: u64,
    send: impl Fn(Vec<u8>) -> io::Result<()>,
    recv: impl Fn() -> io::Result<Vec<u8>>,
) -> io::Result<u64> {
    match pattern {
        Pattern::Stream => {
            for i in 0..n {
                send(vec![i as u8; size])?;
            }
            send(Vec::new())?;
            let ack = recv()?;
            let ack: [u8; 8] = ack
                .try_into()
                .map_err(|_| io::Error::other("bad acknowledgement"))?;
            Ok(u64::from_le_bytes(ack))
        }
        Pattern::RoundTrip => {
            let mut v = vec![0u8; size];
            let mut echoed = 0;
            for i in 0..n {
                v[0] = i as u8;
                send(v)?;
                v = recv()?;
                if v[0] == i as u8 {
                    echoed += v.len() as u64;
                }
            }
            Ok(echoed)
        }
    }
}

/// Where a process transport's pair runs (`[parent, peer]`): both on the
/// first CPU this thread may run on for a one-core transport; for the
/// others the first and the second, or unpinned (`None`) if there is no
/// second.
fn placement(transport: Transport) -> io::Result<Option<Cpus>> {
    match transport {
        Transport::PipeOneCore | Transport::RingOneCore => first_cpu().map(|c| Some([c, c])),
        _ => first_two_cpus(),
    }
}

/// Forks the peer process, the pair placed on `cpus` if given. Of the descriptors
/// `[mine_w, mine_r, theirs_r, theirs_w]`, `mine_*` stay in the parent,
/// `theirs_*` go to the child (and are closed in the parent).
fn fork_peer(
    pattern: Pattern,
    size: usize,
    cpus: Option<Cpus>,
    [mine_w, mine_r, theirs_r, theirs_w]: [OwnedFd; 4],
) -> io::Result<Kind> {
    // Allocated before fork: the child must not call malloc, which another
    // thread of the parent may have held locked at the moment of fork.
    let mut child_buf = vec![0u8; size];
    let parent = std::process::id();
    let (rfd, wfd) = (theirs_r.as_raw_fd(), theirs_w.as_raw_fd());
    // SAFETY: the child only makes raw system calls (prctl, getppid,
    // signal, close_range, read, write) on memory allocated before the fork, then `_exit`s; all
    // are async-signal-safe, so threads running in the parent cannot leave
    // it blocked on a lock.
    match unsafe { fork() }? {
        ForkResult::Child => {
            become_peer(parent, cpus.map(|[_, peer]| peer));
            // Keep only our own two ends: the parent's ends (so EOF reaches
            // us when the parent goes away) and every other peer's or
            // pool's descriptors the parent held at fork go. O_CLOEXEC
            // alone would not close them: a peer never calls exec.
            if close_other_fds(&[rfd, wfd]).is_err() {
                // SAFETY: as below.
                unsafe { libc::_exit(1) }
            }
            child_loop(pattern, rfd, wfd, &mut child_buf);
            // SAFETY: `_exit` never returns and runs no destructors or
            // atexit handlers of the parent's copy of the program.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop((theirs_r, theirs_w, child_buf));
            Ok(Kind::Process {
                to: Some(File::from(mine_w)),
                from: File::from(mine_r),
                child,
                buf: vec![0u8; size],
                cpus,
            })
        }
    }
}

/// The first thing a forked peer does: die with `parent` (or end now if it
/// is already gone), leave Ctrl-C to the parent, and move to its one `cpu`
/// if it has one. Only async-signal-safe system calls, so it is safe in a
/// child of a threaded parent.
fn become_peer(parent: u32, cpu: Option<usize>) {
    let parent = nix::unistd::Pid::from_raw(parent as i32);
    // SAFETY: plain system calls on integers and stack memory; `_exit`
    // never returns and runs none of the parent's destructors or atexit
    // handlers.
    unsafe {
        if process_toolkit::die_with_parent(parent).is_err() {
            libc::_exit(0);
        }
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        if cpu.is_some_and(|cpu| pin_to(cpu).is_err()) {
            libc::_exit(1);
        }
    }
}

/// Forks a peer that talks through two rings in shared memory: `down`
/// (parent to child) and `up` (child to parent); the pair placed on `cpus`
/// if given.
fn fork_ring_peer(pattern: Pattern, size: usize, cpus: Option<Cpus>) -> io::Result<Kind> {
    let ring_err = |e: RingError| io::Error::other(format!("ring: {e}"));
    // Room for a few messages of this size (at least 64 KiB).
    let capacity = (4 * (size + 16)).next_power_of_two().max(64 << 10);
    let down = Ring::new(capacity)?;
    let up = Ring::new(capacity)?;
    let to = down.producer().map_err(ring_err)?;
    let from = up.consumer().map_err(ring_err)?;
    // Allocated before fork, with room for any message: `recv` then never
    // allocates in the child.
    let mut child_buf: Vec<u8> = Vec::with_capacity(size.max(8));
    let parent = std::process::id();
    // SAFETY: the child only takes its ring ends (atomics in the shared
    // mapping and an `Arc` clone, no allocation), copies into memory
    // allocated before the fork, makes futex and prctl system calls and
    // `_exit`s: nothing that can block on a lock another parent thread held
    // at the moment of fork.
    match unsafe { fork() }? {
        ForkResult::Child => {
            // Pinned before it takes its ring ends, which then know from the
            // start that they may run on one CPU only. Whether spinning
            // pays is decided per wait from the CPU the parent was last
            // seen on (`ring::wait::Spin::apply`): on one core it cannot,
            // on two it does.
            become_peer(parent, cpus.map(|[_, peer]| peer));
            // The rings are memory: no descriptor of the parent is needed.
            let _ = close_other_fds(&[]);
            if let (Ok(rx), Ok(tx)) = (down.consumer(), up.producer()) {
                ring_child_loop(pattern, rx, tx, &mut child_buf);
            }
            // SAFETY: `_exit` never returns and runs no destructors (the
            // ring ends are not dropped: closing them is the parent's job
            // at shutdown, and freeing memory here could take a malloc
            // lock).
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(child_buf);
            Ok(Kind::Ring {
                to,
                from,
                child,
                buf: vec![0u8; size],
                cpus,
            })
        }
    }
}

fn ring_child_loop(pattern: Pattern, mut rx: Consumer, mut tx: Producer, buf: &mut Vec<u8>) {
    loop {
        if !matches!(rx.recv(buf), Ok(Some(8))) {
            return;
        }
        let mut header = [0u8; 8];
        header.copy_from_slice(buf);
        let n = u64::from_le_bytes(header);
        if n == 0 {
            return;
        }
        match pattern {
            Pattern::Stream => {
                let mut total = 0u64;
                for _ in 0..n {
                    match rx.recv(buf) {
                        Ok(Some(len)) => total += len as u64,
                        Ok(None) | Err(_) => return,
                    }
                }
                if tx.send(&total.to_le_bytes()).is_err() {
                    return;
                }
            }
            Pattern::RoundTrip => {
                for _ in 0..n {
                    if !matches!(rx.recv(buf), Ok(Some(_))) || tx.send(buf).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// The child process: read a batch header `n` (0 or EOF: stop), then
/// stream (`n * size` bytes in, the count out) or echo (`n` messages).
fn child_loop(pattern: Pattern, rfd: RawFd, wfd: RawFd, buf: &mut [u8]) {
    let mut header = [0u8; 8];
    loop {
        if !raw_read_exact(rfd, &mut header) {
            return;
        }
        let n = u64::from_le_bytes(header);
        if n == 0 {
            return;
        }
        match pattern {
            Pattern::Stream => {
                let mut left = n * buf.len() as u64;
                let mut total = 0u64;
                while left > 0 {
                    let want = left.min(buf.len() as u64) as usize;
                    let got = raw_read(rfd, &mut buf[..want]);
                    if got == 0 {
                        return;
                    }
                    total += got as u64;
                    left -= got as u64;
                }
                if !raw_write_all(wfd, &total.to_le_bytes()) {
                    return;
                }
            }
            Pattern::RoundTrip => {
                for _ in 0..n {
                    if !raw_read_exact(rfd, buf) || !raw_write_all(wfd, buf) {
                        return;
                    }
                }
            }
        }
    }
}

/// One `read`, retried on EINTR; 0 on EOF or error.
fn raw_read(fd: RawFd, buf: &mut [u8]) -> usize {
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if r >= 0 {
            return r as usize;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return 0;
        }
    }
}

fn raw_read_exact(fd: RawFd, mut buf: &mut [u8]) -> bool {
    while !buf.is_empty() {
        let got = raw_read(fd, buf);
        if got == 0 {
            return false;
        }
        buf = &mut buf[got..];
    }
    true
}

fn raw_write_all(fd: RawFd, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
        let r = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if r > 0 {
            buf = &buf[r as usize..];
        } else if r == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return false;
        }
    }
    true
}

/// Waits for `child` up to `grace`, then kills and reaps it.
pub(crate) fn reap(child: Pid, grace: Duration) {
    let deadline = Instant::now() + grace;
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(WaitStatus::StillAlive) => {
                let _ = kill(child, Signal::SIGKILL);
                let _ = waitpid(child, None);
                return;
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Process peers fork, which #[test] must not do; the benches and
    // `compare` run them in their own processes.
    #[test]
    fn channels_deliver_every_byte() {
        for t in [Transport::Crossbeam, Transport::Mpsc] {
            for p in [Pattern::Stream, Pattern::RoundTrip] {
                let mut peer = Peer::start(t, p, 100).unwrap();
                assert_eq!(peer.run(20).unwrap(), 2000, "{t:?} {p:?}");
                assert_eq!(peer.run(3).unwrap(), 300, "{t:?} {p:?}");
            }
        }
    }
}
