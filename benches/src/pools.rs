//! The process pool (`process_pool::Pool`) on the workloads it runs here:
//! counting primes, blocking waits and tiny tasks. The pool takes the
//! function per call, so one pool runs the prime and the tiny job alike
//! ([`prime_pool`]); the waits get a pool of their own ([`wait_pool`]) only
//! because they want a different number of workers (one per wait). This
//! module only gives the pool its jobs and checks answers.
//!
//! Build a pool before starting threads (`allow_threads(false)`, what
//! `compare` does at the top of `main`); criterion runs threads of its own,
//! so the benches pass `allow_threads = true`, the pool's documented opt-out:
//! the fork server the pool forks at build runs only the job functions,
//! which touch no lock those threads could hold. A pool stays on the thread
//! that built it.

use std::io;
use std::time::Duration;

use examples_threading::work::{PrimeJob, WaitJob, blocking_wait, count_primes};
use process_pool::{Error, Pool};

use crate::compare::tiny;

fn lost(e: Error) -> io::Error {
    io::Error::other(format!("process pool: {e}"))
}

/// Forks a pool of `workers` for any job given per call: the primes and
/// the tiny tasks.
pub fn prime_pool(workers: usize, allow_threads: bool) -> Result<Pool, Error> {
    Pool::builder(workers).allow_threads(allow_threads).build()
}

/// The primes in `start..end`: the prime job's task.
fn primes_in((start, end): (u64, u64)) -> u64 {
    count_primes(start..end)
}

/// Counts the primes of `job` on the pool, one task per slice, in chunks of
/// about a sixteenth of each worker's share.
///
/// Python's `Pool.map` picks a quarter (`len / (4 * workers)`), which suits
/// equal tasks. These are not: a slice of larger numbers costs more, so the
/// last chunks are the heaviest, and with a quarter one worker sat idle
/// while the other finished the final one (the pool took 7% longer than
/// rayon; with sixteenths it was within 1%). Each chunk is still about
/// 5 ms of work (primes below 2,000,000), so the per-chunk cost stays out
/// of sight.
pub fn count_in_pool(pool: &mut Pool, job: &PrimeJob, workers: usize) -> io::Result<u64> {
    let slices = job.slices();
    let chunk = (slices.len() / (16 * workers.max(1))).max(1);
    let results = pool
        .chunked(chunk)
        .map(primes_in, slices.into_iter().map(|r| (r.start, r.end)))
        .map_err(lost)?;
    results.into_iter().map(|r| r.map_err(lost)).sum()
}

/// Forks a pool of `workers` for the waits.
pub fn wait_pool(workers: usize, allow_threads: bool) -> Result<Pool, Error> {
    Pool::builder(workers).allow_threads(allow_threads).build()
}

/// Blocks for `ms` milliseconds and answers 1: the wait job's task.
fn wait_ms(ms: u64) -> u64 {
    blocking_wait(Duration::from_millis(ms));
    1
}

/// Does the waits of `job` on the pool, one per task; returns how many.
pub fn waits_in_pool(pool: &mut Pool, job: &WaitJob) -> io::Result<usize> {
    let ms = job.wait.as_millis() as u64;
    let results = pool
        .map(wait_ms, std::iter::repeat_n(ms, job.waits))
        .map_err(lost)?;
    let done: u64 = results
        .into_iter()
        .map(|r| r.map_err(lost))
        .sum::<io::Result<u64>>()?;
    Ok(done as usize)
}

/// `tasks` tiny tasks through the pool's `try_map` (the values, or the
/// first task's error: what rayon's collect and Python's `Pool.map`
/// give), `chunk` per message.
pub fn tiny_in_pool(pool: &mut Pool, tasks: u64, chunk: usize) -> io::Result<Vec<u64>> {
    pool.chunked(chunk).try_map(tiny, 0..tasks).map_err(lost)
}

/// The pools `compare` uses, forked together at the start of `main`,
/// before any thread exists. A pool that could not start is kept as its
/// error, which becomes a one-line note under its table.
pub struct Pools {
    /// For `cpu_scaling` and `pool_overhead`: one pool, a function per call.
    pub pool: Result<Pool, String>,
    /// For `io_overlap`, which wants one worker per wait.
    pub waits: Result<Pool, String>,
}

impl Pools {
    /// Forks `workers` workers and `wait_workers` waiting ones. Call it
    /// while the process is still single-threaded.
    pub fn start(workers: usize, wait_workers: usize) -> Self {
        Self {
            pool: prime_pool(workers, false).map_err(|e| e.to_string()),
            waits: wait_pool(wait_workers, false).map_err(|e| e.to_string()),
        }
    }
}
