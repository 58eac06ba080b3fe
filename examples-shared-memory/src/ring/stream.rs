//! A checked message stream from a forked producer to its parent, over a
//! [`Ring`] or a pipe, timed; and the `memcpy` bandwidth to compare with.
//!
//! Every message is `[sequence: u64][body][check: u64]`: the body is one of
//! a few fixed random patterns, the check a checksum of the body mixed with
//! the sequence number. The consumer verifies both for every message, so a
//! lost, duplicated, reordered, torn or corrupted message is an error
//! naming its index. The producer stamps the sequence and check into a
//! prepared buffer, so it does not spend the measured time generating data.
//!
//! The clock runs from the first message received to the last, so `fork`
//! and the child's start-up are not counted; rates are over `count - 1`
//! messages.

use std::io::{self, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::wait::WaitStatus;

use super::{Ring, RingError};
use crate::child::{self, Forked};

/// Exit code of `spsc-ring` when every message arrived intact but the ring
/// did not cost less CPU per small message than the pipe (1 is kept for
/// lost or damaged messages and other errors).
pub const SPEED_CLAIM_MISSED: i32 = 3;

/// Shortest message: room for the sequence number and the check.
pub const MIN_MESSAGE: usize = 16;
/// How long the consumer waits for the next message before it declares the
/// producer stuck, kills it and reports an error.
pub const STALL: Duration = Duration::from_secs(20);

/// What went wrong in a stream.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Message `index` had the wrong sequence number, length or checksum.
    #[error("message {index}: {what}")]
    Corrupt {
        /// Position in the stream (0-based).
        index: u64,
        /// What did not match.
        what: String,
    },
    /// The stream ended or stalled early.
    #[error("after {received} of {expected} messages: {why}")]
    Short {
        /// Messages received intact.
        received: u64,
        /// Messages sent.
        expected: u64,
        /// Closed, timeout, or the producer's exit status.
        why: String,
    },
    /// The producer process failed.
    #[error("producer process: {0}")]
    Producer(String),
    /// A system call failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<Errno> for StreamError {
    fn from(e: Errno) -> Self {
        StreamError::Io(e.into())
    }
}

/// Messages and bytes received over a measured time.
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    /// Messages counted (the first one only starts the clock).
    pub messages: u64,
    /// Payload bytes counted.
    pub bytes: u64,
    /// From the first message to the last.
    pub elapsed: Duration,
    /// CPU time (user + system) of both processes over the whole stream,
    /// fork and exit included: unlike `elapsed`, it does not grow when the
    /// machine is busy and the processes wait for a CPU.
    pub cpu: Duration,
}

impl Transfer {
    /// Messages per second.
    pub fn messages_per_sec(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Payload bytes per second.
    pub fn bytes_per_sec(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// CPU time per message, both sides together, in nanoseconds.
    pub fn cpu_ns_per_message(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e9 / (self.messages + 1) as f64
    }
}

/// User + system CPU time of this process plus its reaped children.
fn cpu_time() -> Duration {
    let mut total = Duration::ZERO;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        // SAFETY: rusage is plain data; getrusage fills it.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a live, writable rusage.
        if unsafe { libc::getrusage(who, &mut ru) } == 0 {
            for tv in [ru.ru_utime, ru.ru_stime] {
                total += Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000);
            }
        }
    }
    total
}

/// `"  7539389 msg/s       483 MB/s"`: rates, aligned for a table.
impl std::fmt::Display for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (m, b) = (self.messages_per_sec(), self.bytes_per_sec() / 1e6);
        let c = self.cpu_ns_per_message();
        write!(f, "{m:>12.0} msg/s {b:>9.0} MB/s {c:>9.0} ns cpu/msg")
    }
}

/// The prepared messages of one stream: `len` bytes each, `>= MIN_MESSAGE`.
#[derive(Debug, Clone)]
pub struct Messages {
    templates: Vec<(Vec<u8>, u64)>,
}

impl Messages {
    /// Four random bodies of a `len`-byte message (`len >= MIN_MESSAGE`).
    pub fn new(len: usize) -> Self {
        assert!(len >= MIN_MESSAGE, "messages carry at least 16 bytes");
        let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ len as u64;
        let templates = (0..4)
            .map(|_| {
                let mut msg: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        state as u8
                    })
                    .collect();
                msg[..8].fill(0);
                let sum = checksum(&msg[8..len - 8]);
                (msg, sum)
            })
            .collect();
        Self { templates }
    }

    /// Message `seq`, stamped into one of the templates.
    pub fn get(&mut self, seq: u64) -> &[u8] {
        let (msg, sum) = &mut self.templates[(seq % 4) as usize];
        let len = msg.len();
        msg[..8].copy_from_slice(&seq.to_le_bytes());
        msg[len - 8..].copy_from_slice(&(*sum ^ mix(seq)).to_le_bytes());
        msg
    }
}

