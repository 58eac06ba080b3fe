//! Deadlock: two transfers lock two accounts in opposite orders.
//!
//! A transfer from A to B locks A, then B; one from B to A locks B, then A.
//! If each takes its first lock before either takes its second, both wait
//! forever. The fix is one global order: every transfer locks the account
//! with the lower number first, whichever way the money goes, so no thread
//! can hold the second lock of another's pair while waiting for the first.
//!
//! [`transfer`] is generic over [`Lock`]: [`run`] calls it on watched std
//! mutexes, and `tests/shuttle.rs` on shuttle's, to prove both claims.

use crate::lock::Lock;
use crate::rendezvous::Rendezvous;
use crate::team::{self, Refused};
use crate::wait_graph::{self, Outcome, WaitGraph, WatchedMutex};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Which lock of the pair a transfer takes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// The source account, then the destination: opposite transfers take
    /// the locks in opposite orders.
    Naive,
    /// The lower-numbered account first, always.
    Global,
}

impl Order {
    /// A short label for output.
    pub fn label(self) -> &'static str {
        match self {
            Order::Naive => "naive: each transfer locks its source first",
            Order::Global => "lock order: every transfer locks A, then B",
        }
    }
}

/// How long [`run`]'s watchdog waits for the threads to finish, or a
/// deadlock to form, before calling the run stalled.
pub const LIMIT: Duration = Duration::from_secs(10);

/// The order in which a transfer `from` -> `to` takes the two locks.
///
/// ```
/// use examples_race_conditions::deadlock::{Order, lock_order};
/// assert_eq!(lock_order(Order::Naive, 1, 0), [1, 0]);
/// assert_eq!(lock_order(Order::Global, 1, 0), [0, 1]);
/// ```
pub fn lock_order(order: Order, from: usize, to: usize) -> [usize; 2] {
    match order {
        Order::Naive => [from, to],
        Order::Global => [from.min(to), from.max(to)],
    }
}

/// Moves `amount` from `accounts[from]` to `accounts[to]`, holding both
/// locks, taken in `order`; `between` runs while only the first is held.
pub fn transfer<L: Lock<Data = i64>>(
    accounts: &[L],
    from: usize,
    to: usize,
    amount: i64,
    order: Order,
    between: impl FnOnce(),
) {
    let [first, second] = lock_order(order, from, to);
    let mut first_guard = accounts[first].acquire();
    between();
    let mut second_guard = accounts[second].acquire();
    let (source, destination) = if first == from {
        (&mut *first_guard, &mut *second_guard)
    } else {
        (&mut *second_guard, &mut *first_guard)
    };
    *source -= amount;
    *destination += amount;
}

/// How [`run`] ended.
#[derive(Debug)]
pub struct Report {
    /// Finished, deadlocked (with the cycle) or stalled.
    pub outcome: Outcome,
    /// Transfers completed when the watchdog looked last.
    pub transfers: usize,
    /// The two balances, if every thread finished (a deadlocked thread
    /// still holds its lock, so nobody can read them).
    pub balances: Option<[i64; 2]>,
}

/// Starting balance of each account in [`run`].
pub const START_BALANCE: i64 = 1_000;

/// `threads` threads each make `iterations` transfers of 1 between
/// accounts A and B: even threads A -> B, odd threads B -> A. On the first
/// transfer, every thread that holds its first lock waits (up to 5 s) for
/// the others that can hold one too: two under the naive order (one per
/// lock), one under the global order (everyone starts with A). That forces
/// the naive deadlock on every run. A watchdog reports a deadlock as soon as
/// it forms, or gives up after `limit`; deadlocked threads are left blocked
/// (nothing can free them) and end with the process.
pub fn run(
    order: Order,
    threads: usize,
    iterations: usize,
    limit: Duration,
) -> Result<Report, Refused> {
    let graph = Arc::new(WaitGraph::default());
    let accounts = Arc::new([
        WatchedMutex::new("lock A", START_BALANCE, &graph),
        WatchedMutex::new("lock B", START_BALANCE, &graph),
    ]);
    let parties = match order {
        Order::Naive => threads.min(2),
        Order::Global => 1,
    };
    let meet = Arc::new(Rendezvous::new(parties));
    let done = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    // All threads exist before any takes a lock: the rendezvous never
    // waits for a thread the system refused.
    let work = {
        let (accounts, done, finished) = (
            Arc::clone(&accounts),
            Arc::clone(&done),
            Arc::clone(&finished),
        );
        move |t: usize| {
            let (from, to) = (t % 2, 1 - t % 2);
            for i in 0..iterations {
                transfer(&*accounts, from, to, 1, order, || {
                    if i == 0 {
                        meet.arrive(Duration::from_secs(5));
                    }
                });
                done.fetch_add(1, Ordering::Relaxed);
            }
            finished.fetch_add(1, Ordering::SeqCst);
        }
    };
    let handles = team::spawn(threads, |t| format!("thread {}", t + 1), work)?;
    let outcome = wait_graph::watch(&graph, || finished.load(Ordering::SeqCst) == threads, limit);
    let mut balances = None;
    if let Outcome::Finished = outcome {
        for handle in handles {
            let _ = handle.join();
        }
        balances = Some([*accounts[0].acquire(), *accounts[1].acquire()]);
    }
    Ok(Report {
        outcome,
        transfers: done.load(Ordering::Relaxed),
        balances,
    })
}
