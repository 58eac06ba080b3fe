//! The one thing the deadlock lessons need from a lock: take it, get a guard.
//!
//! The lock-ordering code in [`crate::deadlock`] and [`crate::dining`] is
//! generic over [`Lock`], so the programs run it over std's `Mutex` (or the
//! watched one in [`crate::wait_graph`]) and the shuttle models in
//! `tests/shuttle.rs` run the very same code over shuttle's `Mutex`.

use std::ops::DerefMut;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A blocking lock around some data.
pub trait Lock {
    /// What the lock protects.
    type Data;
    /// Holds the lock until dropped.
    type Guard<'a>: DerefMut<Target = Self::Data>
    where
        Self: 'a;
    /// Blocks until the lock is ours.
    fn acquire(&self) -> Self::Guard<'_>;
}

impl<T> Lock for Mutex<T> {
    type Data = T;
    type Guard<'a>
        = MutexGuard<'a, T>
    where
        T: 'a;

    fn acquire(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
