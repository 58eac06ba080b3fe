//! A single-producer single-consumer ring buffer of variable-size messages
//! in memory shared between two processes.
//!
//! Create the [`Ring`] before `fork`; afterwards the producing process takes
//! its [`Producer`] with [`Ring::producer`] and the consuming one its
//! [`Consumer`] with [`Ring::consumer`] (one of each, checked in the shared
//! header, so a second producer anywhere is an error). Take them after
//! `fork`: a handle taken before would exist in both processes, and the copy
//! dropped first would close the ring. In one process the two handles also
//! work from two threads.
//!
//! How it works:
//! - `head` (bytes ever written) and `tail` (bytes ever read) are `u64`
//!   counters on separate cache lines, so the two sides do not bounce one
//!   line between their cores. Each side keeps a private copy of the other's
//!   counter and rereads it only when the ring looks full (or empty).
//! - A message is a record `[len: u64][payload, padded to 8 bytes]`. The
//!   header never straddles the end (everything is 8-aligned); a payload that
//!   does is copied in two pieces. Payloads move with
//!   `ptr::copy_nonoverlapping` through raw pointers: no `&[u8]` is ever
//!   formed over the shared bytes. The producer publishes a record with a
//!   `Release` store of `head`, the consumer reads `head` with `Acquire`
//!   before it copies (and the same, mirrored, for `tail` and the space).
//! - A side that finds the ring empty (or full) spins briefly, then sleeps on
//!   a futex word in the mapping, shared between processes (no
//!   `FUTEX_PRIVATE_FLAG`). It first raises a "sleeping" flag; the other side
//!   issues `FUTEX_WAKE` only when it sees the flag, so the fast path makes no
//!   system call (the handshake and its loom model: [`wait`]). Sleeping is
//!   what makes the ring work when both processes share one core: a
//!   spinning side would burn the time slice the other side needs. So a
//!   process that may run on one CPU only does not spin at all
//!   ([`wait::Spin`]): it yields the CPU a few times (`sched_yield`), which
//!   runs a peer that waits for this CPU at once, and only then sleeps.
//!   With both sides on one core a round trip then costs two yields and two
//!   context switches, and no futex call; a pipe's costs two writes, two
//!   reads and two switches. Each side also notes, in the header, the CPU
//!   it last sent or received on (read through rseq, no system call); a
//!   side whose peer was last seen on its own CPU yields in the same way
//!   even if it may run on more, as when the scheduler puts both sides on
//!   one CPU while other work keeps the rest busy.
//! - Dropping a handle closes its side: a consumer drains what is left and
//!   then [`Consumer::recv`] returns `Ok(None)`; a producer's sends fail with
//!   [`RingError::Closed`].
//! - Every value read from the shared memory is checked before it is used:
//!   a position that moved backwards, past the other side or off the 8-byte
//!   grid, or a record length longer than what was published, is
//!   [`RingError::Corrupt`], naming the value; nothing is copied then. A
//!   buggy or hostile peer can make the stream fail, never this process
//!   crash or read outside the ring. A process killed by a signal never closes its
//!   side, so use [`Consumer::recv_timeout`] / [`Producer::send_timeout`]
//!   when the peer may die.
//!
//! Between two processes (the `spsc-ring` program and `ring::stream` do
//! this with checks and timing):
//!
//! ```no_run
//! use std::time::Duration;
//! use examples_shared_memory::ring::Ring;
//! use nix::unistd::{ForkResult, fork};
//!
//! let ring = Ring::new(1 << 20)?; // before fork: both processes map it
//! // SAFETY: this process has not started any thread.
//! match unsafe { fork() }? {
//!     ForkResult::Child => {
//!         let mut tx = ring.producer()?;
//!         for i in 0..100u32 {
//!             tx.send(&i.to_le_bytes())?;
//!         }
//!         drop(tx); // closes the ring: the consumer sees the end
//!         // SAFETY: leave the child without running the parent's cleanup.
//!         unsafe { libc::_exit(0) }
//!     }
//!     ForkResult::Parent { child } => {
//!         let mut rx = ring.consumer()?;
//!         let mut buf = Vec::new();
//!         // A timeout, in case the child dies without closing.
//!         while let Ok(_) = rx.recv_timeout(&mut buf, Duration::from_secs(5)) {
//!             println!("{buf:?}");
//!         }
//!         nix::sys::wait::waitpid(child, None)?;
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Python has no shared-memory queue: `multiprocessing.Queue` pickles into a
//! pipe; the nearest is a hand-made ring over `shared_memory.SharedMemory`.
//!
//! ```
//! use examples_shared_memory::ring::Ring;
//!
//! let ring = Ring::new(4096)?;
//! let (mut tx, mut rx) = (ring.producer()?, ring.consumer()?);
//! std::thread::scope(|s| {
//!     s.spawn(move || {
//!         for i in 0..1000u32 {
//!             tx.send(&i.to_le_bytes()).unwrap();
//!         }
//!     }); // tx dropped here: the ring is closed
//!     let mut buf = Vec::new();
//!     let mut expected = 0u32;
//!     while let Some(len) = rx.recv(&mut buf).unwrap() {
//!         assert_eq!(len, 4);
//!         assert_eq!(u32::from_le_bytes(buf[..4].try_into().unwrap()), expected);
//!         expected += 1;
//!     }
//!     assert_eq!(expected, 1000);
//! });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod round_trip;
pub mod stream;
pub mod wait;

