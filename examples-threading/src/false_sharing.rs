//! False sharing: threads that never share a counter still slow each other
//! down when their counters share a cache line. [`bump_own_counters`] is the
//! experiment of the `false-sharing` program.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use crate::spawn::refused;

/// Thread `i` adds 1 to its own counter `counter(&slots[i])`, `iterations`
/// times, one thread per slot, all at once. No counter is shared, yet when
/// several counters sit in one cache line the cores fight over that line
/// (false sharing); see the `false-sharing` program. Fails if the system
/// refuses a thread.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use crossbeam_utils::CachePadded;
/// use examples_threading::false_sharing::bump_own_counters;
///
/// let packed: Vec<AtomicU64> = (0..2).map(|_| AtomicU64::new(0)).collect();
/// bump_own_counters(&packed, 1000, |c| c)?;
/// let padded: Vec<CachePadded<AtomicU64>> =
///     (0..2).map(|_| CachePadded::new(AtomicU64::new(0))).collect();
/// bump_own_counters(&padded, 1000, |c| &**c)?;
/// assert!(packed.iter().chain(padded.iter().map(|c| &**c)).all(|c| c.load(Ordering::Relaxed) == 1000));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn bump_own_counters<T: Sync>(
    slots: &[T],
    iterations: u64,
    counter: impl Fn(&T) -> &AtomicU64 + Sync,
) -> io::Result<()> {
    let counter = &counter;
    thread::scope(|s| {
        for (i, slot) in slots.iter().enumerate() {
            let bump = move || {
                let c = counter(slot);
                for _ in 0..iterations {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            };
            // Independent threads: on a refused spawn the scope joins the
            // started ones, and the counts come out short (the caller
            // reports the error, not the counts).
            let started = thread::Builder::new().spawn_scoped(s, bump);
            started.map_err(|e| refused(i + 1, slots.len(), &e))?;
        }
        Ok(())
    })
}
