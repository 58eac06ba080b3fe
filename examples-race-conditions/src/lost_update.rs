//! Lost updates: a read-modify-write done as a separate load and store.
//!
//! Two threads that both `load` 7 and both `store` 8 have done two
//! increments and counted one. The fixes make the read-modify-write one
//! indivisible step: an atomic `fetch_add`, or a lock held across it.
//!
//! ```
//! use examples_race_conditions::lost_update::{Way, forced};
//! // Every thread loads, waits for the others, then stores: each round of
//! // 3 threads counts 1 increment instead of 3.
//! let racy = forced(Way::Racy, 3, 5)?;
//! assert_eq!((racy.expected, racy.got), (15, 5));
//! assert_eq!(forced(Way::Atomic, 3, 5)?.lost(), 0);
//! # Ok::<(), examples_race_conditions::team::Refused>(())
//! ```

use crate::sync::{AtomicU64, Mutex, Ordering, lock};
use crate::team::{self, Refused};

/// How a [`Counter`] increments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// `load`, then `store(v + 1)`: two atomic steps, one racy whole.
    Racy,
    /// `fetch_add(1)`: one atomic read-modify-write.
    Atomic,
    /// `*lock() += 1`: the whole read-modify-write under a `Mutex`.
    Locked,
}

impl Way {
    /// The three ways, racy first.
    pub const ALL: [Way; 3] = [Way::Racy, Way::Atomic, Way::Locked];

    /// A short label for output.
    pub fn label(self) -> &'static str {
        match self {
            Way::Racy => "racy   (load + store)",
            Way::Atomic => "atomic (fetch_add)",
            Way::Locked => "mutex  (lock; += 1)",
        }
    }
}

/// A shared counter that increments one [`Way`].
#[derive(Debug)]
pub struct Counter {
    way: Way,
    atomic: AtomicU64,
    locked: Mutex<u64>,
}

impl Counter {
    /// A counter at zero.
    pub fn new(way: Way) -> Self {
        Counter {
            way,
            atomic: AtomicU64::new(0),
            locked: Mutex::new(0),
        }
    }

    /// Adds one.
    pub fn increment(&self) {
        self.increment_with(|| {});
    }

    /// Adds one, running `between` where the racy way is split in two
    /// (after its load, before its store). The other ways have no inside, so
    /// `between` runs before their single step.
    pub fn increment_with(&self, between: impl FnOnce()) {
        match self.way {
            Way::Racy => {
                let seen = self.atomic.load(Ordering::Relaxed);
                between();
                self.atomic.store(seen + 1, Ordering::Relaxed);
            }
            Way::Atomic => {
                between();
                self.atomic.fetch_add(1, Ordering::Relaxed);
            }
            Way::Locked => {
                between();
                *lock(&self.locked) += 1;
            }
        }
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        match self.way {
            Way::Racy | Way::Atomic => self.atomic.load(Ordering::SeqCst),
            Way::Locked => *lock(&self.locked),
        }
    }
}

/// What a run counted: the increments its threads performed, and the
/// counter at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    /// Increments performed, counted by the threads that made them.
    pub expected: u64,
    /// The counter at the end.
    pub got: u64,
}

impl Tally {
    /// Increments that vanished.
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.got)
    }
}

/// The forced interleaving: in each of `rounds`, every one of `threads`
/// threads loads, then all wait at a barrier, then all store (and wait
/// again). The racy way counts exactly one increment per round, every run.
/// [`Refused`] if the system would not start every thread (then none ran).
pub fn forced(way: Way, threads: usize, rounds: u64) -> Result<Tally, Refused> {
    let counter = Counter::new(way);
    let barrier = std::sync::Barrier::new(threads);
    // All threads run before the first barrier: none waits for a thread
    // the system refused.
    let made = team::run(threads, |_| {
        let mut made = 0;
        for _ in 0..rounds {
            counter.increment_with(|| {
                barrier.wait();
            });
            made += 1;
            barrier.wait();
        }
        made
    })?;
    Ok(Tally {
        expected: made.iter().sum(),
        got: counter.get(),
    })
}

/// The free run: `threads` threads each increment `iterations` times as fast
/// as they can. How much the racy way loses depends on the machine and the
/// moment; it can be zero.
pub fn free(way: Way, threads: usize, iterations: u64) -> Result<Tally, Refused> {
    let counter = Counter::new(way);
    let made = team::run(threads, |_| {
        let mut made = 0;
        for _ in 0..iterations {
            counter.increment();
            made += 1;
        }
        made
    })?;
    Ok(Tally {
        expected: made.iter().sum(),
        got: counter.get(),
    })
}