/// Checks that `msg` is message number `seq` of `len` bytes, intact.
pub fn verify(msg: &[u8], seq: u64, len: usize) -> Result<(), StreamError> {
    let corrupt = |what: String| StreamError::Corrupt { index: seq, what };
    if msg.len() != len {
        return Err(corrupt(format!("{} bytes, expected {len}", msg.len())));
    }
    let got = u64::from_le_bytes(msg[..8].try_into().expect("8 bytes"));
    if got != seq {
        return Err(corrupt(format!("sequence number {got}")));
    }
    let check = u64::from_le_bytes(msg[len - 8..].try_into().expect("8 bytes"));
    if check != checksum(&msg[8..len - 8]) ^ mix(seq) {
        return Err(corrupt("checksum mismatch".into()));
    }
    Ok(())
}

fn mix(seq: u64) -> u64 {
    seq.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
}

/// A Fletcher-style checksum over four 64-bit lanes: sensitive to every bit
/// and to the order of words, and fast enough (it vectorises) not to
/// dominate a 64 KiB message.
pub fn checksum(bytes: &[u8]) -> u64 {
    let (mut a, mut b) = ([0u64; 4], [0u64; 4]);
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for lane in 0..4 {
            let word = u64::from_le_bytes(block[lane * 8..lane * 8 + 8].try_into().expect("8"));
            a[lane] = a[lane].wrapping_add(word);
            b[lane] = b[lane].wrapping_add(a[lane]);
        }
    }
    let mut h = bytes.len() as u64;
    for (i, &x) in blocks.remainder().iter().enumerate() {
        h = h.wrapping_add((x as u64) << (i % 8 * 8)).rotate_left(7);
    }
    for lane in 0..4 {
        h = (h ^ a[lane]).wrapping_mul(0x100_0000_01B3).rotate_left(23);
        h = (h ^ b[lane]).wrapping_mul(0x100_0000_01B3).rotate_left(23);
    }
    h
}

/// Forks a child that runs `produce` and exits 0 if it returned `Ok`, 1 on
/// an error and [`child::PANICKED`] on a panic; it dies with its parent.
///
/// # Safety
/// The calling process must be single-threaded (see [`child::fork`]).
unsafe fn spawn_producer(produce: impl FnOnce() -> io::Result<()>) -> io::Result<Forked> {
    // SAFETY: forwarded from our caller: single-threaded.
    unsafe { child::fork(|| i32::from(produce().is_err())) }
}

/// Waits for the producer and turns anything but exit 0 into an error.
fn join(mut producer: Forked) -> Result<(), StreamError> {
    match producer.wait()? {
        WaitStatus::Exited(_, 0) => Ok(()),
        status => Err(StreamError::Producer(format!("{status:?}"))),
    }
}

/// Receives `count` messages with `next`, verifying each, timing from the
/// first to the last.
fn consume(
    count: u64,
    len: usize,
    mut next: impl FnMut(&mut Vec<u8>) -> Result<(), String>,
) -> Result<Transfer, StreamError> {
    let mut buf = Vec::with_capacity(len);
    let mut start = Instant::now();
    for seq in 0..count {
        next(&mut buf).map_err(|why| StreamError::Short {
            received: seq,
            expected: count,
            why,
        })?;
        verify(&buf, seq, len)?;
        if seq == 0 {
            start = Instant::now();
        }
    }
    Ok(Transfer {
        messages: count - 1,
        bytes: (count - 1) * len as u64,
        elapsed: start.elapsed(),
        cpu: Duration::ZERO,
    })
}

/// Sends `count` messages of `len` bytes from a forked child to this
/// process through a ring of `capacity` bytes; verifies and times them.
///
/// # Safety
/// The calling process must be single-threaded (it forks).
pub unsafe fn over_ring(count: u64, len: usize, capacity: usize) -> Result<Transfer, StreamError> {
    let count = count.max(2);
    let cpu = cpu_time();
    let ring = Ring::new(capacity)?;
    let mut messages = Messages::new(len);
    let produce = || {
        let mut tx = ring.producer().map_err(io::Error::other)?;
        for seq in 0..count {
            tx.send(messages.get(seq)).map_err(io::Error::other)?;
        }
        Ok(())
    };
    // SAFETY: forwarded from our caller: single-threaded.
    let mut child = unsafe { spawn_producer(produce) }?;
    let mut rx = ring.consumer().map_err(io::Error::other)?;
    // A producer killed by a signal never closes the ring: wait in short
    // slices and look at the child in between.
    let transfer = consume(count, len, |buf| {
        let slice = Duration::from_millis(100);
        for _ in 0..STALL.as_millis() / slice.as_millis() {
            match rx.recv_timeout(buf, slice) {
                Ok(_) => return Ok(()),
                Err(RingError::Timeout) => {}
                Err(e) => return Err(e.to_string()),
            }
            if let Ok(Some(status)) = child.try_wait() {
                // It may have published a last message just before it died.
                return match rx.recv_timeout(buf, Duration::ZERO) {
                    Ok(_) => Ok(()),
                    Err(_) => Err(format!("the producer ended: {status:?}")),
                };
            }
        }
        Err(format!("nothing for {STALL:?}"))
    })?;
    if let Ok(n) = rx.recv_timeout(&mut Vec::new(), STALL) {
        return Err(StreamError::Corrupt {
            index: count,
            what: format!("unexpected extra message of {n} bytes"),
        });
    }
    join(child)?;
    Ok(Transfer {
        cpu: cpu_time().saturating_sub(cpu),
        ..transfer
    })
}