use std::io;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::mapping::SharedMapping;
use wait::{Spin, Waited, Waiter};

/// Byte offsets of the shared header; each group sits on its own 128-byte
/// block (two cache lines, as adjacent-line prefetch pairs them).
const HEAD: usize = 0;
const TAIL: usize = 128;
/// Consumer waits for data: `[futex sequence, consumer sleeping]`.
const DATA_WAIT: usize = 256;
/// Producer waits for space: `[futex sequence, producer sleeping]`.
const SPACE_WAIT: usize = 384;
/// `[producer closed, consumer closed, producer taken, consumer taken]`.
const STATE: usize = 512;
/// The CPU the producer last sent from, as a [`wait::cpu_tag`].
const PRODUCER_CPU: usize = 640;
/// The CPU the consumer last received on.
const CONSUMER_CPU: usize = 768;
/// The data region starts on its own page.
const DATA: usize = 4096;
/// Bytes of the length header in front of each payload.
const HEADER: usize = 8;

/// Smallest capacity: one page.
pub const MIN_CAPACITY: usize = 4096;
/// Largest capacity: 1 GiB.
pub const MAX_CAPACITY: usize = 1 << 30;

/// What can go wrong on a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// The other side dropped its handle (for a consumer: and the ring is
    /// drained).
    #[error("the other side closed the ring")]
    Closed,
    /// The message cannot fit even in an empty ring.
    #[error("a message of {len} bytes does not fit; this ring takes at most {max}")]
    TooLarge {
        /// Length of the refused message.
        len: usize,
        /// [`Ring::max_message`].
        max: usize,
    },
    /// Nothing arrived (or no space came free) before the timeout.
    #[error("timed out")]
    Timeout,
    /// [`Ring::producer`] or [`Ring::consumer`] was already called, in this
    /// process or another one.
    #[error("the ring already has a {0}")]
    RoleTaken(&'static str),
    /// A value the other process wrote into the shared memory is impossible
    /// (a buggy or hostile peer, or a stray write): nothing was copied.
    #[error("corrupt ring: {what} {value} ({why})")]
    Corrupt {
        /// Which value: `head position`, `tail position`, `record length`.
        what: &'static str,
        /// What the shared memory held.
        value: u64,
        /// Why it cannot be right.
        why: &'static str,
    },
}

/// Checks a position the other side published against ours: counters only
/// grow, in steps of whole 8-byte records, and never more than `cap` apart
/// (`ahead` is the one that should lead: head for the producer's counter).
fn check_positions(
    what: &'static str,
    value: u64,
    ahead: u64,
    behind: u64,
    cap: usize,
) -> Result<(), RingError> {
    let corrupt = |why| Err(RingError::Corrupt { what, value, why });
    if value % 8 != 0 {
        return corrupt("not a multiple of 8");
    }
    match ahead.checked_sub(behind) {
        None => corrupt("the tail is past the head"),
        Some(used) if used > cap as u64 => corrupt("more in use than the ring holds"),
        Some(_) => Ok(()),
    }
}

