//! Mutex poisoning: a thread panicked while holding the lock.
//!
//! std marks the mutex poisoned and every later `lock()` returns
//! `Err(PoisonError)`, because the panic may have left the data half
//! updated. `PoisonError::into_inner` hands you the guard anyway. Do that
//! when the data is valid whatever point the panic hit (a cache you can
//! drop, a counter, data you check or repair first); do not when an
//! invariant may be broken, as in [`Ledger`] after a transfer panicked
//! between its debit and its credit. After repairing, `clear_poison`.
//!
//! ```
//! use examples_race_conditions::poison::Ledger;
//! use std::sync::Mutex;
//! let ledger = Mutex::new(Ledger::new(100));
//! let _ = std::thread::scope(|s| s.spawn(|| ledger.lock().unwrap().transfer(10, true)).join());
//! let err = ledger.lock().unwrap_err();
//! assert!(!err.into_inner().balanced()); // half a transfer
//! ```

use std::io::{self, Write};
use std::panic;
use std::thread;

use crate::team;

/// Money in two places; `from + to` must always equal `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ledger {
    /// The paying side.
    pub from: i64,
    /// The receiving side.
    pub to: i64,
    /// What the two must add up to.
    pub total: i64,
}

impl Ledger {
    /// All of `total` on the paying side.
    pub fn new(total: i64) -> Self {
        Ledger {
            from: total,
            to: 0,
            total,
        }
    }

    /// Moves `amount`; with `fail`, panics after the debit and before the
    /// credit (a bug, a failed allocation, an `unwrap` on bad input...).
    pub fn transfer(&mut self, amount: i64, fail: bool) {
        self.from -= amount;
        if fail {
            panic!("transfer failed half-way (debited {amount}, not credited)");
        }
        self.to += amount;
    }

    /// Whether the invariant holds.
    pub fn balanced(&self) -> bool {
        self.from + self.to == self.total
    }
}

/// Replaces the panic hook so that a panic in a thread whose name starts
/// with `prefix` prints one line on stdout saying it was expected (it is
/// part of the demonstration, not an error), instead of the default message
/// and backtrace hint on stderr; panics elsewhere print as before.
pub fn expect_panics_in(prefix: &'static str) {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let current = thread::current();
        match current.name() {
            Some(name) if name.starts_with(prefix) => {
                let message = info
                    .payload()
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| info.payload().downcast_ref::<&str>().copied())
                    .unwrap_or("(no message)");
                // Not println!: a panic inside the panic hook aborts the
                // process. A failed write is reported by the main thread's
                // next print (exit 74).
                let line = format!("expected panic in thread '{name}': {message}\n");
                let _ = io::stdout().lock().write_all(line.as_bytes());
            }
            _ => default(info),
        }
    }));
}

/// What [`demonstrate`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Demo {
    /// The worker panicked with the lock held.
    pub panicked: bool,
    /// Threads whose `lock()` returned `Err(PoisonError)` afterwards.
    pub poisoned: usize,
    /// The ledger as `into_inner()` handed it over.
    pub recovered: Ledger,
    /// After the repair and `clear_poison()`: `lock()` is `Ok` and the
    /// ledger balances.
    pub repaired: bool,
}

/// A thread named `doomed transfer` makes `transfers` transfers of 1, then
/// one that panics half-way, all under the lock; then `threads` threads
/// each try `lock()`; then the data is recovered with `into_inner()`,
/// repaired (the missing credit is the amount the sum falls short by) and
/// the poison cleared. Call [`expect_panics_in`]`("doomed")` first to keep
/// the panic to one line.
pub fn demonstrate(threads: usize, transfers: usize) -> std::io::Result<Demo> {
    use std::sync::{Arc, Mutex};
    let ledger = Arc::new(Mutex::new(Ledger::new(2 * transfers as i64 + 10)));
    let worker = Arc::clone(&ledger);
    let panicked = thread::Builder::new()
        .name("doomed transfer".into())
        .spawn(move || {
            let mut guard = worker.lock().unwrap_or_else(|e| e.into_inner());
            for _ in 0..transfers {
                guard.transfer(1, false);
            }
            guard.transfer(1, true);
        })?
        .join()
        .is_err();
    let poisoned = team::run(threads, |_| ledger.lock().is_err())?
        .into_iter()
        .filter(|&saw| saw)
        .count();
    // The moment to decide: the data is ours, but is it sound?
    let mut guard = ledger.lock().unwrap_or_else(|e| e.into_inner());
    let recovered = *guard;
    guard.to = guard.total - guard.from;
    drop(guard);
    ledger.clear_poison();
    let repaired = ledger.lock().map(|l| l.balanced()).unwrap_or(false);
    Ok(Demo {
        panicked,
        poisoned,
        recovered,
        repaired,
    })
}
