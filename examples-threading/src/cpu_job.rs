//! The CPU-bound work the threading lessons measure: a fixed job that any
//! number of threads can share, and a small task for per-task costs.
//!
//! [`PrimeJob`] counts the primes below a limit by trial division. It is a
//! *fixed amount* of computation, cut into small slices so that any number
//! of threads can share it; every way of running it must give the same
//! answer. (A loop that runs "until a clock says stop" would fake a speedup
//! under a GIL: more threads just count more.) [`collatz`] is a task of a
//! few hundred ns, small enough that a pool's per-task cost shows.
//!
//! ```
//! use examples_threading::cpu_job::PrimeJob;
//!
//! let job = PrimeJob::new(10_000, 1_000);
//! assert_eq!(job.count_sequential(), 1_229);
//! assert_eq!(job.count_scoped(3)?, 1_229);
//! assert_eq!(job.count_rayon(), 1_229);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::ops::Range;
use std::thread;

use rayon::prelude::*;

use crate::measure::{Measured, measure};
use crate::spawn::refused;

/// Whether `n` is prime, by trial division with odd divisors up to `sqrt(n)`.
///
/// Deliberately plain: the point is a predictable amount of CPU work.
///
/// ```
/// use examples_threading::cpu_job::is_prime;
/// assert!(is_prime(2) && is_prime(97) && !is_prime(1) && !is_prime(91));
/// ```
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let mut d = 3;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

/// The number of primes in `range`.
///
/// ```
/// use examples_threading::cpu_job::count_primes;
/// assert_eq!(count_primes(0..100), 25);
/// assert_eq!(count_primes(0..50) + count_primes(50..100), 25);
/// ```
pub fn count_primes(range: Range<u64>) -> u64 {
    range.filter(|&n| is_prime(n)).count() as u64
}

/// Steps of the Collatz sequence from `n` down to 1: a few hundred ns of
/// work per call, small enough that a pool's per-task cost shows.
///
/// ```
/// use examples_threading::cpu_job::collatz;
/// assert_eq!(collatz(1), 0);
/// assert_eq!(collatz(6), 8); // 6 3 10 5 16 8 4 2 1
/// ```
pub fn collatz(mut n: u64) -> u64 {
    let mut steps = 0;
    while n > 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

/// A fixed CPU-bound job: count the primes in `0..limit`, in slices of
/// `slice_len` numbers that threads can take one at a time.
///
/// One slice of the default size takes tens of microseconds: small enough
/// that a thread that must yield (see [`crate::gil`]) does so promptly, large
/// enough that handing out slices costs nothing measurable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimeJob {
    /// Count the primes below this number.
    pub limit: u64,
    /// How many numbers one slice covers (at least 1).
    pub slice_len: u64,
}

impl PrimeJob {
    /// A job counting the primes below `limit` in slices of `slice_len`
    /// numbers (a `slice_len` of 0 is treated as 1).
    pub const fn new(limit: u64, slice_len: u64) -> Self {
        let slice_len = if slice_len == 0 { 1 } else { slice_len };
        Self { limit, slice_len }
    }

    /// The slices, in order; together they cover `0..limit` exactly once.
    ///
    /// ```
    /// use examples_threading::cpu_job::PrimeJob;
    /// assert_eq!(PrimeJob::new(10, 4).slices(), vec![0..4, 4..8, 8..10]);
    /// ```
    pub fn slices(&self) -> Vec<Range<u64>> {
        (0..self.limit)
            .step_by(self.slice_len as usize)
            .map(|start| start..(start + self.slice_len).min(self.limit))
            .collect()
    }

    /// The answer computed on the calling thread: the baseline.
    pub fn count_sequential(&self) -> u64 {
        count_primes(0..self.limit)
    }

