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
//! assert_eq!(forced_round(Way::Racy, 2, 100, 100)?.balance, -100);
//! assert_eq!(forced_round(Way::CompareExchange, 2, 100, 100)?.balance, 0);
//! # Ok::<(), examples_race_conditions::team::Refused>(())
//! ```

use crate::sync::{AtomicI64, Mutex, Ordering, lock};
use crate::team::{self, Refused};

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
/// between check and act). [`Refused`] if the system would not start them
/// all (none of them withdraws then).
pub fn forced_round(way: Way, threads: usize, balance: i64, amount: i64) -> Result<Round, Refused> {
    let barrier = std::sync::Barrier::new(threads);
    round(way, threads, balance, amount, || {
        barrier.wait();
    })
}

/// Like [`forced_round`] but without the pause: the threads start together
/// and race as the machine lets them.
pub fn free_round(way: Way, threads: usize, balance: i64, amount: i64) -> Result<Round, Refused> {
    round(way, threads, balance, amount, || {})
}

fn round(
    way: Way,
    threads: usize,
    balance: i64,
    amount: i64,
    pause: impl Fn() + Sync,
) -> Result<Round, Refused> {
    let account = Account::new(way, balance);
    // Every thread is running before any checks: the barrier in `pause`
    // then never waits for a thread that does not exist.
    let paid = team::run(threads, |_| account.withdraw_with(amount, &pause))?;
    Ok(Round {
        paid: paid.into_iter().map(u64::from).sum(),
        balance: account.balance(),
    })
}

/// Many rounds of one way, added up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rounds {
    /// Rounds run (counted).
    pub rounds: u64,
    /// Withdrawals paid over all rounds.
    pub paid: u64,
    /// The lowest balance any round ended with.
    pub lowest: i64,
    /// Rounds that ended below zero.
    pub overdrawn: u64,
}

/// `rounds` rounds of [`forced_round`] (`forced`) or [`free_round`], each
/// on a fresh account of `balance` from which every thread withdraws all.
pub fn rounds(
    way: Way,
    forced: bool,
    threads: usize,
    rounds: usize,
    balance: i64,
) -> Result<Rounds, Refused> {
    let mut sum = Rounds {
        rounds: 0,
        paid: 0,
        lowest: balance,
        overdrawn: 0,
    };
    for _ in 0..rounds {
        let r = match forced {
            true => forced_round(way, threads, balance, balance)?,
            false => free_round(way, threads, balance, balance)?,
        };
        sum.rounds += 1;
        sum.paid += r.paid;
        sum.lowest = sum.lowest.min(r.balance);
        sum.overdrawn += u64::from(r.balance < 0);
    }
    Ok(sum)
}
