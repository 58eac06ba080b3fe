//! Check-then-act: "is there enough money?" and "take it" as two steps.
//!
//! Each step can be atomic on its own and the pair still races: two threads
//! both see a balance of 100, both withdraw 100, and the account ends at
//! -100. The fixes make check and act one step: a lock held across both, or
//! a `compare_exchange` loop that only withdraws from the balance it checked.
//!
//! ```
//! use examples_race_conditions::account::{Way, forced_round};
//! // Two threads withdraw 100 from 100, paused between check and act.
//! assert_eq!(forced_round(Way::Racy, 2, 100, 100).balance, -100);
//! assert_eq!(forced_round(Way::CompareExchange, 2, 100, 100).balance, 0);
//! ```

use crate::sync::{AtomicI64, Mutex, Ordering, lock};

/// How an [`Account`] withdraws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    /// `if balance >= amount { balance -= amount }` as a load, then a
    /// `fetch_sub`: two atomic steps with a gap between them.
    Racy,
    /// Check and withdraw under one `Mutex` guard.
    Locked,
    /// Check the value read, then `compare_exchange` it for the new one;
    /// if another thread changed it meanwhile, check again.
    CompareExchange,
}

impl Way {
    /// The three ways, racy first.
    pub const ALL: [Way; 3] = [Way::Racy, Way::Locked, Way::CompareExchange];

    /// A short label for output.
    pub fn label(self) -> &'static str {
        match self {
            Way::Racy => "racy  (load, then fetch_sub)",
            Way::Locked => "lock  (check + act, one guard)",
            Way::CompareExchange => "cas   (compare_exchange loop)",
        }
    }
}

/// A balance that must never go below zero.
#[derive(Debug)]
pub struct Account {
    way: Way,
    balance: AtomicI64,
    locked: Mutex<i64>,
}

impl Account {
    /// An account holding `balance`.
    pub fn new(way: Way, balance: i64) -> Self {
        Account {
            way,
            balance: AtomicI64::new(balance),
            locked: Mutex::new(balance),
        }
    }

    /// Withdraws `amount` if the balance covers it; says whether it did.
    pub fn withdraw(&self, amount: i64) -> bool {
        self.withdraw_with(amount, || {})
    }

    /// [`withdraw`](Self::withdraw), running `between` once, after the
    /// first check and before the act (for the locked way, before taking the
    /// lock: a lock has no inside to pause in).
    pub fn withdraw_with(&self, amount: i64, between: impl FnOnce()) -> bool {
        match self.way {
            Way::Racy => {
                if self.balance.load(Ordering::SeqCst) >= amount {
                    between();
                    self.balance.fetch_sub(amount, Ordering::SeqCst);
                    true
                } else {
                    false
                }
            }
            Way::Locked => {
                between();
                let mut balance = lock(&self.locked);
                if *balance >= amount {
                    *balance -= amount;
                    true
                } else {
                    false
                }
            }
            Way::CompareExchange => {
                let mut between = Some(between);
                let mut seen = self.balance.load(Ordering::SeqCst);
                loop {
                    if seen < amount {
                        return false;
                    }
                    if let Some(pause) = between.take() {
                        pause();
                    }
                    // Succeeds only if the balance is still the one checked.
                    match self.balance.compare_exchange(
                        seen,
                        seen - amount,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    ) {
                        Ok(_) => return true,
                        Err(now) => seen = now,
                    }
                }
            }
        }
    }

    /// The balance now.
    pub fn balance(&self) -> i64 {
        match self.way {
            Way::Racy | Way::CompareExchange => self.balance.load(Ordering::SeqCst),
            Way::Locked => *lock(&self.locked),
        }
    }
}

/// How one round of concurrent withdrawals ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Round {
    /// Withdrawals that went through.
    pub paid: u64,
    /// The balance afterwards.
    pub balance: i64,
}

/// `threads` threads each withdraw `amount` from a fresh account of
/// `balance`; all of them check before any of them acts (a barrier sits
/// between check and act).
pub fn forced_round(way: Way, threads: usize, balance: i64, amount: i64) -> Round {
    let barrier = std::sync::Barrier::new(threads);
    round(way, threads, balance, amount, || {
        barrier.wait();
    })
}

/// Like [`forced_round`] but without the pause: the threads start together
/// at a barrier and race as the machine lets them.
pub fn free_round(way: Way, threads: usize, balance: i64, amount: i64) -> Round {
    round(way, threads, balance, amount, || {})
}

fn round(way: Way, threads: usize, balance: i64, amount: i64, pause: impl Fn() + Sync) -> Round {
    let account = Account::new(way, balance);
    let start = std::sync::Barrier::new(threads);
    let paid = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    account.withdraw_with(amount, &pause)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| u64::from(h.join().unwrap_or(false)))
            .sum()
    });
    Round {
        paid,
        balance: account.balance(),
    }
}
