//! How many threads are inside a section at the same time: the figure a
//! semaphore (or any limit on concurrency) is meant to cap.
//!
//! ```
//! use examples_threading::occupancy::most_inside;
//! use examples_threading::semaphore::Semaphore;
//!
//! let sem = Semaphore::new(2);
//! assert!(most_inside(6, || sem.acquire())? <= 2);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use crate::spawn::together;

/// Runs `workers` threads that start together (a barrier) and each hold
/// `enter()`'s guard for 5 ms; returns the most that were ever inside at
/// the same time. Fails if the system refuses a thread (then none waits at
/// the barrier for it: see [`together`]).
///
/// # Panics
/// If `workers` is 0.
pub fn most_inside<G>(workers: usize, enter: impl Fn() -> G + Sync) -> io::Result<usize> {
    let (inside, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let start = Barrier::new(workers);
    let worker = |_| {
        start.wait();
        let _guard = enter();
        most.fetch_max(inside.fetch_add(1, SeqCst) + 1, SeqCst);
        thread::sleep(Duration::from_millis(5));
        inside.fetch_sub(1, SeqCst);
    };
    together(workers, worker, || ())?;
    Ok(most.load(SeqCst))
}