/// A ring buffer in an anonymous shared mapping; create it before `fork`,
/// then take one [`Producer`] and one [`Consumer`].
#[derive(Debug)]
pub struct Ring {
    map: Arc<SharedMapping>,
    capacity: usize,
}

impl Ring {
    /// A ring with room for `capacity` bytes of records (rounded up to a
    /// power of two, at least [`MIN_CAPACITY`]); more than [`MAX_CAPACITY`]
    /// is an `InvalidInput` error.
    pub fn new(capacity: usize) -> io::Result<Self> {
        if capacity > MAX_CAPACITY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ring capacity {capacity} exceeds {MAX_CAPACITY} bytes"),
            ));
        }
        let capacity = rounded_capacity(capacity);
        let map = SharedMapping::new(DATA + capacity)?;
        Ok(Self {
            map: Arc::new(map),
            capacity,
        })
    }

    /// Bytes in the data region (record headers and padding included).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The longest message [`Producer::send`] accepts.
    pub fn max_message(&self) -> usize {
        self.capacity - HEADER
    }

    /// The producing end. Only one producer exists per ring, across all
    /// processes sharing it; a second call is [`RingError::RoleTaken`].
    pub fn producer(&self) -> Result<Producer, RingError> {
        self.take(0, "producer")?;
        Ok(Producer {
            shared: Shared::new(self),
            head: 0,
            cached_tail: 0,
            spin: Spin::new(),
        })
    }

    /// The consuming end; one per ring, like [`Ring::producer`].
    pub fn consumer(&self) -> Result<Consumer, RingError> {
        self.take(1, "consumer")?;
        Ok(Consumer {
            shared: Shared::new(self),
            tail: 0,
            cached_head: 0,
            spin: Spin::new(),
        })
    }

    fn take(&self, role: usize, name: &'static str) -> Result<(), RingError> {
        let taken = &self.map.atomic_u32s()[STATE / 4 + 2 + role];
        match taken.swap(1, Ordering::AcqRel) {
            0 => Ok(()),
            _ => Err(RingError::RoleTaken(name)),
        }
    }
}

/// What both handles hold: the mapping and the views of its header.
#[derive(Debug)]
struct Shared {
    /// Keeps the mapping alive as long as this handle.
    _map: Arc<SharedMapping>,
    /// `map.as_ptr()`, kept so the hot path is plain pointer arithmetic.
    base: *mut u8,
    capacity: usize,
}

// SAFETY: `base` points into the mapping that `_map` keeps alive; everything
// reached through it is atomics or bytes guarded by the ring protocol, which
// works the same from any thread.
unsafe impl Send for Shared {}

impl Shared {
    fn new(ring: &Ring) -> Self {
        Self {
            _map: Arc::clone(&ring.map),
            base: ring.map.as_ptr(),
            capacity: ring.capacity,
        }
    }

