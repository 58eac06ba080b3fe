//! Looking again before sleeping. A side that sleeps until the other
//! writes must be woken, and in a VM that wake-up (an idle virtual CPU
//! brought back) costs tens of microseconds, most of them the writer's. A
//! side that looks again for a little while first, giving the CPU away in
//! between, is still awake when the bytes come shortly after, so nobody
//! needs waking.

use std::time::{Duration, Instant};

/// How long a side looks again before it sleeps: longer than a worker
/// takes between two batches of tiny results, and short enough that an
/// idle pool is asleep at once as far as anyone can tell.
pub(crate) const LINGER: Duration = Duration::from_micros(50);

/// How long a worker looks for more tasks before it sleeps: longer, as
/// its wake-up is what the parent's next call would wait for first, so
/// calls in a loop (a batch after a batch) find the workers awake.
pub(crate) const WORKER_LINGER: Duration = Duration::from_micros(200);

/// Calls `ready` until it says yes or `budget` has passed, yielding the
/// CPU between calls (so a process waiting for this CPU runs); whether it
/// said yes.
pub(crate) fn linger(mut ready: impl FnMut() -> bool, budget: Duration) -> bool {
    let start = Instant::now();
    loop {
        if ready() {
            return true;
        }
        if start.elapsed() >= budget {
            return false;
        }
        std::thread::yield_now();
    }
}