    /// The answer computed by `threads` scoped threads (`std::thread::scope`,
    /// borrowing the slices, no `Arc`). Thread `i` takes slices `i`,
    /// `i + threads`, ...: dealt like cards, so every thread gets a fair mix
    /// of cheap small numbers and expensive large ones. (Cutting `0..limit`
    /// into `threads` contiguous chunks would leave the last thread with
    /// the most work.) Fails if the system refuses a thread.
    pub fn count_scoped(&self, threads: usize) -> io::Result<u64> {
        let threads = threads.max(1);
        let slices = self.slices();
        let slices = &slices;
        thread::scope(|s| {
            let mut handles = Vec::with_capacity(threads);
            for i in 0..threads {
                let mine = move || {
                    let dealt = slices.iter().skip(i).step_by(threads);
                    dealt.map(|r| count_primes(r.clone())).sum::<u64>()
                };
                // The threads share nothing but the input: on a refused
                // spawn the scope joins those that started, and we report.
                let h = thread::Builder::new().spawn_scoped(s, mine);
                handles.push(h.map_err(|e| refused(i + 1, threads, &e))?);
            }
            Ok(handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .sum())
        })
    }

    /// The answer computed by rayon's global pool (`par_iter` over the
    /// slices; work stealing balances the load).
    pub fn count_rayon(&self) -> u64 {
        self.slices().into_par_iter().map(count_primes).sum::<u64>()
    }
}

/// One way of running a [`PrimeJob`] and its fastest run, from [`best_of_ways`].
#[derive(Clone, Debug)]
pub struct Way {
    /// `"sequential"`, `"thread::scope (N)"` or `"rayon par_iter"`.
    pub name: String,
    /// What it counted (the same in every round, or [`best_of_ways`] fails).
    pub answer: u64,
    /// Its fastest run.
    pub best: Measured,
}

/// Runs `job` sequentially, on `threads` scoped threads and on `pool`,
/// `rounds` times interleaved (a burst of load from elsewhere hits one
/// round of one way, not the comparison), keeping each way's fastest run.
/// Fails if the system refuses a thread.
///
/// ```
/// use examples_threading::cpu_job::{PrimeJob, best_of_ways};
///
/// let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
/// let ways = best_of_ways(&PrimeJob::new(10_000, 100), 2, &pool, 1)?;
/// assert!(ways.iter().all(|w| w.answer == 1_229));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn best_of_ways(
    job: &PrimeJob,
    threads: usize,
    pool: &rayon::ThreadPool,
    rounds: usize,
) -> io::Result<Vec<Way>> {
    let scoped = format!("thread::scope ({threads})");
    let runs: [(&str, &dyn Fn() -> io::Result<u64>); 3] = [
        ("sequential", &|| Ok(job.count_sequential())),
        (&scoped, &|| job.count_scoped(threads)),
        ("rayon par_iter", &|| Ok(pool.install(|| job.count_rayon()))),
    ];
    let mut ways: Vec<Option<Way>> = vec![None, None, None];
    for _ in 0..rounds.max(1) {
        for ((name, run), slot) in runs.iter().zip(&mut ways) {
            let (answer, best) = measure(run);
            let answer = answer?;
            if slot.as_ref().is_some_and(|w| w.answer != answer) {
                let two = format!("{name} gave two different answers");
                return Err(io::Error::new(io::ErrorKind::InvalidData, two));
            }
            if slot.as_ref().is_none_or(|w| best.wall < w.best.wall) {
                let name = name.to_string();
                *slot = Some(Way { name, answer, best });
            }
        }
    }
    Ok(ways.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_range_once() {
        for (limit, len) in [(0, 5), (1, 1), (10, 3), (1000, 7), (1000, 1000), (5, 10)] {
            let job = PrimeJob::new(limit, len);
            let total: u64 = job.slices().iter().map(|r| r.end - r.start).sum();
            assert_eq!(total, limit, "limit {limit} len {len}");
            assert!(job.slices().windows(2).all(|w| w[0].end == w[1].start));
        }
    }

    #[test]
    fn every_way_of_counting_agrees() {
        let job = PrimeJob::new(50_000, 777);
        let want = 5_133;
        assert_eq!(job.count_sequential(), want);
        for threads in 1..=5 {
            assert_eq!(job.count_scoped(threads).unwrap(), want);
        }
        assert_eq!(job.count_rayon(), want);
    }
}
