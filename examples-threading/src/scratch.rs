//! Per-thread scratch buffers: `thread_local!` gives each thread of a rayon
//! pool its own reusable buffer, against a fresh buffer for every task.
//!
//! A thread-local is only ever touched by its own thread, so it needs no
//! lock and no `Arc`; it is created lazily, on the first task each thread
//! runs. Python: `threading.local()`.
//!
//! ```
//! use examples_threading::scratch;
//!
//! let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
//! let fresh = scratch::fresh_per_task(&pool, 1_000);
//! let reused = scratch::reused_per_thread(&pool, 1_000);
//! assert_eq!(fresh.sum, reused.sum);
//! assert_eq!(fresh.buffers, 1_000);
//! assert!((1..=2).contains(&reused.buffers));
//! ```

use rayon::prelude::*;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

static BUFFERS_CREATED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Initialised lazily, on the first task each thread runs.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new({
        BUFFERS_CREATED.fetch_add(1, Relaxed);
        Vec::new()
    });
}

/// The task: append sixteen 256-byte blocks to `buf` (4 KiB, so a fresh
/// buffer grows and copies five times) and checksum a sample of the bytes.
pub fn render(i: usize, buf: &mut Vec<u8>) -> u64 {
    buf.clear();
    for block in 0..16 {
        buf.extend_from_slice(&[(i + block) as u8; 256]);
    }
    buf.iter().step_by(128).map(|&b| u64::from(b)).sum()
}

/// One run of `tasks` [`render`] tasks on a pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    /// The sum of every task's checksum.
    pub sum: u64,
    /// Buffers allocated during the run.
    pub buffers: usize,
    /// Wall time of the run.
    pub took: Duration,
}

/// Runs the tasks on `pool`, each with a buffer of its own.
pub fn fresh_per_task(pool: &rayon::ThreadPool, tasks: usize) -> Run {
    let allocs = AtomicUsize::new(0);
    let start = Instant::now();
    let sum = pool.install(|| {
        (0..tasks)
            .into_par_iter()
            .map(|i| {
                allocs.fetch_add(1, Relaxed);
                render(i, &mut Vec::new())
            })
            .sum()
    });
    let took = start.elapsed();
    Run {
        sum,
        buffers: allocs.into_inner(),
        took,
    }
}

/// Runs the tasks on `pool`, each borrowing its thread's scratch buffer.
/// `buffers` counts the thread-locals this call created: at most one per
/// pool thread, none for a thread that already made one.
pub fn reused_per_thread(pool: &rayon::ThreadPool, tasks: usize) -> Run {
    let before = BUFFERS_CREATED.load(Relaxed);
    let start = Instant::now();
    let sum = pool.install(|| {
        (0..tasks)
            .into_par_iter()
            .map(|i| SCRATCH.with_borrow_mut(|buf| render(i, buf)))
            .sum()
    });
    let took = start.elapsed();
    Run {
        sum,
        buffers: BUFFERS_CREATED.load(Relaxed) - before,
        took,
    }
}
