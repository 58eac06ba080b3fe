//! The I/O-bound work the threading lessons measure: blocking waits, in
//! which a thread sleeps in the kernel and uses no CPU (a stand-in for a
//! socket read or a disk request). [`WaitJob`] is a fixed number of them,
//! shared by any number of threads.
//!
//! ```
//! use std::time::Duration;
//! use examples_threading::wait_job::WaitJob;
//!
//! let job = WaitJob { waits: 12, wait: Duration::from_millis(10) };
//! assert_eq!(job.ideal_speedup(4), 4.0);
//! ```

use std::thread;
use std::time::{Duration, Instant};

/// A blocking wait: the I/O-bound unit of work (a stand-in for a socket read
/// or a disk request). The thread sleeps in the kernel and uses no CPU.
pub fn blocking_wait(duration: Duration) {
    thread::sleep(duration);
}

/// Sleeps until `deadline` (returns at once if it has passed).
pub fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        thread::sleep(deadline - now);
    }
}

/// A fixed I/O-bound job: `waits` blocking waits of `wait` each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitJob {
    /// How many waits in total, shared by all threads.
    pub waits: usize,
    /// How long each wait blocks.
    pub wait: Duration,
}

impl WaitJob {
    /// The best speedup `threads` threads can reach on this job: the waits
    /// run in rounds of `threads`, so 24 waits on 5 threads take 5 rounds,
    /// not 4.8.
    ///
    /// ```
    /// use std::time::Duration;
    /// use examples_threading::wait_job::WaitJob;
    /// let job = WaitJob { waits: 24, wait: Duration::from_millis(5) };
    /// assert_eq!(job.ideal_speedup(4), 4.0);
    /// assert_eq!(job.ideal_speedup(5), 24.0 / 5.0);
    /// ```
    pub fn ideal_speedup(&self, threads: usize) -> f64 {
        let rounds = self.waits.div_ceil(threads.max(1)).max(1);
        self.waits as f64 / rounds as f64
    }
}