    fn u64_at(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset % 8 == 0 && offset < DATA);
        // SAFETY: `offset` is one of the header constants: 8-aligned inside
        // the first page of the page-aligned mapping, which lives as long as
        // `self`; the word is only ever accessed atomically, by any process.
        unsafe { AtomicU64::from_ptr(self.base.add(offset).cast()) }
    }

    fn u32_at(&self, offset: usize) -> &AtomicU32 {
        debug_assert!(offset % 4 == 0 && offset < DATA);
        // SAFETY: as in `u64_at`, for a 4-aligned header word.
        unsafe { AtomicU32::from_ptr(self.base.add(offset).cast()) }
    }

    fn head(&self) -> &AtomicU64 {
        self.u64_at(HEAD)
    }

    fn tail(&self) -> &AtomicU64 {
        self.u64_at(TAIL)
    }

    fn producer_closed(&self) -> &AtomicU32 {
        self.u32_at(STATE)
    }

    fn consumer_closed(&self) -> &AtomicU32 {
        self.u32_at(STATE + 4)
    }

    fn data_wait(&self) -> Waiter<'_, AtomicU32> {
        Waiter::new(self.u32_at(DATA_WAIT), self.u32_at(DATA_WAIT + 4))
    }

    fn space_wait(&self) -> Waiter<'_, AtomicU32> {
        Waiter::new(self.u32_at(SPACE_WAIT), self.u32_at(SPACE_WAIT + 4))
    }

    /// Publishes the CPU this side runs on in `slot` (a plain load when it
    /// did not change, so the line stays shared with the reader).
    fn note_cpu(&self, slot: usize) {
        let (word, cpu) = (self.u32_at(slot), wait::cpu_tag());
        if word.load(Ordering::Relaxed) != cpu {
            word.store(cpu, Ordering::Relaxed);
        }
    }

    /// The other side's last published CPU (0: not known yet).
    fn cpu_in(&self, slot: usize) -> u32 {
        self.u32_at(slot).load(Ordering::Relaxed)
    }

    /// Pointer to the data byte at counter value `pos`.
    fn data(&self, pos: u64) -> *mut u8 {
        let offset = pos as usize & (self.capacity - 1);
        // SAFETY: `offset < capacity` and the mapping is `DATA + capacity`
        // bytes long, so the result stays inside it.
        unsafe { self.base.add(DATA + offset) }
    }

    /// Marks one side closed and wakes both sides, whoever sleeps.
    fn close(&self, flag: &AtomicU32) {
        flag.store(1, Ordering::SeqCst);
        self.data_wait().wake_always();
        self.space_wait().wake_always();
    }
}

/// The capacity [`Ring::new`] makes of a requested one: a power of two, at
/// least [`MIN_CAPACITY`].
pub(crate) fn rounded_capacity(capacity: usize) -> usize {
    capacity.max(MIN_CAPACITY).next_power_of_two()
}

/// Bytes a message of `len` bytes takes in the ring.
fn record_len(len: usize) -> usize {
    HEADER + len.next_multiple_of(8)
}

/// The sending end of a [`Ring`]. Dropping it closes the ring for sending.
#[derive(Debug)]
pub struct Producer {
    shared: Shared,
    head: u64,
    cached_tail: u64,
    spin: Spin,
}

impl Producer {
    /// Sends one message, sleeping while the ring is full.
    ///
    /// Fails with [`RingError::TooLarge`] for a message longer than
    /// [`Ring::max_message`] and with [`RingError::Closed`] once the
    /// consumer is gone. If the consumer may die without closing (killed by
    /// a signal), prefer [`Producer::send_timeout`].
    pub fn send(&mut self, msg: &[u8]) -> Result<(), RingError> {
        self.send_until(msg, None)
    }

    /// [`Producer::send`] that gives up with [`RingError::Timeout`] when no
    /// space came free within `timeout` (`Duration::ZERO`: try once).
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), RingError> {
        self.send_until(msg, Some(timeout))
    }

    fn send_until(&mut self, msg: &[u8], timeout: Option<Duration>) -> Result<(), RingError> {
        let cap = self.shared.capacity;
        let need = record_len(msg.len());
        if need > cap {
            return Err(RingError::TooLarge {
                len: msg.len(),
                max: cap - HEADER,
            });
        }
        if self.shared.consumer_closed().load(Ordering::Acquire) != 0 {
            return Err(RingError::Closed);
        }
        if (cap as u64) - (self.head - self.cached_tail) < need as u64 {
            let (head, shared) = (self.head, &self.shared);
            let mut tail = self.cached_tail;
            let fits = |tail: &mut u64| {
                // Acquire: the consumer's copies out of this space happen
                // before we overwrite it.
                *tail = shared.tail().load(Ordering::Acquire);
                // A corrupt tail ends the wait too; it is reported below.
                head.checked_sub(*tail)
                    .is_none_or(|used| used > cap as u64 || cap as u64 - used >= need as u64)
                    || shared.consumer_closed().load(Ordering::Acquire) != 0
            };
            let waited = self
                .spin
                .apply(shared.space_wait(), shared.cpu_in(CONSUMER_CPU))
                .wait_or_sleep(|| fits(&mut tail), timeout);
            self.spin.waited(waited);
            let ok = waited != Waited::TimedOut;
            check_positions("tail position", tail, head, tail, cap)?;
            if tail < self.cached_tail {
                let why = "it moved backwards";
                return Err(RingError::Corrupt {
                    what: "tail position",
                    value: tail,
                    why,
                });
            }
            self.cached_tail = tail;
            if self.shared.consumer_closed().load(Ordering::Acquire) != 0 {
                return Err(RingError::Closed);
            }
            if !ok {
                return Err(RingError::Timeout);
            }
        }
        self.write_record(msg);
        self.head += need as u64;
        // Release: the record's bytes are visible before the new head.
        self.shared.head().store(self.head, Ordering::Release);
        self.shared.data_wait().wake();
        self.shared.note_cpu(PRODUCER_CPU);
        Ok(())
    }

    fn write_record(&self, msg: &[u8]) {
        let cap = self.shared.capacity;
        let header = self.shared.data(self.head);
        let start = (self.head as usize + HEADER) & (cap - 1);
        let first = msg.len().min(cap - start);
        // SAFETY: the space from `head` to `head + record_len` is free (the
        // consumer has read past it, checked above with Acquire), so nobody
        // reads or writes these bytes until we publish `head`. The header is
        // 8-aligned and never wraps; the payload is copied in at most two
        // pieces, each inside the data region; `msg` is local memory and
        // cannot overlap the mapping's data region we write.
        unsafe {
            header.cast::<u64>().write(msg.len() as u64);
            ptr::copy_nonoverlapping(msg.as_ptr(), self.shared.data(start as u64), first);
            ptr::copy_nonoverlapping(
                msg.as_ptr().add(first),
                self.shared.data(0),
                msg.len() - first,
            );
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.shared.close(self.shared.producer_closed());
    }
}

