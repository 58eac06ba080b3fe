//! The lanes' sleep/wake handshake, both halves. A side about to sleep
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

use std::sync::atomic::{AtomicU32, Ordering};

/// The atomic word a flag lives in, and the fence of its memory model.
pub(crate) trait Flag {
    fn load(&self, order: Ordering) -> u32;
    fn store(&self, value: u32, order: Ordering);
    fn swap(&self, value: u32, order: Ordering) -> u32;
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
pub(crate) fn may_sleep<F: Flag>(flag: &F, still: impl Fn() -> bool) -> bool {
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
pub(crate) fn take_flag<F: Flag>(flag: &F) -> bool {
    F::fence(Ordering::SeqCst);
    flag.load(Ordering::Relaxed) != 0 && flag.swap(0, Ordering::SeqCst) != 0
}
