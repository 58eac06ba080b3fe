//! A worker's lanes: its tasks and its results as two byte streams in
//! memory shared with the parent, so moving them costs a copy in and a
//! copy out, and no system call. The pipes stay, but carry only
//! doorbells (a byte saying "look again", written only to a side that said
//! it is going to sleep) and end-of-file, which is how each side learns
//! that the other has gone: the parent sleeps in `poll` on every result
//! pipe at once, as before.
//!
//! A [`Lane`] is a single-producer single-consumer ring of bytes (no
//! records: a frame may be pushed in pieces, like a pipe write):
//! - `head` (bytes ever written) and `tail` (bytes ever read) are `u64`s
//!   on their own cache lines; the writer publishes with a `Release` store
//!   of `head`, the reader frees room with one of `tail`.
//! - The bytes move with `ptr::copy_nonoverlapping` through raw pointers:
//!   no reference is ever formed over memory the other process writes.
//! - Every position read from the mapping is checked: a peer that scribbles
//!   on it makes [`Unusable::Corrupt`], never an out-of-bounds copy.
//! - Sleeping: a side raises its flag, then looks at the lane again; the
//!   other side takes the flag down when it sees it, after publishing,
//!   and rings the doorbell (the handshake, model-checked:
//!   `process_toolkit::handshake`). One doorbell per sleep; a stray one only makes the sleeper
//!   look again.
//!
//! All lanes live in one mapping made before the fork server, so every
//! worker, replacements too, inherits it. A lane is reset only for a new
//! worker, after the old one was reaped.

use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use process_toolkit::SharedMapping;
use process_toolkit::handshake::{may_sleep, take_flag};

/// Bytes of one lane: as much as a pipe holds by default.
pub(crate) const LANE_BYTES: usize = 64 << 10;
/// A cache line: each of the lane's five words has one of its own.
const LINE: usize = 64;
/// The lane's words, in this order: head, tail, the reader's and the
/// writer's sleeping flags, and the reader's "closed".
const HEADER: usize = 5 * LINE;
const LANE_SIZE: usize = HEADER + LANE_BYTES;

/// Why a lane cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unusable {
    /// A position read from the lane cannot be right: the other side wrote
    /// garbage over it.
    Corrupt,
    /// The reader said it reads no more ([`Lane::close`]).
    Closed,
}

/// Two lanes per worker slot (tasks, results), in memory shared with every
/// worker.
pub(crate) struct Lanes {
    map: SharedMapping,
}

impl Lanes {
    pub fn new(workers: usize) -> std::io::Result<Self> {
        Ok(Lanes {
            map: SharedMapping::new(workers.max(1) * 2 * LANE_SIZE)?,
        })
    }

    /// Worker `wi`'s task lane (the parent writes, the worker reads).
    pub fn tasks(&self, wi: usize) -> Lane<'_> {
        self.lane(2 * wi)
    }

    /// Worker `wi`'s result lane (the worker writes, the parent reads).
    pub fn results(&self, wi: usize) -> Lane<'_> {
        self.lane(2 * wi + 1)
    }

    fn lane(&self, i: usize) -> Lane<'_> {
        assert!(
            (i + 1) * LANE_SIZE <= self.map.len(),
            "lane {i} out of range"
        );
        // Word `k` of the header starts line `k`.
        let words = &self.map.atomic_u64s()[i * LANE_SIZE / 8..];
        let flags = &self.map.atomic_u32s()[i * LANE_SIZE / 4..];
        let (u64_at, u32_at) = (|k: usize| k * LINE / 8, |k: usize| k * LINE / 4);
        Lane {
            head: &words[u64_at(0)],
            tail: &words[u64_at(1)],
            reader_sleeps: &flags[u32_at(2)],
            writer_sleeps: &flags[u32_at(3)],
            closed: &flags[u32_at(4)],
            // SAFETY: in bounds (checked above): the lane's bytes follow its
            // header inside the mapping, which outlives the returned `Lane`.
            data: unsafe { self.map.as_ptr().add(i * LANE_SIZE + HEADER) },
            _mapping: PhantomData,
        }
    }
}

