//! Stopping a pool program cleanly: only the parent decides.
//!
//! Ctrl-C reaches every process in the terminal's foreground process
//! group, and `kill -TERM -PGID` (a supervisor stopping a service, a shell
//! killing a job) every process in the group. If the workers died of
//! those signals on their own, the parent would meet a pool of dead and
//! freshly replaced workers in the middle of its shutdown. So the workers
//! ignore both ([`ignore_stop_signals`], the pool's initializer) and the
//! parent, which catches them as a flag, stops handing out work, closes
//! the workers' pipes, waits with a deadline and reaps every one.
//! A worker still dies with a parent that is SIGKILLed (`PR_SET_PDEATHSIG`).
//!
//! Python: `Pool(initializer=lambda: signal.signal(signal.SIGINT,
//! signal.SIG_IGN))`, then `pool.terminate(); pool.join()` on
//! `KeyboardInterrupt`.

use std::fmt;
use std::time::Duration;

use lesson::Failure;
use nix::sys::signal::{SigHandler, Signal, signal};
use process_pool::testing::{live_children, new_fds_per_worker, open_fds};
use process_pool::{Error, Pool, ShutdownReport};

use crate::failure::{claim, pool_failure};

/// A pool initializer: this worker ignores `SIGINT` and `SIGTERM`, so a
/// signal to the whole process group stops only the parent, which then
/// shuts the pool down.
///
/// ```no_run
/// let pool = process_pool::Pool::builder(2)
///     .initializer(examples_multiprocessing::shutdown::ignore_stop_signals)
///     .build()?;
/// # Ok::<(), process_pool::Error>(())
/// ```
pub fn ignore_stop_signals() {
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: installing SIG_IGN runs no code of ours.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
}

/// Results of a run that a stop signal may cut short, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Tasks whose result was right.
    pub done: usize,
    /// Tasks lost with a worker someone killed (each printed as `lost`).
    pub lost: usize,
}

/// Drains `results` (an `imap_unordered` over task inputs `0..n`), checking
/// each value with `right(input, value)`: a right result counts as done, a
/// task lost with its worker is printed and counted, cancellation (the
/// stop signal) ends the drain early. A wrong result or any other error
/// ends the program.
pub fn tally<R>(
    results: impl IntoIterator<Item = Result<(usize, R), Error>>,
    right: impl Fn(u64, &R) -> bool,
) -> Result<Tally, Failure> {
    let mut t = Tally::default();
    for r in results {
        match r {
            Ok((i, v)) if right(i as u64, &v) => t.done += 1,
            Ok((i, _)) => return Err(Failure::claim(format!("task {i}: wrong result"))),
            Err(Error::Cancelled) => break, // the pool stopped handing out work
            Err(e @ Error::WorkerDied { .. }) => {
                println!("lost           {e}"); // someone killed a worker
                t.lost += 1;
            }
            Err(e) => return Err(pool_failure(e)),
        }
    }
    Ok(t)
}

/// What a pool left behind after its shutdown, measured; see
/// [`shut_down`]. Displays as three aligned lines.
#[derive(Debug, Clone)]
pub struct Leftovers {
    /// Descriptors each worker held beyond the parent's, just before the
    /// shutdown (2 each: its own task and result pipes).
    pub worker_fds: Vec<usize>,
    /// How the workers ended.
    pub report: ShutdownReport,
    /// This process's children after the shutdown (none expected).
    pub children: Vec<i32>,
    /// This process's descriptors before the pool was built.
    pub fds_before: Vec<i32>,
    /// And after the shutdown.
    pub fds_after: Vec<i32>,
}

/// Looks at each worker's descriptors, then closes and joins `pool`
/// (closing the workers' pipes, waiting up to the deadline, killing
/// stragglers, reaping all), then counts this process's children and
/// descriptors against `fds_before` (taken before the pool was built).
pub fn shut_down(mut pool: Pool, fds_before: Vec<i32>) -> Result<Leftovers, Failure> {
    let worker_fds = new_fds_per_worker(&pool, &fds_before, Duration::from_secs(2))?;
    pool.close();
    let report = pool.join().map_err(pool_failure)?;
    Ok(Leftovers {
        worker_fds,
        report,
        children: live_children()?,
        fds_before,
        fds_after: open_fds(None)?,
    })
}

impl Leftovers {
    /// Every worker held only its own two pipe ends, no child is left and
    /// the descriptors are as before; else the claim failed.
    pub fn check(&self) -> Result<(), Failure> {
        let (fds, left) = (&self.worker_fds, &self.children);
        claim(fds.iter().all(|&n| n == 2), || {
            format!("a worker holds extra fds: {fds:?}")
        })?;
        claim(self.fds_after == self.fds_before, || {
            format!("fds {:?}, then {:?}", self.fds_before, self.fds_after)
        })?;
        claim(left.is_empty(), || {
            format!("children left after shutdown: {left:?}")
        })
    }
}

impl fmt::Display for Leftovers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fds = &self.worker_fds;
        writeln!(
            f,
            "worker fds     {fds:?} new in each worker (its own task and result pipes)"
        )?;
        let (exited, killed) = (self.report.exited, self.report.killed);
        writeln!(
            f,
            "shutdown       {exited} workers exited, {killed} killed after the deadline"
        )?;
        let (kids, before, after) = (
            self.children.len(),
            self.fds_before.len(),
            self.fds_after.len(),
        );
        write!(
            f,
            "children left  {kids}, fds {before} before the pool and {after} after"
        )
    }
}
