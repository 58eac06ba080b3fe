//! Looking again before sleeping. A side that sleeps until the other
//! writes must be woken, and in a VM that wake-up (an idle virtual CPU
//! brought back) costs tens of microseconds, most of them the writer's. A
//! side that looks again for a little while first, giving the CPU away in
//! between, is still awake when the work comes shortly after, so nobody
//! needs waking. The process pool's lanes and the thread pool's workers
//! both look again like this before they sleep ([`handshake`](crate::handshake)
//! is how the lanes then sleep without losing a wake-up).
//!
//! ```
//! use std::time::Duration;
//! use process_toolkit::linger::{LINGER, linger};
//!
//! let mut looks = 0;
//! // Ready on the third look: no sleep needed.
//! assert!(linger(|| { looks += 1; looks == 3 }, Duration::from_secs(1)));
//! // Never ready: gives up after the budget; the caller sleeps.
//! assert!(!linger(|| false, LINGER));
//! ```

use std::time::{Duration, Instant};

/// How long the pools look again before they sleep: the process pool's
/// parent and workers, and the thread pool's workers and `map`. Longer
/// than a worker takes between two batches of tiny results, or than a
/// caller takes between two calls in a loop (so back-to-back calls find
/// each other awake); short enough that an idle pool is asleep at once as
/// far as anyone can tell, and that threads the program runs right after
/// a call hardly meet the workers still looking (they give the CPU away,
/// but each time it costs those threads a switch). The process pool
/// measured 200 µs against this: no faster per task, more CPU burnt after
/// each call.
pub const LINGER: Duration = Duration::from_micros(50);

/// Calls `ready` until it says yes or `budget` has passed, yielding the
/// CPU between calls (so a thread or process waiting for this CPU runs);
/// whether it said yes.
pub fn linger(mut ready: impl FnMut() -> bool, budget: Duration) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linger_says_yes_as_soon_as_ready_and_no_after_the_budget() {
        let mut asked = 0;
        assert!(linger(
            || {
                asked += 1;
                asked == 3
            },
            Duration::from_secs(60)
        ));
        assert_eq!(asked, 3);
        let start = Instant::now();
        assert!(!linger(|| false, Duration::from_millis(2)));
        assert!(start.elapsed() >= Duration::from_millis(2));
    }
}
