//! Dining philosophers: N philosophers, N forks, each needs both neighbours'.
//!
//! The naive table (left fork, then right) deadlocks when every philosopher
//! holds a left fork: the wait-for cycle runs all the way round. Two fixes:
//! resource ordering (take the lower-numbered fork first, so the last
//! philosopher reaches across and the cycle cannot close) and a waiter who
//! seats at most N-1 philosophers at once (one fork is always left over).
//!
//! [`eat`] is generic over [`Lock`], so `tests/shuttle.rs` runs it on
//! shuttle's mutexes.

use crate::lock::Lock;
use crate::rendezvous::Rendezvous;
use crate::team::{self, Refused};
use crate::wait_graph::{self, Outcome, WaitGraph, WatchedMutex};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How the table is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Table {
    /// Left fork, then right.
    Naive,
    /// Lower-numbered fork first.
    Ordered,
    /// Left, then right, but a waiter seats at most N-1 at once.
    Waiter,
}

impl Table {
    /// A short label for output.
    pub fn label(self) -> &'static str {
        match self {
            Table::Naive => "naive   (left, then right)",
            Table::Ordered => "ordered (lower fork first)",
            Table::Waiter => "waiter  (seats N-1)",
        }
    }
}

/// The forks philosopher `seat` of `n` takes, in the order taken.
///
/// ```
/// use examples_race_conditions::dining::{Table, forks};
/// assert_eq!(forks(Table::Naive, 4, 5), [4, 0]);
/// assert_eq!(forks(Table::Ordered, 4, 5), [0, 4]);
/// ```
pub fn forks(table: Table, seat: usize, n: usize) -> [usize; 2] {
    let (left, right) = (seat, (seat + 1) % n);
    match table {
        Table::Naive | Table::Waiter => [left, right],
        Table::Ordered => [left.min(right), left.max(right)],
    }
}

/// Takes `order[0]`, runs `between`, takes `order[1]`, then runs `meal`
/// holding both; each fork counts the meals eaten with it.
pub fn eat<L: Lock<Data = u64>>(
    forks: &[L],
    order: [usize; 2],
    between: impl FnOnce(),
    meal: impl FnOnce(),
) {
    let mut first = forks[order[0]].acquire();
    between();
    let mut second = forks[order[1]].acquire();
    meal();
    *first += 1;
    *second += 1;
}

/// Seats at most `seats` philosophers at once; the rest wait for a chair.
#[derive(Debug)]
pub struct Waiter {
    free: Mutex<usize>,
    chair_freed: Condvar,
}

/// A chair at the table; given back to the [`Waiter`] on drop.
#[derive(Debug)]
pub struct Seat<'a>(&'a Waiter);

impl Waiter {
    /// A waiter with `seats` chairs.
    pub fn new(seats: usize) -> Self {
        Waiter {
            free: Mutex::new(seats),
            chair_freed: Condvar::new(),
        }
    }

    /// Blocks until a chair is free and takes it.
    pub fn seat(&self) -> Seat<'_> {
        let free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        let mut free = self
            .chair_freed
            .wait_while(free, |free| *free == 0)
            .unwrap_or_else(PoisonError::into_inner);
        *free -= 1;
        Seat(self)
    }
}

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.chair_freed.notify_one();
    }
}

/// How a table ended.
#[derive(Debug)]
pub struct Report {
    /// Finished, deadlocked (with the cycle) or stalled.
    pub outcome: Outcome,
    /// Meals eaten by each philosopher.
    pub meals: Vec<u64>,
}

impl Report {
    /// Whether the table ended as the lesson claims: the naive one in a
    /// deadlock, the fixed ones finished with every philosopher fed.
    pub fn as_claimed(&self, table: Table) -> bool {
        match self.outcome {
            Outcome::Deadlock(_) => table == Table::Naive,
            Outcome::Finished => table != Table::Naive && self.meals.iter().all(|&m| m > 0),
            Outcome::Stalled(_) => false,
        }
    }

