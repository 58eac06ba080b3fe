//! Wall time, CPU time and context switches of a closure (`getrusage`), so
//! a program can tell "my threads scaled" from "the machine only gave me
//! one core": [`Measured::cores_busy`] is CPU time over wall time.

use std::time::{Duration, Instant};

/// What [`measure`] saw while a closure ran, for the whole process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measured {
    /// Elapsed wall-clock time.
    pub wall: Duration,
    /// User + system CPU time of all threads of the process.
    pub cpu: Duration,
    /// Context switches where a thread blocked (waited for a lock, I/O, join).
    pub voluntary_switches: i64,
    /// Context switches where the scheduler preempted a running thread.
    pub involuntary_switches: i64,
}

impl Measured {
    /// How many cores were busy on average: CPU time over wall time.
    /// About 1.0 when one thread computes at a time, about 2.0 when two
    /// threads compute in parallel, lower when the machine is shared.
    pub fn cores_busy(&self) -> f64 {
        self.cpu.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }

    /// All context switches, voluntary and involuntary.
    pub fn switches(&self) -> i64 {
        self.voluntary_switches + self.involuntary_switches
    }
}

/// Runs `f` and returns its result with the wall time, CPU time and context
/// switches of the whole process while it ran (`getrusage(RUSAGE_SELF)`,
/// which counts every thread, also those that ended).
///
/// ```
/// use examples_threading::{cpu_job::PrimeJob, measure::measure};
/// let (answer, m) = measure(|| PrimeJob::new(20_000, 1_000).count_sequential());
/// assert_eq!(answer, 2_262);
/// assert!(m.wall > std::time::Duration::ZERO);
/// ```
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Measured) {
    let self_usage = || process_toolkit::rusage(libc::RUSAGE_SELF);
    let before = self_usage();
    let start = Instant::now();
    let result = f();
    let wall = start.elapsed();
    let after = self_usage();
    // Counters only grow; the differences fit an i64 by far.
    let switches = |a: u64, b: u64| b.saturating_sub(a) as i64;
    let measured = Measured {
        wall,
        cpu: after.cpu().saturating_sub(before.cpu()),
        voluntary_switches: switches(before.voluntary_switches, after.voluntary_switches),
        involuntary_switches: switches(before.involuntary_switches, after.involuntary_switches),
    };
    (result, measured)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_job::PrimeJob;

    #[test]
    fn measure_sees_cpu_time_of_work() {
        let (_, m) = measure(|| PrimeJob::new(300_000, 1000).count_sequential());
        assert!(m.cpu > Duration::ZERO);
    }
}