/// One lane: a ring of [`LANE_BYTES`] bytes and its four words.
#[derive(Clone, Copy)]
pub(crate) struct Lane<'a> {
    head: &'a AtomicU64,
    tail: &'a AtomicU64,
    reader_sleeps: &'a AtomicU32,
    writer_sleeps: &'a AtomicU32,
    closed: &'a AtomicU32,
    data: *mut u8,
    _mapping: PhantomData<&'a SharedMapping>,
}

impl Lane<'_> {
    /// Empties the lane for a new worker (the old one is reaped).
    pub fn reset(&self) {
        for word in [self.head, self.tail] {
            word.store(0, Ordering::SeqCst);
        }
        for flag in [self.reader_sleeps, self.writer_sleeps, self.closed] {
            flag.store(0, Ordering::SeqCst);
        }
    }

    /// `(head, tail)`, checked: the tail is at most a lane behind the head.
    fn positions(&self) -> Result<(u64, u64), Unusable> {
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        match head.checked_sub(tail) {
            Some(used) if used <= LANE_BYTES as u64 => Ok((head, tail)),
            _ => Err(Unusable::Corrupt),
        }
    }

    /// Copies as much of `bytes` as there is room for; how much (0: full).
    /// Only the writer calls it.
    pub fn push(&self, bytes: &[u8]) -> Result<usize, Unusable> {
        if self.closed.load(Ordering::Relaxed) != 0 {
            return Err(Unusable::Closed);
        }
        let (head, tail) = self.positions()?;
        let n = bytes.len().min(LANE_BYTES - (head - tail) as usize);
        let at = (head % LANE_BYTES as u64) as usize;
        let first = n.min(LANE_BYTES - at);
        // SAFETY: `at + first <= LANE_BYTES` and `n - first <= at`, so both
        // copies stay inside the lane's bytes, in the part free to write
        // (between head and tail + LANE_BYTES): the reader does not touch it
        // until the `Release` store of `head` below publishes it.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), self.data.add(at), first);
            ptr::copy_nonoverlapping(bytes.as_ptr().add(first), self.data, n - first);
        }
        self.head.store(head + n as u64, Ordering::Release);
        Ok(n)
    }

    /// Copies as many waiting bytes as fit into `buf`; how many (0: none).
    /// Only the reader calls it.
    pub fn pull(&self, buf: &mut [u8]) -> Result<usize, Unusable> {
        let (head, tail) = self.positions()?;
        let n = buf.len().min((head - tail) as usize);
        let at = (tail % LANE_BYTES as u64) as usize;
        let first = n.min(LANE_BYTES - at);
        // SAFETY: both copies stay inside the lane's bytes, in the part the
        // writer published (the `Acquire` load of `head`) and does not
        // touch again until the `Release` store of `tail` below frees it.
        unsafe {
            ptr::copy_nonoverlapping(self.data.add(at), buf.as_mut_ptr(), first);
            ptr::copy_nonoverlapping(self.data, buf.as_mut_ptr().add(first), n - first);
        }
        self.tail.store(tail + n as u64, Ordering::Release);
        Ok(n)
    }

    /// Whether bytes are waiting (a garbled lane counts: reading says so).
    pub fn readable(&self) -> bool {
        self.positions()
            .ok()
            .is_none_or(|(head, tail)| head != tail)
    }

    /// Whether there is room to write (a garbled lane counts, as above).
    pub fn writable(&self) -> bool {
        self.positions()
            .ok()
            .is_none_or(|(head, tail)| head - tail < LANE_BYTES as u64)
    }

    /// The reader is going to sleep: raises its flag and says whether it
    /// still may (nothing came meanwhile; else the flag is down again).
    pub fn reader_may_sleep(&self) -> bool {
        may_sleep(self.reader_sleeps, || !self.readable())
    }

    /// The writer is going to sleep for room, as [`Lane::reader_may_sleep`].
    pub fn writer_may_sleep(&self) -> bool {
        may_sleep(self.writer_sleeps, || !self.writable())
    }

    /// After writing: whether the reader sleeps and needs its doorbell
    /// (its flag is taken down: one doorbell per sleep).
    pub fn wake_reader(&self) -> bool {
        take_flag(self.reader_sleeps)
    }

    /// After reading: whether the writer sleeps for room, as above.
    pub fn wake_writer(&self) -> bool {
        take_flag(self.writer_sleeps)
    }

    /// The reader reads no more: the writer's next push fails, as a write
    /// to a pipe nobody reads.
    pub fn close(&self) {
        self.closed.store(1, Ordering::SeqCst);
    }

    /// Takes the reader's flag down after its sleep.
    pub fn reader_awake(&self) {
        self.reader_sleeps.store(0, Ordering::SeqCst);
    }

    /// Takes the writer's flag down after its sleep.
    pub fn writer_awake(&self) {
        self.writer_sleeps.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_out_in_order_across_the_wrap() {
        let lanes = Lanes::new(1).unwrap();
        let lane = lanes.tasks(0);
        let mut out = vec![0u8; 40_000];
        for round in 0..10u8 {
            let bytes: Vec<u8> = (0..30_000u32).map(|i| (i as u8) ^ round).collect();
            let mut at = 0;
            while at < bytes.len() {
                at += lane.push(&bytes[at..]).unwrap();
                let n = lane.pull(&mut out).unwrap();
                assert_eq!(&out[..n], &bytes[at - n..at]);
            }
        }
        assert!(!lane.readable());
    }

    #[test]
    fn a_full_lane_takes_nothing_more() {
        let lanes = Lanes::new(2).unwrap();
        let lane = lanes.results(1);
        assert_eq!(lane.push(&vec![1; LANE_BYTES + 5]), Ok(LANE_BYTES));
        assert!(!lane.writable());
        assert_eq!(lane.push(&[1]), Ok(0));
        let mut buf = [0; 10];
        assert_eq!(lane.pull(&mut buf), Ok(10));
        assert_eq!(lane.push(&[2; 20]), Ok(10));
        lane.close();
        assert_eq!(lane.push(&[3]), Err(Unusable::Closed));
        lane.reset();
        assert!(!lane.readable() && lane.writable());
        assert_eq!(lane.push(&[3]), Ok(1));
    }

    #[test]
    fn garbled_positions_are_an_error_not_a_copy() {
        let lanes = Lanes::new(1).unwrap();
        let lane = lanes.tasks(0);
        lane.tail.store(5, Ordering::SeqCst); // past the head
        assert_eq!(lane.pull(&mut [0; 8]), Err(Unusable::Corrupt));
        assert_eq!(lane.push(&[0; 8]), Err(Unusable::Corrupt));
        lane.head.store(5 + LANE_BYTES as u64 + 1, Ordering::SeqCst); // over full
        assert_eq!(lane.pull(&mut [0; 8]), Err(Unusable::Corrupt));
        assert!(lane.readable() && lane.writable());
    }

    #[test]
    fn a_sleeper_is_woken_once_and_only_when_it_sleeps() {
        let lanes = Lanes::new(1).unwrap();
        let lane = lanes.tasks(0);
        assert!(!lane.wake_reader(), "nobody sleeps yet");
        assert!(lane.reader_may_sleep());
        lane.push(b"x").unwrap();
        assert!(lane.wake_reader());
        assert!(!lane.wake_reader(), "one doorbell per sleep");
        // Bytes already there: the reader must not sleep.
        assert!(!lane.reader_may_sleep());
        assert!(!lane.wake_reader());
        lane.pull(&mut [0; 1]).unwrap();
        lane.push(&vec![0; LANE_BYTES]).unwrap();
        assert!(lane.writer_may_sleep());
        lane.pull(&mut [0; 1]).unwrap();
        assert!(lane.wake_writer());
    }
}
