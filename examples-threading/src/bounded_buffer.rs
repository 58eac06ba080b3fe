//! A bounded FIFO buffer built from one `Mutex` and two `Condvar`s, the
//! textbook use of Python's `threading.Condition`: producers wait while it is
//! full, consumers wait while it is empty.
//!
//! Notice the two habits that make condition variables correct: the
//! condition is re-checked in a `while` loop after every wake-up (wake-ups
//! can be spurious, and another thread may have taken the slot first), and
//! the state is only changed while holding the lock the condvar waits with.
//! In practice `crossbeam_channel::bounded` does this job; this type shows
//! what such a channel does inside.
//!
//! ```
//! use examples_threading::bounded_buffer::BoundedBuffer;
//!
//! let buffer = BoundedBuffer::new(2);
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         for item in 0..5 {
//!             buffer.push(item); // blocks while two items wait
//!         }
//!         buffer.close();
//!     });
//!     let mut got = Vec::new();
//!     while let Some(item) = buffer.pop() {
//!         got.push(item);
//!     }
//!     assert_eq!(got, [0, 1, 2, 3, 4]);
//! });
//! assert!(buffer.stats().max_len <= 2);
//! ```

use crate::sync::{Condvar, Mutex, lock};
use std::collections::VecDeque;

/// A FIFO of at most `capacity` items.
#[derive(Debug)]
pub struct BoundedBuffer<T> {
    state: Mutex<State<T>>,
    not_full: Condvar,
    not_empty: Condvar,
    capacity: usize,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    closed: bool,
    stats: Stats,
}

/// What the buffer saw, for reporting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// The most items it ever held.
    pub max_len: usize,
    /// Times a producer found it full and waited.
    pub full_waits: usize,
    /// Times a consumer found it empty and waited.
    pub empty_waits: usize,
}

impl<T> BoundedBuffer<T> {
    /// An empty buffer holding at most `capacity` items.
    ///
    /// # Panics
    /// If `capacity` is 0.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "capacity must be at least 1");
        Self {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(capacity),
                closed: false,
                stats: Stats::default(),
            }),
            not_full: Condvar::new(),
            not_empty: Condvar::new(),
            capacity,
        }
    }

    /// Appends `item`, waiting while the buffer is full.
    ///
    /// # Panics
    /// If the buffer was closed: pushing after `close` is a bug.
    pub fn push(&self, item: T) {
        let mut state = lock(&self.state);
        while state.items.len() == self.capacity {
            state.stats.full_waits += 1;
            state = self.not_full.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        assert!(!state.closed, "push after close");
        state.items.push_back(item);
        state.stats.max_len = state.stats.max_len.max(state.items.len());
        drop(state);
        self.not_empty.notify_one();
    }

    /// Takes the oldest item, waiting while the buffer is empty; `None` once
    /// it is closed and drained.
    pub fn pop(&self) -> Option<T> {
        let mut state = lock(&self.state);
        loop {
            if let Some(item) = state.items.pop_front() {
                drop(state);
                self.not_full.notify_one();
                return Some(item);
            }
            if state.closed {
                return None;
            }
            state.stats.empty_waits += 1;
            state = self
                .not_empty
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// No more pushes: consumers drain what is left, then get `None`.
    pub fn close(&self) {
        lock(&self.state).closed = true;
        self.not_empty.notify_all();
    }

    /// Items waiting right now.
    pub fn len(&self) -> usize {
        lock(&self.state).items.len()
    }

    /// Whether no item is waiting right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        lock(&self.state).stats
    }
}
