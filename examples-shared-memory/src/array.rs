//! A large array transformed in place by forked workers, each on its own
//! slice, against the same work done by sending each slice through a pipe
//! and back.
//!
//! Shared memory moves no data: the workers read and write the parent's
//! pages directly, each only its own slice, and the parent reads them only
//! after it has reaped the workers. Pipes copy
//! every byte four times (parent to kernel to worker, and back). Python:
//! `multiprocessing.Array` against `Pool.map` over the same numbers.
//!
//! ```
//! use std::sync::atomic::AtomicU64;
//! use examples_shared_memory::array::{fill, slices, transform_owned, verify};
//!
//! let words: Vec<AtomicU64> = (0..10).map(|_| AtomicU64::new(0)).collect();
//! fill(&words);
//! for range in slices(words.len(), 3) {
//!     // SAFETY: nobody else touches this slice meanwhile.
//!     unsafe { transform_owned(&words[range]) }; // in a forked worker, normally
//! }
//! assert!(verify(&words).is_ok());
//! ```

use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::{fcntl::OFlag, unistd::pipe2};

use crate::child;
use crate::mapping::SharedMapping;
use crate::measure::{cheapest, cpu_time};

/// Largest `--elements` accepted (256 MiB of u64: with 64 workers, about
/// 20 s on 2 busy cores in a debug build).
pub const MAX_ELEMENTS: usize = 1 << 25;

/// The per-element work: cheap (shifts and xors, no calls even in a debug
/// build), so the cost of moving the data shows.
pub fn transform(x: u64) -> u64 {
    x ^ (x >> 7) ^ 0x9E37_79B9_7F4A_7C15
}

/// Applies [`transform`] to a private slice.
pub fn transform_slice(values: &mut [u64]) {
    let mut i = 0;
    while i < values.len() {
        values[i] = transform(values[i]);
        i += 1;
    }
}

/// Sets element `i` to `i`.
pub fn fill(words: &[AtomicU64]) {
    for (i, w) in words.iter().enumerate() {
        w.store(i as u64, Ordering::Relaxed);
    }
}

/// Transforms shared words in place, 4 KiB at a time: copy a chunk out
/// with a plain raw-pointer copy, transform it privately, copy it back.
/// Plain copies are much faster than one atomic access per word, and they
/// are race-free because the caller owns the words for the duration.
///
/// # Safety
///
/// No other process or thread may access `words` until this returns and
/// the caller's owner has synchronised with it (a parent that reaps the
/// worker with `waitpid` has).
pub unsafe fn transform_owned(words: &[AtomicU64]) {
    let mut chunk = [0u64; 512];
    for part in words.chunks(chunk.len()) {
        let (shared, n) = (part.as_ptr().cast_mut().cast::<u64>(), part.len());
        // SAFETY: `part` is valid for n words and AtomicU64 has u64's
        // layout; writing through a pointer from `&AtomicU64` is allowed
        // (interior mutability); the caller guarantees nobody else touches
        // these words meanwhile, so the plain copies race with nothing.
        unsafe { std::ptr::copy_nonoverlapping(shared, chunk.as_mut_ptr(), n) };
        transform_slice(&mut chunk[..n]);
        // SAFETY: as above.
        unsafe { std::ptr::copy_nonoverlapping(chunk.as_ptr(), shared, n) };
    }
}

/// Checks that element `i` is `transform(i)`: every element done once.
pub fn verify(words: &[AtomicU64]) -> Result<(), String> {
    verify_values(words.iter().map(|w| w.load(Ordering::Relaxed)))
}

/// As [`verify`], for a private vector.
pub fn verify_vec(values: &[u64]) -> Result<(), String> {
    verify_values(values.iter().copied())
}

fn verify_values(values: impl Iterator<Item = u64>) -> Result<(), String> {
    for (i, v) in values.enumerate() {
        if v != transform(i as u64) {
            return Err(format!("element {i} is {v:#x}, expected transform({i})"));
        }
    }
    Ok(())
}

/// Splits `len` elements into `parts` contiguous ranges (the first ones get
/// the remainder); empty ranges are left out.
pub fn slices(len: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.max(1);
    let (base, extra) = (len / parts, len % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let end = start + base + usize::from(i < extra);
            let range = start..end;
            start = end;
            range
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// Sends `values` down a pipe (or any writer) as native-endian bytes.
pub fn send(to: &mut impl Write, values: &[u64]) -> io::Result<()> {
    to.write_all(as_bytes(values))
}

/// Fills `values` from a pipe, exactly.
pub fn receive(from: &mut impl Read, values: &mut [u64]) -> io::Result<()> {
    from.read_exact(as_bytes_mut(values))
}

fn as_bytes(values: &[u64]) -> &[u8] {
    // SAFETY: a private slice of u64 (no padding, any byte is valid to read)
    // viewed as its bytes, for the same lifetime.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), size_of_val(values)) }
}

fn as_bytes_mut(values: &mut [u64]) -> &mut [u8] {
    // SAFETY: as above, and every byte pattern is a valid u64, so writing
    // arbitrary bytes through the view is fine; the borrow is exclusive.
    unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast(), size_of_val(values)) }
}

/// The worker's side of the pipe version: receive `len` values, transform
/// them, send them back.
pub fn pipe_worker(from: &mut impl Read, to: &mut impl Write, len: usize) -> io::Result<()> {
    let mut values = vec![0u64; len];
    receive(from, &mut values)?;
    transform_slice(&mut values);
    send(to, &values)
}

/// What a run cost: wall-clock time, and CPU time (user + system) of this
/// process and of the workers it reaped. CPU time is what a loaded machine
/// does not inflate: waiting for a core is not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Elapsed time from the first fork to the last reap.
    pub wall: Duration,
    /// CPU time spent by this process and its reaped workers meanwhile.
    pub cpu: Duration,
}

