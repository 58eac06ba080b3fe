//! A count of queued-but-unfinished work that a thread can wait on to reach
//! zero: the `task_done` / `join` half of Python's `queue.Queue` and
//! `multiprocessing.JoinableQueue`, for use next to any channel.
//!
//! Producers call [`Pending::add`] before they send an item, consumers call
//! [`Pending::done`] after they have *finished* it (not when they receive
//! it), and [`Pending::join`] returns once every added item is done. Reach
//! for it when you need "all the work so far is finished" while the workers
//! stay alive for more; when you are shutting down anyway, dropping the
//! senders and joining the consumer threads says the same thing.
//!
//! ```
//! use examples_threading::pending::Pending;
//!
//! let pending = Pending::new();
//! let (tx, rx) = crossbeam_channel::bounded::<u32>(4);
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         for item in rx.iter() {
//!             let _ = item * 2; // the work
//!             pending.done();
//!         }
//!     });
//!     for item in 0..10 {
//!         pending.add(1);
//!         tx.send(item).unwrap();
//!     }
//!     pending.join(); // all ten finished; the consumer is still running
//!     assert_eq!(pending.count(), 0);
//!     drop(tx);       // now let it go
//! });
//! ```

use crate::sync::{Condvar, Mutex, lock, wait_timeout_while};
use std::time::Duration;

/// The number of items added and not yet done.
#[derive(Debug, Default)]
pub struct Pending {
    count: Mutex<usize>,
    zero: Condvar,
}

impl Pending {
    /// No work pending.
    pub fn new() -> Self {
        Self {
            count: Mutex::new(0),
            zero: Condvar::new(),
        }
    }

    /// Records `n` more items of work.
    pub fn add(&self, n: usize) {
        *lock(&self.count) += n;
    }

    /// Marks one item finished (`queue.task_done()`).
    ///
    /// # Panics
    /// If nothing is pending: more `done` calls than items is a bug, as in
    /// Python (`ValueError: task_done() called too many times`).
    pub fn done(&self) {
        let mut count = lock(&self.count);
        assert!(*count > 0, "done() called more times than items were added");
        *count -= 1;
        if *count == 0 {
            drop(count);
            self.zero.notify_all();
        }
    }

    /// Items added and not yet done.
    pub fn count(&self) -> usize {
        *lock(&self.count)
    }

    /// Blocks until every added item is done.
    pub fn join(&self) {
        let mut count = lock(&self.count);
        while *count > 0 {
            count = self.zero.wait(count).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Like [`join`](Self::join), giving up after `timeout`; `true` when the
    /// count reached zero.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        wait_timeout_while(&self.zero, lock(&self.count), timeout, |count| *count > 0).1
    }
}
