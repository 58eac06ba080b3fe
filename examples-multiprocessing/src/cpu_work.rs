//! Deterministic CPU-bound work of a chosen length, and CPU-time clocks to
//! size and account for it on a machine where other processes compete.
//!
//! Wall time on a busy machine measures the scheduler as much as the work:
//! with Linux's autogroup scheduling, each terminal session gets a fair
//! share of the CPUs however many processes it runs, so a pool of 2 workers
//! gets no more CPU than 1 process when every core is contended. The
//! programs calibrate task length in CPU time ([`rounds_per_ms`]) and report
//! how many CPUs their workers really got ([`process_cpu_time`]).
//!
//! ```
//! use examples_multiprocessing::cpu_work::{rounds_per_ms, spin};
//!
//! let rounds = rounds_per_ms(); // ~1 ms of CPU per call below
//! assert_eq!(spin(3, rounds), spin(3, rounds)); // deterministic
//! ```

use std::hint::black_box;
use std::time::Duration;

/// `rounds` steps of xorshift from `seed`: CPU-bound, no memory traffic,
/// the same answer in every process.
pub fn spin(seed: u64, rounds: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x)
}

/// Rounds of [`spin`] per millisecond of this thread's CPU time (not wall
/// time, which other processes stretch).
pub fn rounds_per_ms() -> u64 {
    let probe = 2_000_000;
    let before = thread_cpu_time();
    spin(7, probe);
    let spent = thread_cpu_time()
        .saturating_sub(before)
        .max(Duration::from_micros(1));
    (probe as f64 / (spent.as_secs_f64() * 1e3)).max(1.0) as u64
}

// One home for CPU time: the toolkit's, re-exported for this crate's callers.
pub use process_toolkit::{process_cpu_time, thread_cpu_time};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_time_is_readable_and_grows() {
        let me = std::process::id() as i32;
        let before = process_cpu_time(me).unwrap();
        spin(1, rounds_per_ms() * 50);
        assert!(process_cpu_time(me).unwrap() >= before);
        assert!(process_cpu_time(-5).is_none());
    }
}