impl Cost {
    /// The cheaper of two runs, separately for wall and CPU time.
    pub fn min(self, other: Cost) -> Cost {
        Cost {
            wall: self.wall.min(other.wall),
            cpu: self.cpu.min(other.cpu),
        }
    }
}

/// Runs `job` and measures it.
fn measure(job: impl FnOnce() -> io::Result<()>) -> io::Result<Cost> {
    let (start, cpu) = (Instant::now(), cpu_time());
    job()?;
    Ok(Cost {
        wall: start.elapsed(),
        cpu: cpu_time().saturating_sub(cpu),
    })
}

/// Sets `words` to 0, 1, 2, ..., forks one worker per slice that
/// transforms its slice in place, reaps them all (each within `limit`) and
/// checks every element. Returns what it cost from the first fork to the
/// last reap.
///
/// Forks, so the calling process must be single-threaded (else an error;
/// see [`child::fork`]).
pub fn run_in_shared_memory(
    words: &[AtomicU64],
    slices: &[Range<usize>],
    limit: Duration,
) -> io::Result<Cost> {
    fill(words);
    let cost = measure(|| {
        let mut workers = Vec::new();
        for range in slices {
            // SAFETY: only this worker touches its slice until it is reaped.
            let job = || (unsafe { transform_owned(&words[range.clone()]) }, 0).1;
            workers.push(child::fork(job)?);
        }
        workers.into_iter().try_for_each(|w| w.join(limit))
    })?;
    verify(words).map_err(io::Error::other)?;
    Ok(cost)
}

/// The same job through pipes: forks one worker per slice with a pipe each
/// way, sends each slice down, reads the transformed slice back, reaps the
/// workers and checks every element. Returns what it cost from the first
/// fork to the last reap, and the most descriptors a worker held.
///
/// Each worker first closes every descriptor but stdin, stdout, stderr and
/// its own two pipe ends ([`child::close_other_fds`]): the parent's ends of
/// its own pipes and of the pipes of the workers forked before it would
/// otherwise stay open in it for its whole life (`O_CLOEXEC` only acts on
/// `exec`). Then it counts what it holds in `/proc/self/fd`.
///
/// Forks, so the calling process must be single-threaded (else an error;
/// see [`child::fork`]).
pub fn run_through_pipes(
    len: usize,
    slices: &[Range<usize>],
    limit: Duration,
) -> io::Result<(Cost, usize)> {
    let mut data: Vec<u64> = (0..len as u64).collect();
    let held = SharedMapping::new(8 * slices.len().max(1))?;
    let held = held.atomic_u64s();
    let cost = measure(|| {
        let mut workers = Vec::new();
        for (i, range) in slices.iter().enumerate() {
            let ((down_r, down_w), (up_r, up_w)) =
                (pipe2(OFlag::O_CLOEXEC)?, pipe2(OFlag::O_CLOEXEC)?);
            let (mut down_r, mut up_w) = (File::from(down_r), File::from(up_w));
            let job = || {
                if child::close_other_fds(&[down_r.as_raw_fd(), up_w.as_raw_fd()]).is_err() {
                    return 2;
                }
                let fds = child::open_fds(None).map_or(0, |f| f.len());
                held[i].store(fds as u64, Ordering::Relaxed);
                i32::from(pipe_worker(&mut down_r, &mut up_w, range.len()).is_err())
            };
            let worker = child::fork(job)?;
            workers.push((worker, File::from(down_w), File::from(up_r), range.clone()));
        }
        // Each worker reads its whole slice before it writes, so sending all
        // slices first and then reading all results cannot deadlock.
        for (_, down, _, range) in &mut workers {
            send(down, &data[range.clone()])?;
        }
        for (worker, _, mut up, range) in workers {
            receive(&mut up, &mut data[range])?;
            worker.join(limit)?;
        }
        Ok(())
    })?;
    verify_vec(&data).map_err(io::Error::other)?;
    let most = held.iter().map(|h| h.load(Ordering::Relaxed)).max();
    Ok((cost, most.unwrap_or(0) as usize))
}

/// Both ways over the same slices, the cheapest in CPU time of `rounds`
/// runs each (every element checked after every run): `(shared, piped,
/// most descriptors a pipe worker held)`.
pub fn compare(
    words: &[AtomicU64],
    slices: &[Range<usize>],
    rounds: usize,
    limit: Duration,
) -> io::Result<(Cost, Cost, usize)> {
    let shared = cheapest(
        rounds,
        || run_in_shared_memory(words, slices, limit),
        |c| c.cpu,
    )?;
    let run = || run_through_pipes(words.len(), slices, limit);
    let (piped, held) = cheapest(rounds, run, |c| c.0.cpu)?;
    Ok((shared, piped, held))
}

/// Bytes of memory the system says are available (`MemAvailable`), if known.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_everything_once() {
        assert_eq!(slices(10, 3), vec![0..4, 4..7, 7..10]);
        assert_eq!(slices(2, 4), vec![0..1, 1..2]);
        assert!(slices(0, 2).is_empty());
    }

    #[test]
    fn bytes_round_trip_through_a_buffer() {
        let mut buf = Vec::new();
        send(&mut buf, &[1, u64::MAX, 3]).unwrap();
        let mut back = [0u64; 3];
        receive(&mut buf.as_slice(), &mut back).unwrap();
        assert_eq!(back, [1, u64::MAX, 3]);
    }

    #[test]
    fn verify_catches_a_missed_element() {
        let mut v: Vec<u64> = (0..5).map(transform).collect();
        assert!(verify_vec(&v).is_ok());
        v[3] = 3;
        assert!(verify_vec(&v).unwrap_err().contains("element 3"));
    }
}
