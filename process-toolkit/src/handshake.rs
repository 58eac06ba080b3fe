//! The sleep/wake handshake between two sides that share memory, both
//! halves: the process pool's lanes and the shared-memory ring's waits
//! (`examples_shared_memory::ring::wait`) use it. A side about to sleep
//! raises its flag and looks again ([`may_sleep`]); the other side, after
//! publishing, looks at the flag ([`take_flag`]) and rings the doorbell if
//! it was up. A `SeqCst` fence between the store and the load on each side
//! makes sure at least one of them sees the other's store: without it each
//! store can wait in its CPU's store buffer while the load runs, the
//! sleeper misses the bytes, the writer misses the flag, and nobody rings
//! (a lost wake-up). `tests/loom.rs` checks this very file over loom's
//! atomics, fenced and not.
//!
//! Generic over [`Flag`] for that model; the lanes use `AtomicU32`.
//!
//! ```
//! use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
//! use process_toolkit::handshake::{may_sleep, take_flag};
//!
//! let (flag, progress) = (AtomicU32::new(0), AtomicU64::new(0));
//! // The sleeper: nothing yet, so it may sleep (its flag is up).
//! assert!(may_sleep(&flag, || progress.load(Ordering::Acquire) == 0));
//! // The other side publishes, then sees the flag: it must wake the sleeper.
//! progress.store(1, Ordering::Release);
//! assert!(take_flag(&flag));
//! assert!(!take_flag(&flag), "one wake-up per sleep");
//! ```

use std::sync::atomic::{AtomicU32, Ordering};

/// The atomic word a flag lives in, and the fence of its memory model.
pub trait Flag {
    /// Atomic load.
    fn load(&self, order: Ordering) -> u32;
    /// Atomic store.
    fn store(&self, value: u32, order: Ordering);
    /// Atomic swap.
    fn swap(&self, value: u32, order: Ordering) -> u32;
    /// A fence in the same memory model as these atomics.
    fn fence(order: Ordering);
}

impl Flag for AtomicU32 {
    fn load(&self, order: Ordering) -> u32 {
        AtomicU32::load(self, order)
    }
    fn store(&self, value: u32, order: Ordering) {
        AtomicU32::store(self, value, order)
    }
    fn swap(&self, value: u32, order: Ordering) -> u32 {
        AtomicU32::swap(self, value, order)
    }
    fn fence(order: Ordering) {
        std::sync::atomic::fence(order)
    }
}

/// The sleeper's half: raises `flag`, then asks `still` (reading the
/// other side's progress with `Acquire`) whether there is still nothing;
/// if so it may sleep until the doorbell, else the flag goes down again.
pub fn may_sleep<F: Flag>(flag: &F, still: impl Fn() -> bool) -> bool {
    flag.store(1, Ordering::SeqCst);
    F::fence(Ordering::SeqCst);
    if still() {
        return true;
    }
    flag.store(0, Ordering::SeqCst);
    false
}

/// The waker's half, after publishing its progress (a `Release` store):
/// whether the sleeper's flag was up. It is taken down here, so a sleep
/// costs one doorbell however much progress follows.
pub fn take_flag<F: Flag>(flag: &F) -> bool {
    F::fence(Ordering::SeqCst);
    flag.load(Ordering::Relaxed) != 0 && flag.swap(0, Ordering::SeqCst) != 0
}
