//! Tasks that fail on purpose, one way each, to show (and check) that the
//! [pool](crate::pool) contains every failure to its own task: one task
//! kills its worker with `SIGKILL` (as a segfault or the OOM killer
//! would), one panics, one hangs; and a job where every task kills its
//! worker, which must stop at the restart cap instead of forking forever.
//!
//! ```no_run
//! use std::time::Duration;
//! use examples_multiprocessing::faults::{self, Faults};
//!
//! let f = Faults { crash: 3, panic: 5, hang: 7 };
//! let run = faults::run(2, 10, f, 1, Duration::from_millis(500), 1)?;
//! assert!(run.each_failed_its_own_way() && run.good == 7 && run.initializer_ran());
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Result, ensure};
use nix::sys::signal::{Signal, raise};

use crate::cpu_work::{rounds_per_ms, spin};
use crate::failure::claim;
use crate::pool::{Death, Error, Pool, Replacement};

/// Which tasks (by input position) fail, and how.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// Kills its own worker with `SIGKILL`.
    pub crash: u64,
    /// Panics.
    pub panic: u64,
    /// Sleeps forever (a deadlock, an endless loop).
    pub hang: u64,
}

impl Faults {
    /// The three chosen tasks of a job of `tasks`: they must differ and lie
    /// below `tasks`; the error says so in one line.
    ///
    /// ```
    /// use examples_multiprocessing::faults::Faults;
    /// assert!(Faults::chosen(17, 23, 29, 40).is_ok());
    /// assert!(Faults::chosen(3, 3, 5, 40).is_err());
    /// assert!(Faults::chosen(3, 4, 40, 40).is_err());
    /// ```
    pub fn chosen(crash: u64, panic: u64, hang: u64, tasks: u64) -> Result<Self, String> {
        let distinct = crash != panic && crash != hang && panic != hang;
        if !distinct || crash.max(panic).max(hang) >= tasks {
            return Err(format!(
                "--crash-task {crash}, --panic-task {panic}, --hang-task {hang}: three different tasks below --tasks {tasks}"
            ));
        }
        Ok(Self { crash, panic, hang })
    }
}

/// Set by the initializer in each worker: its own pid (0 if it never ran).
static INITIALIZED_IN: AtomicU32 = AtomicU32::new(0);

/// What [`run`] saw. Displays as aligned lines: the workers, each failure,
/// each replacement, where the initializer ran, the other results.
#[derive(Debug)]
pub struct FaultRun {
    /// The chosen tasks.
    pub faults: Faults,
    /// The workers before the run.
    pub workers: Vec<i32>,
    /// Every task's result: its [`spin`] value and the pid its initializer
    /// recorded, or the error.
    pub results: Vec<Result<(u64, u32), Error>>,
    /// Results equal to the sequential answer.
    pub good: usize,
    /// Workers replaced during the run.
    pub replacements: Vec<Replacement>,
    /// Pids the initializer recorded, as seen in the results.
    pub inits: BTreeSet<u32>,
}

impl FaultRun {
    /// The per-task errors, in input order.
    pub fn failures(&self) -> impl Iterator<Item = &Error> {
        self.results.iter().filter_map(|r| r.as_ref().err())
    }

    /// Whether the crashing task lost its worker to `SIGKILL`, the
    /// panicking one panicked and the hanging one timed out.
    pub fn each_failed_its_own_way(&self) -> bool {
        let at = |i: u64| self.results.get(i as usize);
        matches!(
            at(self.faults.crash),
            Some(Err(Error::WorkerDied {
                cause: Death::Signaled(Signal::SIGKILL),
                ..
            }))
        ) && matches!(at(self.faults.panic), Some(Err(Error::Panicked { .. })))
            && matches!(at(self.faults.hang), Some(Err(Error::TimedOut { .. })))
    }

