//! A checked message stream from a forked producer to its parent, over a
//! [`Ring`] or a pipe, timed (the timing harness itself is
//! [`crate::measure`]).
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

use super::{Consumer, Ring, RingError};
use crate::child::{self, Forked};
use crate::measure::cpu_time;

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
    /// Messages the consumer received and verified (sequence number,
    /// length and checksum), the untimed first one included.
    pub received: u64,
    /// Messages timed (the first one only starts the clock).
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
/// and to the order of words. The lanes run in AVX2 registers where the CPU
/// has them (about 2.5x the scalar rate: a 64 KiB message in ~0.6 us
/// instead of ~1.5 us), else in plain registers; the same sums either way.
pub fn checksum(bytes: &[u8]) -> u64 {
    let (a, b) = lane_sums_here(bytes);
    let mut h = bytes.len() as u64;
    for (i, &x) in bytes[bytes.len() / 32 * 32..].iter().enumerate() {
        h = h.wrapping_add((x as u64) << (i % 8 * 8)).rotate_left(7);
    }
    for lane in 0..4 {
        h = (h ^ a[lane]).wrapping_mul(0x100_0000_01B3).rotate_left(23);
        h = (h ^ b[lane]).wrapping_mul(0x100_0000_01B3).rotate_left(23);
    }
    h
}

/// [`lane_sums`] compiled for the best the CPU offers.
fn lane_sums_here(bytes: &[u8]) -> ([u64; 4], [u64; 4]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: this CPU has AVX2 (just checked, a cached lookup).
        return unsafe { lane_sums_avx2(bytes) };
    }
    lane_sums(bytes)
}

/// [`lane_sums`] vectorised with AVX2 (one 256-bit register per sum).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn lane_sums_avx2(bytes: &[u8]) -> ([u64; 4], [u64; 4]) {
    lane_sums(bytes)
}

/// The running sums of the checksum over the whole 32-byte blocks of
/// `bytes`: per 64-bit lane the sum of its words (`a`) and the sum of those
/// sums (`b`, which weights each word by its position).
#[inline(always)]
fn lane_sums(bytes: &[u8]) -> ([u64; 4], [u64; 4]) {
    let (mut a, mut b) = ([0u64; 4], [0u64; 4]);
    for block in bytes.chunks_exact(32) {
        for lane in 0..4 {
            let word = u64::from_le_bytes(block[lane * 8..lane * 8 + 8].try_into().expect("8"));
            a[lane] = a[lane].wrapping_add(word);
            b[lane] = b[lane].wrapping_add(a[lane]);
        }
    }
    (a, b)
}

/// Forks a child that runs `produce` and exits 0 if it returned `Ok`, 1 on
/// an error and [`child::PANICKED`] on a panic; it dies with its parent.
pub(super) fn spawn_producer(produce: impl FnOnce() -> io::Result<()>) -> io::Result<Forked> {
    child::fork(|| i32::from(produce().is_err()))
}

/// Waits for the producer and turns anything but exit 0 into an error.
pub(super) fn join(mut producer: Forked) -> Result<(), StreamError> {
    match producer.wait()? {
        WaitStatus::Exited(_, 0) => Ok(()),
        status => Err(StreamError::Producer(format!("{status:?}"))),
    }
}

/// Receives `count` messages with `next`, verifying each, timing from the
/// first to the last.
pub(super) fn consume(
    count: u64,
    len: usize,
    mut next: impl FnMut(&mut Vec<u8>) -> Result<(), String>,
) -> Result<Transfer, StreamError> {
    let mut buf = Vec::with_capacity(len);
    let mut start = Instant::now();
    let mut received = 0;
    for seq in 0..count {
        next(&mut buf).map_err(|why| StreamError::Short {
            received: seq,
            expected: count,
            why,
        })?;
        verify(&buf, seq, len)?;
        received += 1;
        if seq == 0 {
            start = Instant::now();
        }
    }
    Ok(Transfer {
        received,
        messages: count - 1,
        bytes: (count - 1) * len as u64,
        elapsed: start.elapsed(),
        cpu: Duration::ZERO,
    })
}