    /// The output: one row with the meals per philosopher, then the cycle
    /// of waits if there is one.
    pub fn lines(&self, table: Table) -> Vec<String> {
        let meals: String = self.meals.iter().map(|m| format!("{m:>5}")).collect();
        let label = table.label();
        match &self.outcome {
            Outcome::Deadlock(cycle) => {
                std::iter::once(format!("{label:<28} deadlock; meals{meals}"))
                    .chain(cycle.iter().map(|wait| format!("  {wait}")))
                    .collect()
            }
            Outcome::Finished => vec![format!(
                "{label:<28} meals{meals}   min/max {:.2}",
                self.fairness()
            )],
            Outcome::Stalled(_) => vec![format!("{label:<28} stalled, no cycle; meals{meals}")],
        }
    }

    /// Fewest meals over most meals: 1.0 is perfectly fair, 0.0 means
    /// someone starved (or nobody ate).
    pub fn fairness(&self) -> f64 {
        let min = self.meals.iter().min().copied().unwrap_or(0);
        let max = self.meals.iter().max().copied().unwrap_or(0);
        if max == 0 {
            0.0
        } else {
            min as f64 / max as f64
        }
    }
}

/// How long after the dinner ends [`run`]'s watchdog waits for every
/// philosopher to leave before calling the table stalled.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Runs a table of `n` philosophers for `duration` (each eats at least
/// once, even if that takes longer). Before the first meal,
/// each philosopher holding a first fork waits (up to 5 s) until every
/// philosopher who can hold one does: all N at the naive table, N-1 under
/// either fix. That forces the naive deadlock on every run and the worst
/// case on the fixed tables. A watchdog reports a deadlock as soon as it
/// forms, or gives up `limit` after the end; deadlocked threads stay blocked
/// and end with the process.
pub fn run(table: Table, n: usize, duration: Duration, limit: Duration) -> Result<Report, Refused> {
    let graph = Arc::new(WaitGraph::default());
    let forks: Arc<Vec<WatchedMutex<u64>>> = Arc::new(
        (0..n)
            .map(|i| WatchedMutex::new(format!("fork {i}"), 0, &graph))
            .collect(),
    );
    let parties = if table == Table::Naive { n } else { n - 1 };
    let meet = Rendezvous::new(parties);
    let waiter = Waiter::new(n - 1);
    let meals: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicUsize::new(0));
    // Every philosopher exists before anyone takes a fork: the rendezvous
    // never waits for a thread the system refused.
    let dine = {
        let (forks, meals, stop, finished) = (
            Arc::clone(&forks),
            Arc::clone(&meals),
            Arc::clone(&stop),
            Arc::clone(&finished),
        );
        move |seat: usize| {
            let order = self::forks(table, seat, n);
            let mut first_meal = true;
            // Every philosopher eats at least once, however late it starts:
            // "nobody starved" is then a fair claim.
            loop {
                let chair = (table == Table::Waiter).then(|| waiter.seat());
                let force = std::mem::take(&mut first_meal);
                let between = || {
                    if force {
                        meet.arrive(Duration::from_secs(5));
                    }
                };
                eat(&forks, order, between, || {
                    thread::sleep(Duration::from_micros(200))
                });
                meals[seat].fetch_add(1, Ordering::Relaxed);
                drop(chair);
                thread::sleep(Duration::from_micros(100));
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            finished.fetch_add(1, Ordering::SeqCst);
        }
    };
    let handles = team::spawn(n, |seat| format!("philosopher {seat}"), dine)?;
    let started = Instant::now();
    let outcome = wait_graph::watch(
        &graph,
        || {
            if started.elapsed() >= duration {
                stop.store(true, Ordering::Relaxed);
            }
            finished.load(Ordering::SeqCst) == n
        },
        duration + limit,
    );
    if let Outcome::Finished = outcome {
        for handle in handles {
            let _ = handle.join();
        }
    } else {
        stop.store(true, Ordering::Relaxed);
    }
    Ok(Report {
        outcome,
        meals: meals.iter().map(|m| m.load(Ordering::Relaxed)).collect(),
    })
}
