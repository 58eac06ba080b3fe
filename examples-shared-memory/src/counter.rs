//! One counter in shared memory, incremented by many processes: the racy
//! way, the atomic way and the locked way.
//!
//! [`add_racy`] is `counter.value += 1` on a Python
//! `multiprocessing.Value(lock=False)`: a load, then a store. Another
//! process can store between the two, and its increments are overwritten.
//! [`add_atomic`] is one read-modify-write (`fetch_add`) and loses nothing.
//! [`add_locked`] runs the same racy code under a [`SpinLock`] that lives
//! in the shared memory too (`with counter.get_lock(): counter.value += 1`).
//! [`race`] runs one of them in several forked processes at once.
//!
//! Every [`WIDEN_EVERY`]th racy increment yields the CPU between its load
//! and its store. That widens the window so the loss shows reliably even
//! when all processes share one core (then only a preemption between load
//! and store loses updates, and those are rare); on several cores the loss
//! happens without it too.
//!
//! ```
//! use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
//! use examples_shared_memory::counter::{SpinLock, add_atomic, add_locked};
//!
//! let counter = AtomicU64::new(0);
//! add_atomic(&counter, 10);
//! let word = AtomicU32::new(0);
//! add_locked(&SpinLock::new(&word), &counter, 5);
//! assert_eq!(counter.load(Ordering::Relaxed), 15);
//! ```

use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::thread::yield_now;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::{child, mapping::SharedMapping};

/// Each of `n` processes calls this first: it counts itself in `ready` and
/// waits (yielding) until all `n` have. Without it, a process forked first
/// may finish before the last one starts, and nothing races at all.
pub fn start_together(ready: &AtomicU64, n: u64) {
    ready.fetch_add(1, Ordering::AcqRel);
    while ready.load(Ordering::Acquire) < n {
        yield_now();
    }
}

/// How often the racy increment yields between its load and its store.
pub const WIDEN_EVERY: u64 = 1024;

/// Adds `times` by separate load and store: loses updates under contention.
pub fn add_racy(counter: &AtomicU64, times: u64) {
    for i in 0..times {
        racy_step(counter, i);
    }
}

fn racy_step(counter: &AtomicU64, i: u64) {
    let value = counter.load(Ordering::Relaxed);
    if i % WIDEN_EVERY == 0 {
        yield_now(); // another process may store here; we overwrite it
    }
    counter.store(value + 1, Ordering::Relaxed);
}

/// Adds `times` with `fetch_add`: one atomic step, nothing lost.
pub fn add_atomic(counter: &AtomicU64, times: u64) {
    for _ in 0..times {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Adds `times` with the racy code, each increment under `lock`.
pub fn add_locked(lock: &SpinLock<'_>, counter: &AtomicU64, times: u64) {
    for i in 0..times {
        lock.lock();
        racy_step(counter, i);
        lock.unlock();
    }
}

/// A test-and-set lock on one word of shared memory, usable across
/// processes because it is nothing but an atomic (no process-private futex
/// queue, unlike `std::sync::Mutex`). A waiter yields the CPU, so it makes
/// progress on one core. It is not robust: a holder that dies keeps it
/// locked (see the crate's robust mutex for that).
#[derive(Debug)]
pub struct SpinLock<'a> {
    word: &'a AtomicU32,
}

impl<'a> SpinLock<'a> {
    /// A lock on `word`, which must start at 0 (unlocked).
    pub fn new(word: &'a AtomicU32) -> Self {
        Self { word }
    }

    /// Waits until this caller holds the lock.
    pub fn lock(&self) {
        while self
            .word
            .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            yield_now();
        }
    }

    /// Releases the lock; only the holder calls it.
    pub fn unlock(&self) {
        self.word.store(0, Ordering::Release);
    }
}

/// The three ways to increment, as [`race`] runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// [`add_racy`]: a separate load and store.
    Racy,
    /// [`add_atomic`]: `fetch_add`.
    Atomic,
    /// [`add_locked`]: the racy code under a [`SpinLock`] in the mapping.
    Locked,
}

/// What one [`race`] saw.
#[derive(Debug)]
pub struct Race {
    /// The counter after every process finished.
    pub total: u64,
    /// From the first fork to the last child reaped.
    pub elapsed: Duration,
    /// The children's process ids.
    pub pids: Vec<Pid>,
}

/// Forks `processes` children that start together and each add
/// `iterations` to one counter in a fresh [`SharedMapping`], the way `way`
/// says; waits for every child (each at most `limit`, exit 0 required) and
/// reads the counter.
///
/// Forks, so the calling process must be single-threaded (else an error;
/// see [`child::fork`]).
pub fn race(way: Way, processes: usize, iterations: u64, limit: Duration) -> io::Result<Race> {
    let map = SharedMapping::new(4096)?;
    // Bytes 0..8 the counter, 8..16 the start line, 16..20 the lock.
    let (counter, ready) = (&map.atomic_u64s()[0], &map.atomic_u64s()[1]);
    let lock = SpinLock::new(&map.atomic_u32s()[4]);
    let start = Instant::now();
    let mut children = Vec::new();
    for _ in 0..processes {
        let task = || {
            start_together(ready, processes as u64);
            match way {
                Way::Racy => add_racy(counter, iterations),
                Way::Atomic => add_atomic(counter, iterations),
                Way::Locked => add_locked(&lock, counter, iterations),
            }
            0
        };
        children.push(child::fork(task)?);
    }
    let pids = children.iter().map(|c| c.pid()).collect();
    for c in children {
        c.join(limit)?;
    }
    let total = counter.load(Ordering::Acquire);
    Ok(Race {
        total,
        elapsed: start.elapsed(),
        pids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_starter_does_not_wait() {
        let ready = AtomicU64::new(0);
        start_together(&ready, 1);
        assert_eq!(ready.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn single_caller_counts_exactly_every_way() {
        let counter = AtomicU64::new(0);
        add_racy(&counter, 3000);
        add_atomic(&counter, 3000);
        let word = AtomicU32::new(0);
        add_locked(&SpinLock::new(&word), &counter, 3000);
        assert_eq!(counter.load(Ordering::Relaxed), 9000);
        assert_eq!(word.load(Ordering::Relaxed), 0);
    }
}