/// Sends `count` messages of `len` bytes from a forked child to this
/// process through a ring of `capacity` bytes; verifies and times them.
///
/// Forks, so the calling process must be single-threaded (else an error,
/// see [`child::fork`]).
pub fn over_ring(count: u64, len: usize, capacity: usize) -> Result<Transfer, StreamError> {
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
    let mut child = spawn_producer(produce)?;
    let mut rx = ring.consumer().map_err(io::Error::other)?;
    let transfer = consume(count, len, |buf| recv_watching(&mut rx, buf, &mut child))?;
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

/// The like-for-like baseline of [`over_ring`]: everything the stream's
/// two processes do but the crossing, done by one thread. It stamps and
/// sends each of the same `count` messages into a ring of the same
/// `capacity` (the same shared mapping, the same copy in) and at once
/// receives it (the same copy out) and verifies it with the same
/// [`consume`] as the stream's consumer: the same passes over the same
/// bytes, on one core, nothing moving between caches or processes. A ring
/// stream at 1x this rate does on two cores what one core does alone.
pub fn over_one_thread(count: u64, len: usize, capacity: usize) -> Result<Transfer, StreamError> {
    let count = count.max(2);
    let cpu = cpu_time();
    let ring = Ring::new(capacity)?;
    let mut tx = ring.producer().map_err(io::Error::other)?;
    let mut rx = ring.consumer().map_err(io::Error::other)?;
    let mut messages = Messages::new(len);
    let mut seq = 0;
    let transfer = consume(count, len, |buf| {
        tx.send(messages.get(seq)).map_err(|e| e.to_string())?;
        seq += 1;
        // Just sent: there without waiting.
        rx.recv_timeout(buf, Duration::ZERO)
            .map(drop)
            .map_err(|e| e.to_string())
    })?;
    Ok(Transfer {
        cpu: cpu_time().saturating_sub(cpu),
        ..transfer
    })
}

/// The `memcpy` figure beside [`over_ring`], copy in only: one thread
/// stamps the same `count` messages of `len` bytes (the same four prepared
/// bodies) and copies each once into the next `len` bytes of a buffer of
/// the ring's capacity, starting over at its front when a message does not
/// fit. The producer's share of the stream alone: no copy out, no
/// verification, nothing crossing; what writing these messages costs at the
/// least, not what the stream does (that is [`over_one_thread`]). Nothing
/// is received, so `received` is 0; timed, like a stream, from the first
/// message to the last.
pub fn over_memcpy(count: u64, len: usize, capacity: usize) -> Result<Transfer, StreamError> {
    let count = count.max(2);
    let cpu = cpu_time();
    let cap = super::rounded_capacity(capacity);
    if len > cap {
        let why = format!("a {len}-byte message does not fit in {cap} bytes");
        return Err(io::Error::new(io::ErrorKind::InvalidInput, why).into());
    }
    let mut messages = Messages::new(len);
    let mut buf = vec![0u8; cap];
    let mut start = Instant::now();
    let mut at = 0;
    for seq in 0..count {
        if at + len > cap {
            at = 0;
        }
        buf[at..at + len].copy_from_slice(messages.get(seq));
        std::hint::black_box(&mut buf);
        at += len;
        if seq == 0 {
            start = Instant::now();
        }
    }
    Ok(Transfer {
        received: 0,
        messages: count - 1,
        bytes: (count - 1) * len as u64,
        elapsed: start.elapsed(),
        cpu: cpu_time().saturating_sub(cpu),
    })
}

/// Receives the next message from `child`'s ring. A producer killed by a
/// signal never closes the ring: wait in short slices and look at the child
/// in between, for at most [`STALL`].
pub(super) fn recv_watching(
    rx: &mut Consumer,
    buf: &mut Vec<u8>,
    child: &mut Forked,
) -> Result<(), String> {
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
}

/// The same stream as [`over_ring`] through a pipe: the child writes each
/// message (with its length in front) in one `write(2)`, as a ring send
/// publishes each message at once; the parent reads through a 64 KiB
/// `BufReader`.
///
/// Forks, so the calling process must be single-threaded (else an error,
/// see [`child::fork`]).
pub fn over_pipe(count: u64, len: usize) -> Result<Transfer, StreamError> {
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
    let child = spawn_producer(produce)?;
    drop(writer); // the parent's copy: EOF comes when the child's closes
    let mut reader = BufReader::with_capacity(64 * 1024, std::fs::File::from(read_end));
    let transfer = consume(count, len, |buf| read_frame(&mut reader, buf, len))?;
    join(child)?;
    Ok(Transfer {
        cpu: cpu_time().saturating_sub(cpu),
        ..transfer
    })
}

/// Reads one pipe frame, `[len: u64][payload]`, into `buf`; a length
/// other than `expected` (what this stream sends) is an error naming it,
/// before any payload is read or memory reserved for it.
pub fn read_frame(from: &mut impl Read, buf: &mut Vec<u8>, expected: usize) -> Result<(), String> {
    let mut header = [0u8; 8];
    from.read_exact(&mut header)
        .map_err(|e| format!("frame header: {e}"))?;
    let n = u64::from_le_bytes(header);
    if n != expected as u64 {
        return Err(format!("frame length {n}, expected {expected}"));
    }
    buf.resize(expected, 0);
    from.read_exact(buf)
        .map_err(|e| format!("frame payload: {e}"))
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
    fn a_garbage_frame_length_is_an_error_naming_it() {
        let mut buf = Vec::new();
        let mut frame = 64u64.to_le_bytes().to_vec();
        frame.extend_from_slice(&[7u8; 64]);
        read_frame(&mut frame.as_slice(), &mut buf, 64).unwrap();
        assert_eq!(buf, [7u8; 64]);
        let garbage = u64::MAX.to_le_bytes();
        let err = read_frame(&mut garbage.as_slice(), &mut buf, 64).unwrap_err();
        assert_eq!(err, format!("frame length {}, expected 64", u64::MAX));
        let short = read_frame(&mut [1u8, 2].as_slice(), &mut buf, 64).unwrap_err();
        assert!(short.starts_with("frame header: "), "{short}");
    }

    #[test]
    fn checksum_is_the_same_on_every_code_path() {
        let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 7919 % 251) as u8).collect();
        for len in [0, 1, 31, 32, 33, 100, 999] {
            assert_eq!(lane_sums_here(&bytes[..len]), lane_sums(&bytes[..len]));
        }
        // The value the scalar code has always given (so streams verify
        // between builds with and without AVX2).
        assert_eq!(checksum(&bytes[..100]), 0xb250_8318_c8b4_e308);
    }

    #[test]
    fn one_thread_baseline_verifies_every_message() {
        // Wraps around a small ring many times.
        let t = over_one_thread(500, 1000, 4096).unwrap();
        assert_eq!((t.received, t.messages, t.bytes), (500, 499, 499 * 1000));
        let too_big = over_one_thread(5, 8192, 4096).unwrap_err();
        assert!(
            matches!(too_big, StreamError::Short { received: 0, .. }),
            "{too_big}"
        );
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