    /// The lesson's claim: the three chosen tasks failed, each its own way;
    /// every other result is right; exactly two workers (the killed and the
    /// timed-out one) were replaced; every result came from an initialized
    /// worker; and `capped` (from [`every_task_kills_its_worker`] with a
    /// cap of 4) is the pool giving up after 5 deaths.
    pub fn check(&self, capped: &Option<Error>) -> Result<(), lesson::Failure> {
        let (replaced, good) = (self.replacements.len(), self.good);
        let others = self.results.len().saturating_sub(3);
        claim(
            self.each_failed_its_own_way(),
            || "the chosen tasks did not fail as expected",
        )?;
        claim(good == others && replaced == 2, || {
            format!("{good} good results and {replaced} replacements, expected {others} and 2")
        })?;
        claim(
            self.initializer_ran(),
            || "a result came from a worker whose initializer did not run",
        )?;
        claim(
            matches!(capped, Some(Error::Broken { restarts: 5, .. })),
            || "the restart cap did not stop the pool after 5 deaths",
        )
    }

    /// Whether every result came from a worker of this pool (first ones and
    /// replacements) whose initializer ran.
    pub fn initializer_ran(&self) -> bool {
        let mut pids = self.workers.clone();
        pids.extend(self.replacements.iter().filter_map(|r| r.new_pid));
        self.inits.iter().all(|&p| pids.contains(&(p as i32)))
    }
}

impl fmt::Display for FaultRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "workers        {:?}", self.workers)?;
        for e in self.failures() {
            writeln!(f, "failed         {e}")?;
        }
        for r in &self.replacements {
            writeln!(f, "replacement    {r}")?;
        }
        let inits = &self.inits;
        writeln!(
            f,
            "initializer    ran in {inits:?}, each a worker of this pool"
        )?;
        let others = self.results.len().saturating_sub(3);
        write!(
            f,
            "other results  {} of {others} equal the sequential answer",
            self.good
        )
    }
}

/// Runs `tasks` tasks of about `task_ms` of CPU on a pool of `workers`
/// with an initializer, `chunksize` and a `timeout` per task, where the
/// tasks chosen in `faults` fail; checks every other result against the
/// sequential answer (a wrong one is an error).
pub fn run(
    workers: usize,
    tasks: usize,
    faults: Faults,
    chunksize: usize,
    timeout: Duration,
    task_ms: usize,
) -> Result<FaultRun> {
    let rounds = rounds_per_ms() * task_ms as u64;
    let job = move |i: u64| {
        if i == faults.crash {
            let _ = raise(Signal::SIGKILL);
        }
        assert!(i != faults.panic, "task {i} panics on purpose");
        if i == faults.hang {
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        (spin(i, rounds), INITIALIZED_IN.load(Relaxed))
    };
    // The initializer runs once in every worker, replacements included.
    // The job captures the chosen faults before the fork: a build-time job.
    let mut builder = Pool::builder(workers);
    let job = builder.job(job);
    let mut pool = builder
        .initializer(|| INITIALIZED_IN.store(std::process::id(), Relaxed))
        .task_timeout(timeout)
        .build()?;
    let pids = pool.pids();
    let results = pool.chunked(chunksize).map(job, 0..tasks as u64)?;
    let (mut good, mut inits) = (0, BTreeSet::new());
    for (i, r) in results.iter().enumerate() {
        if let Ok((v, init)) = r {
            ensure!(*v == spin(i as u64, rounds), "task {i}: wrong result");
            inits.insert(*init);
            good += 1;
        }
    }
    Ok(FaultRun {
        faults,
        workers: pids,
        results,
        good,
        replacements: pool.replacements().to_vec(),
        inits,
    })
}

/// Runs 1000 tasks that each kill their worker on a pool of `workers` with
/// `max_restarts`; returns the whole-call error `map` gave up with
/// (`None` if it did not: a bug).
pub fn every_task_kills_its_worker(workers: usize, max_restarts: usize) -> Result<Option<Error>> {
    let mut doomed = Pool::builder(workers).max_restarts(max_restarts).build()?;
    let kill_self = |_: u64| -> u64 {
        let _ = raise(Signal::SIGKILL);
        0
    };
    Ok(doomed.map(kill_self, 0..1000).err())
}
