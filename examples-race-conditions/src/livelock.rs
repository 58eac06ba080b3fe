//! Livelock: polite threads that all back off at once, forever.
//!
//! Thread i needs lock i and lock i+1 (round a ring). It takes its own lock,
//! tries its neighbour's, and if that is busy it politely lets go and tries
//! again on the next tick. When every thread does this in the same rhythm,
//! every attempt finds the neighbour's lock busy: the threads are all
//! running, nobody is blocked, and no work gets done. Waiting a random
//! number of ticks before retrying breaks the rhythm.
//!
//! The rhythm here is exact, not hoped for: a barrier makes every thread
//! take its own lock, then try its neighbour's, then release, in lockstep
//! ticks. So the polite run makes no progress on every run, and the
//! randomised run is deterministic for a given seed.
//!
//! ```
//! use examples_race_conditions::livelock::{Backoff, run};
//! use std::time::Duration;
//! let stuck = run(Backoff::Lockstep, 2, 5, 50, Duration::from_secs(10))?;
//! assert_eq!((stuck.work.iter().sum::<u64>(), stuck.ticks), (0, 50));
//! let moving = run(Backoff::Random { seed: 1, window: 3 }, 2, 5, 1_000, Duration::from_secs(10))?;
//! assert_eq!(moving.work, vec![5, 5]);
//! # Ok::<(), examples_race_conditions::team::Refused>(())
//! ```

use crate::team::{self, Refused};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

/// When a thread that backed off tries again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// On the very next tick, like everyone else.
    Lockstep,
    /// After a random 0..=`window` ticks, drawn from a per-thread generator
    /// seeded with `seed` and the thread's number.
    Random {
        /// Seeds the per-thread generators.
        seed: u64,
        /// Largest wait, in ticks.
        window: u64,
    },
}

impl Backoff {
    /// Random backoff with a window that grows with the ring: up to two
    /// ticks per thread, so that neighbours rarely draw the same wait.
    pub fn random(seed: u64, threads: usize) -> Self {
        let window = 2 * threads as u64;
        Backoff::Random { seed, window }
    }

    /// A short label for output.
    pub fn label(self) -> String {
        match self {
            Backoff::Lockstep => "lockstep (retry next tick)".to_string(),
            Backoff::Random { window, .. } => {
                format!("random   (retry in 1..={} ticks)", window + 1)
            }
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Attempts (own lock taken, neighbour's tried) per thread.
    pub attempts: Vec<u64>,
    /// Units of work done per thread (both locks held once).
    pub work: Vec<u64>,
    /// Ticks until everyone finished or the deadline.
    pub ticks: u64,
    /// Whether the run stopped at its tick deadline rather than finishing.
    pub deadline_hit: bool,
    /// Whether it stopped at its time limit instead (a very slow machine):
    /// then the tick counts are short and say nothing.
    pub timed_out: bool,
}

impl Report {
    /// Units of work done by all threads.
    pub fn total_work(&self) -> u64 {
        self.work.iter().sum()
    }

    /// Attempts made by all threads.
    pub fn total_attempts(&self) -> u64 {
        self.attempts.iter().sum()
    }

    /// How the run ended, for output.
    pub fn ending(&self) -> &'static str {
        match (self.timed_out, self.deadline_hit) {
            (true, _) => "stopped by the time limit",
            (false, true) => "stopped at the deadline",
            (false, false) => "all done",
        }
    }

    /// One aligned output row: ticks, attempts, work done of `work` each.
    pub fn row(&self, backoff: Backoff, work: u64) -> String {
        format!(
            "{:<33} ticks {:>7}   attempts {:>7}   work {:>6} of {:>6}   {}",
            backoff.label(),
            self.ticks,
            self.total_attempts(),
            self.total_work(),
            work * self.work.len() as u64,
            self.ending()
        )
    }
}

/// `threads` threads (at least 2) each try to do `work` units, each unit
/// needing both its own lock and its neighbour's, in lockstep ticks, until
/// all are done or `max_ticks` ticks or `max_time` have passed. The ticks
/// are counted, not timed: on a busy machine a run is slower, not different.
/// [`Refused`] if the system would not start every thread (none ran then).
pub fn run(
    backoff: Backoff,
    threads: usize,
    work: u64,
    max_ticks: u64,
    max_time: Duration,
) -> Result<Report, Refused> {
    let locks: Vec<Mutex<()>> = (0..threads).map(|_| Mutex::new(())).collect();
    let tick = Barrier::new(threads);
    let done = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let deadline = Instant::now() + max_time;
    let timed_out = AtomicBool::new(false);
    // Every thread runs before the first tick: the tick barrier never waits
    // for a thread that the system refused.
    let results: Vec<(u64, u64, u64)> = team::run(threads, |me| {
        let mut rng = match backoff {
            Backoff::Random { seed, .. } => Some(StdRng::seed_from_u64(seed ^ me as u64)),
            Backoff::Lockstep => None,
        };
        let (mut attempts, mut finished_work, mut next_try, mut ticks) = (0, 0, 0, 0);
        loop {
            let trying = finished_work < work && ticks >= next_try;
            // Phase 1: take my own lock (only my left neighbour
            // ever tries it, and only in phase 2).
            let mine = if trying {
                locks[me].try_lock().ok()
            } else {
                None
            };
            tick.wait();
            // Phase 2: try my neighbour's.
            let theirs = mine
                .as_ref()
                .and_then(|_| locks[(me + 1) % threads].try_lock().ok());
            if mine.is_some() {
                attempts += 1;
                if theirs.is_some() {
                    finished_work += 1;
                    if finished_work == work {
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                } else {
                    // Busy: be polite, let go and retry later.
                    next_try = ticks
                        + 1
                        + match (&mut rng, backoff) {
                            (Some(rng), Backoff::Random { window, .. }) => {
                                rng.random_range(0..=window)
                            }
                            _ => 0,
                        };
                }
            }
            tick.wait();
            // Phase 3: release, and decide together whether to stop.
            drop(theirs);
            drop(mine);
            ticks += 1;
            if me == 0 {
                let finished = done.load(Ordering::SeqCst) == threads || ticks >= max_ticks;
                if finished || Instant::now() >= deadline {
                    timed_out.store(!finished, Ordering::SeqCst);
                    stop.store(true, Ordering::SeqCst);
                }
            }
            tick.wait();
            if stop.load(Ordering::SeqCst) {
                return (attempts, finished_work, ticks);
            }
        }
    })?;
    let ticks = results.first().map_or(0, |r| r.2);
    let work_done: Vec<u64> = results.iter().map(|r| r.1).collect();
    let timed_out = timed_out.load(Ordering::SeqCst);
    Ok(Report {
        attempts: results.iter().map(|r| r.0).collect(),
        deadline_hit: !timed_out && work_done.iter().any(|&w| w < work),
        timed_out,
        work: work_done,
        ticks,
    })
}
