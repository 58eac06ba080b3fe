//! A bounded counting semaphore, the counterpart of Python's
//! `threading.BoundedSemaphore`: at most `limit` holders at a time, and
//! releasing more permits than were taken is an error instead of silently
//! raising the limit.
//!
//! Reach for it to cap concurrency against a resource (connections, file
//! handles, a rate-limited API) while the work itself runs on many threads.
//! The usual form is the guard: [`Semaphore::acquire`] returns a [`Permit`]
//! that gives the permit back when dropped (Python's `with sem:`). The manual
//! form is [`Permit::forget`] now and [`Semaphore::release`] later, for a
//! permit that outlives the code that took it.
//!
//! ```
//! use examples_threading::semaphore::{Semaphore, OverRelease};
//!
//! let sem = Semaphore::new(2);
//! let a = sem.acquire();
//! let b = sem.acquire();
//! assert!(sem.try_acquire().is_none(), "both permits are taken");
//! drop(a);
//! assert_eq!(sem.available(), 1);
//!
//! b.forget();                                  // taken by hand ...
//! assert_eq!(sem.release(), Ok(()));           // ... and returned by hand
//! assert_eq!(sem.release(), Err(OverRelease { limit: 2 }));
//! ```

use crate::sync::{Condvar, Mutex, lock, wait_timeout_while};
use std::time::Duration;

/// A semaphore with at most `limit` permits outstanding.
#[derive(Debug)]
pub struct Semaphore {
    available: Mutex<usize>,
    freed: Condvar,
    limit: usize,
}

/// A `release` that would push the count above the limit: a bug in the
/// caller's bookkeeping (`ValueError: Semaphore released too many times`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("semaphore released too many times (limit {limit})")]
pub struct OverRelease {
    /// The semaphore's limit.
    pub limit: usize,
}

/// One permit; dropping it gives the permit back.
#[must_use = "dropping the permit releases it at once"]
#[derive(Debug)]
pub struct Permit<'a> {
    semaphore: &'a Semaphore,
}

impl Semaphore {
    /// A semaphore with `limit` permits, all available.
    pub fn new(limit: usize) -> Self {
        Self {
            available: Mutex::new(limit),
            freed: Condvar::new(),
            limit,
        }
    }

    /// The number of permits.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Permits free right now (already stale when you read it).
    pub fn available(&self) -> usize {
        *lock(&self.available)
    }

    /// Blocks until a permit is free and takes it.
    pub fn acquire(&self) -> Permit<'_> {
        let mut available = lock(&self.available);
        // A loop, not an `if`: wake-ups can be spurious, and another thread
        // may take the permit between the notify and this thread running.
        while *available == 0 {
            available = self
                .freed
                .wait(available)
                .unwrap_or_else(|e| e.into_inner());
        }
        *available -= 1;
        Permit { semaphore: self }
    }

    /// Takes a permit if one is free, without blocking.
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut available = lock(&self.available);
        if *available == 0 {
            return None;
        }
        *available -= 1;
        Some(Permit { semaphore: self })
    }

    /// Waits up to `timeout` for a permit (`sem.acquire(timeout=...)`).
    ///
    /// Under loom a condvar wait never times out, so models only call this
    /// when a permit will be released.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<Permit<'_>> {
        let (mut available, freed) =
            wait_timeout_while(&self.freed, lock(&self.available), timeout, |a| *a == 0);
        if !freed {
            return None;
        }
        *available -= 1;
        Some(Permit { semaphore: self })
    }

    /// Returns one permit taken by hand (see [`Permit::forget`]); an error,
    /// and no change, if every permit is already free.
    pub fn release(&self) -> Result<(), OverRelease> {
        let mut available = lock(&self.available);
        if *available >= self.limit {
            return Err(OverRelease { limit: self.limit });
        }
        *available += 1;
        drop(available);
        self.freed.notify_one();
        Ok(())
    }
}

impl Permit<'_> {
    /// Keeps the permit taken after this guard is gone; give it back later
    /// with [`Semaphore::release`].
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        // Only fails if someone called `release` for a permit this guard
        // still held; the count stays capped at the limit either way.
        let _ = self.semaphore.release();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn never_more_than_limit_inside() {
        let sem = Semaphore::new(2);
        let inside = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let _permit = sem.acquire();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) <= 2);
        assert_eq!(sem.available(), 2);
    }

    #[test]
    fn acquire_timeout_gives_up() {
        let sem = Semaphore::new(1);
        let _held = sem.acquire();
        assert!(sem.acquire_timeout(Duration::from_millis(20)).is_none());
    }
}
