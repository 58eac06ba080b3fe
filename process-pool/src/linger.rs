//! How long the pool's sides look again before they sleep
//! ([`process_toolkit::linger`] says why they look at all).

use std::time::Duration;

pub(crate) use process_toolkit::linger::linger;

/// How long a side looks again before it sleeps: longer than a worker
/// takes between two batches of tiny results, or than the parent takes
/// between two calls in a loop; short enough that an idle pool is asleep
/// at once as far as anyone can tell, and that threads the program runs
/// right after a call hardly meet the workers still looking (they give
/// the CPU away, but each time it costs those threads a switch).
pub(crate) const LINGER: Duration = Duration::from_micros(50);
