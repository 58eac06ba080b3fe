//! Mutex poisoning: a thread panics while holding a lock; every later
//! `lock()` returns `Err(PoisonError)`.
//!
//! Notice: the panic (expected, printed as one line) hit between a debit and
//! its credit, and poisoning is sticky: every thread that locks afterwards
//! is told. `into_inner()` recovers the data anyway, and here it shows why
//! you should not just carry on: the ledger no longer adds up. Recover only
//! when the data is valid whatever point the panic hit (a cache, a counter)
//! or after you check and repair it; then `clear_poison()`. Python has no
//! poisoning: a `with lock:` block that raises releases the lock and leaves
//! the half-done update for the next thread to trip over.

use clap::Parser;
use examples_race_conditions::poison::{self, Ledger};
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Parser)]
#[command(about = "Mutex poisoning: PoisonError after a panic, into_inner, and when not to")]
struct Args {
    /// Threads that lock after the panic (at most 64).
    #[arg(long, default_value_t = 4, value_parser = lesson::at_least_one)]
    threads: usize,
    /// Transfers of 1 that succeed before the failing one (at most 1_000).
    #[arg(long, default_value_t = 10, value_parser = lesson::at_least_one)]
    iterations: usize,
}

fn main() -> std::io::Result<()> {
    let args: Args = lesson::args();
    if args.threads > 64 || args.iterations > 1_000 {
        lesson::usage_error("--threads is at most 64 and --iterations at most 1_000");
    }
    let total = 2 * args.iterations as i64 + 10;
    let ledger = Arc::new(Mutex::new(Ledger::new(total)));
    poison::expect_panics_in("doomed");
    let worker = Arc::clone(&ledger);
    let iterations = args.iterations;
    let panicked = thread::Builder::new()
        .name("doomed transfer".into())
        .spawn(move || {
            let mut guard = worker.lock().unwrap_or_else(|e| e.into_inner());
            for _ in 0..iterations {
                guard.transfer(1, false);
            }
            guard.transfer(1, true); // panics with the lock held
        })?
        .join()
        .is_err();
    let poisoned = (0..args.threads)
        .map(|_| {
            let ledger = Arc::clone(&ledger);
            thread::spawn(move || ledger.lock().is_err())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap_or(false))
        .filter(|&saw| saw)
        .count();
    // Recover the data to look at it: this is the moment to decide.
    let mut guard = ledger.lock().unwrap_or_else(|e| e.into_inner());
    let broken = *guard;
    println!(
        "transfers before the panic     {} of 1 each",
        args.iterations
    );
    println!(
        "panicked holding the lock      {}",
        if panicked { "yes" } else { "no" }
    );
    println!(
        "lock() after the panic         Err(PoisonError) in {poisoned} of {} threads",
        args.threads
    );
    println!(
        "into_inner() sees              from {} + to {} = {} of {}: {}",
        broken.from,
        broken.to,
        broken.from + broken.to,
        broken.total,
        if broken.balanced() {
            "consistent"
        } else {
            "half a transfer"
        }
    );
    // Repair from what we know (the debit that lacks its credit), then clear.
    guard.to = guard.total - guard.from;
    drop(guard);
    ledger.clear_poison();
    let repaired = ledger.lock().map(|l| l.balanced()).unwrap_or(false);
    println!(
        "repair, then clear_poison()    lock() is {}, ledger {}",
        if ledger.is_poisoned() { "Err" } else { "Ok" },
        if repaired { "balanced" } else { "still broken" }
    );
    println!(
        "lesson: a PoisonError means an invariant may be broken; into_inner only after you check or repair it"
    );
    if !(panicked && poisoned == args.threads && !broken.balanced() && repaired) {
        eprintln!(
            "error: the lock was not poisoned for every thread, or the data was not as claimed"
        );
        std::process::exit(1);
    }
    Ok(())
}
