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

fn rusage() -> (Duration, i64, i64) {
    use nix::sys::resource::{UsageWho, getrusage};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::new(t.tv_sec().max(0) as u64, (t.tv_usec().max(0) * 1000) as u32)
            };
            (
                tv(u.user_time()) + tv(u.system_time()),
                u.voluntary_context_switches(),
                u.involuntary_context_switches(),
            )
        }
        // getrusage(RUSAGE_SELF) cannot fail on Linux; report zeros if it did.
        Err(_) => (Duration::ZERO, 0, 0),
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
    let (cpu0, vol0, inv0) = rusage();
    let start = Instant::now();
    let result = f();
    let wall = start.elapsed();
    let (cpu1, vol1, inv1) = rusage();
    let measured = Measured {
        wall,
        cpu: cpu1.saturating_sub(cpu0),
        voluntary_switches: vol1 - vol0,
        involuntary_switches: inv1 - inv0,
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
