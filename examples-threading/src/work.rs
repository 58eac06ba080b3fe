//! The two kinds of work the threading lessons measure, and how they are
//! run and timed, gathered under one name for callers that want them all
//! (`examples_threading::work::PrimeJob` keeps working):
//!
//! - computing: [`crate::cpu_job`] ([`PrimeJob`], [`count_primes`], [`collatz`]);
//! - waiting: [`crate::wait_job`] ([`WaitJob`], [`blocking_wait`]) and
//!   [`crate::slow_server`] (a loopback server to wait on);
//! - running N calls: [`crate::fan_out`]; counters per thread:
//!   [`crate::false_sharing`];
//! - timing: [`crate::measure`] (wall time, CPU time, context switches).
//!
//! ```
//! use examples_threading::work::{PrimeJob, measure};
//!
//! let (answer, m) = measure(|| PrimeJob::new(10_000, 1_000).count_sequential());
//! assert_eq!(answer, 1_229);
//! assert!(m.wall > std::time::Duration::ZERO);
//! ```

pub use crate::cpu_job::{PrimeJob, collatz, count_primes, is_prime};
pub use crate::false_sharing::bump_own_counters;
pub use crate::fan_out::{Fanout, fan_out};
pub use crate::measure::{Measured, measure};
pub use crate::slow_server::{SlowServer, echo_all, request};
pub use crate::wait_job::{WaitJob, blocking_wait, sleep_until};