/// The same stream as [`over_ring`] through a pipe: the child writes each
/// message (with its length in front) in one `write(2)`, as a ring send
/// publishes each message at once; the parent reads through a 64 KiB
/// `BufReader`.
///
/// # Safety
/// The calling process must be single-threaded (it forks).
pub unsafe fn over_pipe(count: u64, len: usize) -> Result<Transfer, StreamError> {
    let count = count.max(2);
    let cpu = cpu_time();
    let (read_end, write_end): (OwnedFd, OwnedFd) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let mut messages = Messages::new(len);
    let mut record = Vec::with_capacity(8 + len);
    let mut writer = Some(std::fs::File::from(write_end));
    let produce = || {
        let mut writer = writer.take().expect("child writes once");
        for seq in 0..count {
            record.clear();
            record.extend_from_slice(&(len as u64).to_le_bytes());
            record.extend_from_slice(messages.get(seq));
            writer.write_all(&record)?;
        }
        Ok(())
    };
    // SAFETY: forwarded from our caller: single-threaded.
    let child = unsafe { spawn_producer(produce) }?;
    drop(writer); // the parent's copy: EOF comes when the child's closes
    let mut reader = BufReader::with_capacity(64 * 1024, std::fs::File::from(read_end));
    let transfer = consume(count, len, |buf| {
        let mut header = [0u8; 8];
        reader.read_exact(&mut header).map_err(|e| e.to_string())?;
        let n = u64::from_le_bytes(header) as usize;
        if n > len {
            return Err(format!("length header {n}"));
        }
        buf.resize(n, 0);
        reader.read_exact(buf).map_err(|e| e.to_string())
    })?;
    join(child)?;
    Ok(Transfer {
        cpu: cpu_time().saturating_sub(cpu),
        ..transfer
    })
}

/// Runs `measure` `runs` times and keeps the fastest transfer: on a busy
/// machine a run can only be slowed down (a process preempted), never sped
/// up, so the best run is the one nearest to what the mechanism costs.
/// Any failed run is the error.
pub fn best_of(
    runs: usize,
    mut measure: impl FnMut() -> Result<Transfer, StreamError>,
) -> Result<Transfer, StreamError> {
    let mut best = measure()?;
    for _ in 1..runs {
        let t = measure()?;
        if t.elapsed < best.elapsed {
            best = t;
        }
    }
    Ok(best)
}

/// Single-thread `memcpy` bandwidth (bytes copied per second, best of 5)
/// between two buffers of `bytes` bytes: choose more than the last-level
/// cache to measure memory, not cache. (For copies this large glibc's
/// `memcpy` may switch to non-temporal stores that bypass the cache: this
/// is what one big copy costs, not what a cache-resident one does.)
pub fn memcpy_bandwidth(bytes: usize) -> f64 {
    let src = vec![0x5Au8; bytes];
    let mut dst = vec![0u8; bytes];
    dst.copy_from_slice(&src); // fault the pages in
    let best = (0..5)
        .map(|_| {
            let t = Instant::now();
            dst.copy_from_slice(std::hint::black_box(&src));
            std::hint::black_box(&mut dst);
            t.elapsed()
        })
        .min()
        .unwrap_or(Duration::MAX);
    bytes as f64 / best.as_secs_f64().max(1e-9)
}

/// Pins this process (and the children it forks from now on) to one CPU,
/// the first it may run on; returns that CPU's number.
pub fn pin_to_one_cpu() -> io::Result<usize> {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a live cpu_set_t of `size` bytes for the kernel to fill.
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let cpu = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET only reads the set, within CPU_SETSIZE.
        .find(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .ok_or_else(|| io::Error::other("no CPU in the affinity mask"))?;
    // SAFETY: plain data again.
    let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu < CPU_SETSIZE`; CPU_SET writes inside `one`.
    unsafe { libc::CPU_SET(cpu, &mut one) };
    // SAFETY: the kernel only reads `one`, `size` bytes.
    if unsafe { libc::sched_setaffinity(0, size, &one) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_verify_and_damage_is_caught() {
        for len in [16, 64, 100, 65536] {
            let mut m = Messages::new(len);
            for seq in 0..10 {
                verify(m.get(seq), seq, len).unwrap();
            }
            let mut bad = m.get(3).to_vec();
            assert!(verify(&bad, 4, len).is_err(), "wrong sequence");
            bad[len / 2] ^= 1;
            if len > 16 {
                assert!(verify(&bad, 3, len).is_err(), "flipped bit");
            }
            assert!(verify(&bad[..len - 1], 3, len).is_err(), "short");
        }
    }

    #[test]
    fn checksum_sees_swapped_words() {
        let mut a = vec![0u8; 64];
        a[0] = 1;
        let mut b = vec![0u8; 64];
        b[32] = 1;
        assert_ne!(checksum(&a), checksum(&b));
    }
}
