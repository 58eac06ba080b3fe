//! loom models: the racy read-modify-writes fail, their fixes hold, on every
//! interleaving loom can find. Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release -p examples-race-conditions --test loom`.
#![cfg(loom)]

use examples_race_conditions::account::{self, Account};
use examples_race_conditions::lost_update::{Counter, Way};
use examples_race_conditions::lost_wakeup::{Signal, Woke};
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

/// Two threads increment once each; the count must be 2.
fn two_increments(way: Way) {
    loom::model(move || {
        let counter = Arc::new(Counter::new(way));
        let other = {
            let counter = Arc::clone(&counter);
            thread::spawn(move || counter.increment())
        };
        counter.increment();
        other.join().unwrap();
        assert_eq!(counter.get(), 2, "lost update");
    });
}

#[test]
#[should_panic(expected = "lost update")]
fn racy_load_store_loses_an_update() {
    two_increments(Way::Racy);
}

#[test]
fn fetch_add_loses_nothing() {
    two_increments(Way::Atomic);
}

#[test]
fn mutex_loses_nothing() {
    two_increments(Way::Locked);
}

/// Two threads withdraw 100 from 100; the balance must not go negative and
/// exactly one withdrawal may succeed.
fn two_withdrawals(way: account::Way) {
    loom::model(move || {
        let account = Arc::new(Account::new(way, 100));
        let other = {
            let account = Arc::clone(&account);
            thread::spawn(move || account.withdraw(100))
        };
        let mine = account.withdraw(100);
        let theirs = other.join().unwrap();
        assert!(account.balance() >= 0, "overdrawn: {}", account.balance());
        assert!(mine ^ theirs, "exactly one withdrawal may succeed");
    });
}

#[test]
#[should_panic(expected = "overdrawn")]
fn racy_check_then_act_overdraws() {
    two_withdrawals(account::Way::Racy);
}

#[test]
fn lock_across_check_and_act_holds() {
    two_withdrawals(account::Way::Locked);
}

#[test]
fn compare_exchange_loop_holds() {
    two_withdrawals(account::Way::CompareExchange);
}

/// The fixed signal never loses a notification, whichever runs first. (The
/// naive one would leave the waiter blocked forever, which loom reports by
/// aborting the process, so it is shown by the program instead.)
#[test]
fn predicate_loop_never_misses_the_signal() {
    loom::model(|| {
        let signal = Arc::new(Signal::default());
        let notifier = {
            let signal = Arc::clone(&signal);
            thread::spawn(move || signal.notify())
        };
        assert_eq!(signal.wait(Duration::from_secs(3600)), Woke::Signalled);
        notifier.join().unwrap();
    });
}