/// The receiving end of a [`Ring`]. Dropping it closes the ring: the
/// producer's next send fails with [`RingError::Closed`].
#[derive(Debug)]
pub struct Consumer {
    shared: Shared,
    tail: u64,
    cached_head: u64,
    spin: Spin,
}

impl Consumer {
    /// Receives the next message into `buf` (replacing its contents) and
    /// returns its length; sleeps while the ring is empty. `Ok(None)` once
    /// the producer has closed and every message was received;
    /// [`RingError::Corrupt`] if the shared memory holds an impossible
    /// position or length.
    ///
    /// A producer killed by a signal never closes: if that can happen, use
    /// [`Consumer::recv_timeout`].
    pub fn recv(&mut self, buf: &mut Vec<u8>) -> Result<Option<usize>, RingError> {
        match self.recv_until(buf, None) {
            Ok(len) => Ok(Some(len)),
            Err(RingError::Closed) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`Consumer::recv`] that gives up with [`RingError::Timeout`] when no
    /// message came within `timeout` (`Duration::ZERO`: try once); returns
    /// [`RingError::Closed`] where `recv` returns `Ok(None)`.
    pub fn recv_timeout(
        &mut self,
        buf: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<usize, RingError> {
        self.recv_until(buf, Some(timeout))
    }

    fn recv_until(
        &mut self,
        buf: &mut Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<usize, RingError> {
        if self.cached_head == self.tail {
            let (tail, shared) = (self.tail, &self.shared);
            let mut head = self.cached_head;
            let mut closed = false;
            let ready = |head: &mut u64, closed: &mut bool| {
                // Read `closed` first: if it was set, every record the
                // producer wrote is published in the `head` read after it.
                *closed = shared.producer_closed().load(Ordering::Acquire) != 0;
                // Acquire: the record's bytes are visible once we see head.
                *head = shared.head().load(Ordering::Acquire);
                *head != tail || *closed
            };
            let waited = self
                .spin
                .apply(shared.data_wait(), shared.cpu_in(PRODUCER_CPU))
                .wait_or_sleep(|| ready(&mut head, &mut closed), timeout);
            self.spin.waited(waited);
            let ok = waited != Waited::TimedOut;
            check_positions("head position", head, head, tail, self.shared.capacity)?;
            self.cached_head = head;
            if head == tail {
                return Err(if closed {
                    RingError::Closed
                } else {
                    debug_assert!(!ok);
                    RingError::Timeout
                });
            }
        }
        let len = self.read_record(buf)?;
        self.tail += record_len(len) as u64;
        // Release: our copies out of the record happen before the producer
        // may reuse the space.
        self.shared.tail().store(self.tail, Ordering::Release);
        self.shared.space_wait().wake();
        self.shared.note_cpu(CONSUMER_CPU);
        Ok(len)
    }

    fn read_record(&self, buf: &mut Vec<u8>) -> Result<usize, RingError> {
        let cap = self.shared.capacity;
        // SAFETY: `tail < head` (Acquire-loaded and checked), so a complete
        // record the producer published starts here, and the producer does
        // not touch it until we advance `tail`. The header is 8-aligned in
        // the region (`tail` only grows by whole records).
        let raw = unsafe { self.shared.data(self.tail).cast::<u64>().read() };
        // A record never reaches past what the producer published; anything
        // else is a corrupted header, and copying would read unpublished bytes.
        let published = self.cached_head - self.tail;
        let fits = raw <= (cap - HEADER) as u64 && record_len(raw as usize) as u64 <= published;
        if !fits {
            let why = "longer than what the producer published";
            return Err(RingError::Corrupt {
                what: "record length",
                value: raw,
                why,
            });
        }
        let len = raw as usize;
        let start = (self.tail as usize + HEADER) & (cap - 1);
        let first = len.min(cap - start);
        buf.clear();
        buf.reserve(len);
        // SAFETY: as above, the `len` payload bytes (in at most two pieces
        // inside the data region) are published and stable; `buf` has room
        // for `len` bytes and is local memory, disjoint from the mapping;
        // all `len` bytes are initialised before `set_len`.
        unsafe {
            ptr::copy_nonoverlapping(self.shared.data(start as u64), buf.as_mut_ptr(), first);
            ptr::copy_nonoverlapping(
                self.shared.data(0),
                buf.as_mut_ptr().add(first),
                len - first,
            );
            buf.set_len(len);
        }
        Ok(len)
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.shared.close(self.shared.consumer_closed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_rounds_up_and_is_bounded() {
        assert_eq!(Ring::new(1).unwrap().capacity(), MIN_CAPACITY);
        assert_eq!(Ring::new(5000).unwrap().capacity(), 8192);
        assert!(Ring::new(MAX_CAPACITY + 1).is_err());
    }

    #[test]
    fn one_producer_and_one_consumer_only() {
        let ring = Ring::new(4096).unwrap();
        let _tx = ring.producer().unwrap();
        let _rx = ring.consumer().unwrap();
        assert_eq!(
            ring.producer().unwrap_err(),
            RingError::RoleTaken("producer")
        );
        assert_eq!(
            ring.consumer().unwrap_err(),
            RingError::RoleTaken("consumer")
        );
    }

    #[test]
    fn too_large_full_empty_and_closed() {
        let ring = Ring::new(4096).unwrap();
        let (mut tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
        let big = vec![1u8; ring.max_message() + 1];
        assert!(matches!(tx.send(&big), Err(RingError::TooLarge { .. })));
        let mut buf = Vec::new();
        assert_eq!(
            rx.recv_timeout(&mut buf, Duration::ZERO),
            Err(RingError::Timeout)
        );
        // A maximal message fills the ring exactly.
        tx.send(&big[1..]).unwrap();
        assert_eq!(
            tx.send_timeout(b"x", Duration::ZERO),
            Err(RingError::Timeout)
        );
        assert_eq!(rx.recv(&mut buf), Ok(Some(ring.max_message())));
        tx.send(b"last").unwrap();
        drop(tx);
        assert_eq!(rx.recv(&mut buf), Ok(Some(4)));
        assert_eq!(buf, b"last");
        assert_eq!(rx.recv(&mut buf), Ok(None));
    }

    #[test]
    fn send_after_consumer_dropped_is_closed() {
        let ring = Ring::new(4096).unwrap();
        let mut tx = ring.producer().unwrap();
        drop(ring.consumer().unwrap());
        assert_eq!(tx.send(b"hi"), Err(RingError::Closed));
    }

    #[test]
    fn messages_wrap_around_intact_between_threads() {
        let ring = Ring::new(4096).unwrap();
        let (mut tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
        let msg = |i: usize| -> Vec<u8> { (0..(i * 37) % 1500).map(|j| (i + j) as u8).collect() };
        std::thread::scope(|s| {
            s.spawn(move || {
                for i in 0..5000 {
                    tx.send(&msg(i)).unwrap();
                }
            });
            let mut buf = Vec::new();
            for i in 0..5000 {
                assert_eq!(rx.recv(&mut buf), Ok(Some(msg(i).len())));
                assert_eq!(buf, msg(i), "message {i}");
            }
            assert_eq!(rx.recv(&mut buf), Ok(None));
        });
    }

    /// A side pinned to one CPU has no spin of its own budget; its peer,
    /// free to run on any CPU, spins: round trips between them still arrive
    /// (the pinned side spins too while it sees the peer on another CPU).
    #[test]
    fn a_side_on_one_cpu_talks_to_a_side_on_any() {
        let (down, up) = (Ring::new(4096).unwrap(), Ring::new(4096).unwrap());
        let (mut tx, mut rx) = (down.producer().unwrap(), up.consumer().unwrap());
        std::thread::scope(|s| {
            s.spawn(|| {
                let _pinned = crate::measure::OnOneCpu::pin().unwrap();
                let (mut rx, mut tx) = (down.consumer().unwrap(), up.producer().unwrap());
                assert_eq!((rx.spin.spins(), rx.spin.yields()), (0, wait::YIELDS));
                let mut buf = Vec::new();
                while rx.recv(&mut buf).unwrap().is_some() {
                    tx.send(&buf).unwrap();
                }
            });
            let mut buf = Vec::new();
            for i in 0..2000u32 {
                tx.send(&i.to_le_bytes()).unwrap();
                let timeout = Duration::from_secs(10);
                assert_eq!(rx.recv_timeout(&mut buf, timeout), Ok(4));
                assert_eq!(buf, i.to_le_bytes());
            }
            drop(tx);
        });
    }

    /// Writes `value` at byte `offset` of the ring's mapping, as a buggy or
    /// hostile peer could.
    fn scribble(ring: &Ring, offset: usize, value: u64) {
        ring.map.atomic_u64s()[offset / 8].store(value, Ordering::SeqCst);
    }

    fn corrupt_what(result: Result<usize, RingError>) -> (&'static str, u64) {
        match result {
            Err(RingError::Corrupt { what, value, .. }) => (what, value),
            other => panic!("expected a corrupt-ring error, got {other:?}"),
        }
    }

    #[test]
    fn a_garbage_record_length_is_an_error_not_a_crash() {
        let ring = Ring::new(4096).unwrap();
        let (mut tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
        let mut buf = Vec::new();
        for garbage in [u64::MAX, 4096, 9] {
            tx.send(b"12345678").unwrap(); // one 16-byte record
            let at = DATA + (rx.tail as usize & (ring.capacity() - 1));
            scribble(&ring, at, garbage);
            let err = rx.recv_timeout(&mut buf, Duration::from_secs(1));
            assert_eq!(corrupt_what(err), ("record length", garbage));
            assert!(
                err.unwrap_err()
                    .to_string()
                    .contains("corrupt ring: record length")
            );
            scribble(&ring, at, 8); // repaired: the stream goes on
            assert_eq!(rx.recv(&mut buf), Ok(Some(8)));
        }
    }

    #[test]
    fn a_garbage_head_is_an_error_not_a_crash() {
        let ring = Ring::new(4096).unwrap();
        let (_tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
        let mut buf = Vec::new();
        for garbage in [1 << 40, 12, u64::MAX - 7] {
            scribble(&ring, HEAD, garbage);
            let err = rx.recv_timeout(&mut buf, Duration::from_secs(1));
            assert_eq!(corrupt_what(err), ("head position", garbage));
        }
        assert!(matches!(rx.recv(&mut buf), Err(RingError::Corrupt { .. })));
    }

    #[test]
    fn a_garbage_tail_is_an_error_not_a_crash() {
        let ring = Ring::new(4096).unwrap();
        let (mut tx, _rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
        tx.send(&vec![0u8; ring.max_message()]).unwrap(); // full
        for garbage in [u64::MAX, 5000 * 8, 3] {
            scribble(&ring, TAIL, garbage);
            let err = tx.send_timeout(b"x", Duration::from_secs(1)).map(|()| 0);
            assert_eq!(corrupt_what(err), ("tail position", garbage));
        }
    }
}
