//! A phased computation, one-dimensional smoothing, done on one thread and
//! on threads that meet at a [`Barrier`] after every phase.
//!
//! In each phase every cell becomes the sum of itself and its two
//! neighbours (wrapping), mod a prime. A thread owns a slice of the cells
//! but reads its neighbours' edges, so it must not start phase k+1 before
//! every thread finished phase k: that is the barrier's job. Python:
//! `threading.Barrier(n, action=...)`.
//!
//! ```
//! use examples_threading::stencil;
//!
//! let (cells, leaders) = stencil::with_barrier(3, 16, 10)?;
//! assert_eq!(cells, stencil::serial(3 * 16, 10));
//! assert_eq!(leaders, 10);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

use crate::spawn::together;

const MODULUS: u64 = 1_000_003;

/// The starting value of cell `i`.
fn init(i: usize) -> u64 {
    (i as u64 * 7919) % MODULUS
}

/// Cell `i` after one phase, from the cells of the phase before.
fn step(old: &[u64], i: usize) -> u64 {
    let n = old.len();
    (old[(i + n - 1) % n] + old[i] + old[(i + 1) % n]) % MODULUS
}

/// `cells` cells after `phases` phases, computed on this thread.
pub fn serial(cells: usize, phases: usize) -> Vec<u64> {
    let mut now: Vec<u64> = (0..cells).map(init).collect();
    for _ in 0..phases {
        let old = now.clone();
        now = (0..cells).map(|i| step(&old, i)).collect();
    }
    now
}

/// The same cells (`threads * per_thread` of them) after `phases` phases,
/// computed by `threads` threads that wait at one barrier after each phase.
/// Also returns how many barrier waits were the phase's leader. Fails if
/// the system refuses a thread (none is left waiting at the barrier).
///
/// # Panics
/// If `threads` is 0.
pub fn with_barrier(
    threads: usize,
    per_thread: usize,
    phases: usize,
) -> io::Result<(Vec<u64>, usize)> {
    let n = threads * per_thread;
    // Two buffers: phase k reads `bufs[k % 2]` and writes `bufs[(k + 1) % 2]`.
    let bufs: [Vec<AtomicU64>; 2] = [
        (0..n).map(|i| AtomicU64::new(init(i))).collect(),
        (0..n).map(|_| AtomicU64::new(0)).collect(),
    ];
    let (barrier, leaders) = (Barrier::new(threads), AtomicUsize::new(0));
    let worker = |t: usize| {
        let mut old = vec![0; n];
        for k in 0..phases {
            for (o, cell) in old.iter_mut().zip(&bufs[k % 2]) {
                *o = cell.load(SeqCst);
            }
            let mine = bufs[(k + 1) % 2].iter().enumerate().skip(t * per_thread);
            for (i, cell) in mine.take(per_thread) {
                cell.store(step(&old, i), SeqCst);
            }
            if barrier.wait().is_leader() {
                leaders.fetch_add(1, SeqCst);
            }
        }
    };
    together(threads, worker, || ())?;
    let cells = bufs[phases % 2].iter().map(|c| c.load(SeqCst)).collect();
    Ok((cells, leaders.into_inner()))
}
