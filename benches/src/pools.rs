//! The process pool (`examples_multiprocessing::pool::Pool`) set up for the
//! three workloads it runs here: counting primes, blocking waits and tiny
//! tasks. The pool itself lives in `examples-multiprocessing`; this module
//! only gives it the jobs and checks the answers.
//!
//! Build a pool before starting threads (`allow_threads(false)`, what
//! `compare` does at the top of `main`); criterion runs threads of its own,
//! so the benches pass `allow_threads = true`, the pool's documented opt-out:
//! the forked workers run only the job closure, which touches no lock those
//! threads could hold. A pool stays on the thread that built it.

use std::io;
use std::time::Duration;

use examples_multiprocessing::pool::{Error, Pool};
use examples_threading::work::{PrimeJob, WaitJob, blocking_wait, count_primes};

use crate::compare::tiny;

/// Workers that count the primes in `(start, end)`.
pub type PrimePool = Pool<(u64, u64), u64>;
/// Workers that block for the given milliseconds and answer 1.
pub type WaitPool = Pool<u64, u64>;
/// Workers that run [`tiny`].
pub type TinyPool = Pool<u64, u64>;

fn lost(e: Error) -> io::Error {
    io::Error::other(format!("process pool: {e}"))
}

/// Forks a [`PrimePool`] of `workers`.
pub fn prime_pool(workers: usize, allow_threads: bool) -> Result<PrimePool, Error> {
    Pool::builder(workers, |(start, end): (u64, u64)| count_primes(start..end))
        .allow_threads(allow_threads)
        .build()
}

/// Counts the primes of `job` on the pool, one task per slice, grouped in
/// chunks of about a quarter of the work per worker (as Python's
/// `Pool.map` chooses its default chunksize).
pub fn count_in_pool(pool: &mut PrimePool, job: &PrimeJob, workers: usize) -> io::Result<u64> {
    let slices = job.slices();
    let chunk = (slices.len() / (4 * workers.max(1))).max(1);
    pool.set_chunksize(chunk).map_err(lost)?;
    let results = pool
        .map(slices.into_iter().map(|r| (r.start, r.end)))
        .map_err(lost)?;
    results.into_iter().map(|r| r.map_err(lost)).sum()
}

/// Forks a [`WaitPool`] of `workers`.
pub fn wait_pool(workers: usize, allow_threads: bool) -> Result<WaitPool, Error> {
    Pool::builder(workers, |ms: u64| {
        blocking_wait(Duration::from_millis(ms));
        1u64
    })
    .allow_threads(allow_threads)
    .build()
}

/// Does the waits of `job` on the pool, one per task; returns how many.
pub fn waits_in_pool(pool: &mut WaitPool, job: &WaitJob) -> io::Result<usize> {
    pool.set_chunksize(1).map_err(lost)?;
    let ms = job.wait.as_millis() as u64;
    let results = pool.map(std::iter::repeat_n(ms, job.waits)).map_err(lost)?;
    let done: u64 = results
        .into_iter()
        .map(|r| r.map_err(lost))
        .sum::<io::Result<u64>>()?;
    Ok(done as usize)
}

/// Forks a [`TinyPool`] of `workers`.
pub fn tiny_pool(workers: usize, allow_threads: bool) -> Result<TinyPool, Error> {
    Pool::builder(workers, tiny)
        .allow_threads(allow_threads)
        .build()
}

/// `tasks` tiny tasks through the pool's `map`, `chunk` per message.
pub fn tiny_in_pool(pool: &mut TinyPool, tasks: u64, chunk: usize) -> io::Result<Vec<u64>> {
    pool.set_chunksize(chunk).map_err(lost)?;
    pool.map(0..tasks)
        .map_err(lost)?
        .into_iter()
        .map(|r| r.map_err(lost))
        .collect()
}

/// The pools `compare` uses, forked together at the start of `main`,
/// before any thread exists. A pool that could not start is kept as its
/// error, which becomes a one-line note under its table.
pub struct Pools {
    /// For `cpu_scaling`.
    pub primes: Result<PrimePool, String>,
    /// For `io_overlap`.
    pub waits: Result<WaitPool, String>,
    /// For `pool_overhead`.
    pub tiny: Result<TinyPool, String>,
}

impl Pools {
    /// Forks `workers` prime and tiny workers and `wait_workers` waiting
    /// ones. Call it while the process is still single-threaded.
    pub fn start(workers: usize, wait_workers: usize) -> Self {
        Self {
            primes: prime_pool(workers, false).map_err(|e| e.to_string()),
            waits: wait_pool(wait_workers, false).map_err(|e| e.to_string()),
            tiny: tiny_pool(workers, false).map_err(|e| e.to_string()),
        }
    }
}
