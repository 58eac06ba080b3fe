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
//! the half-done update for the next thread to trip over. Exit 1 if a claim
//! fails, 71 if a thread is refused.

use clap::Parser;
use examples_race_conditions::poison;
use lesson::Failure;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Mutex poisoning: PoisonError after a panic, into_inner, and when not to")]
struct Args {
    /// Threads that lock after the panic.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: u16,
    /// Transfers of 1 that succeed before the failing one.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1_000))]
    iterations: u16,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    poison::expect_panics_in("doomed");
    let n = usize::from(args.threads);
    let demo = poison::demonstrate(n, usize::from(args.iterations))?;
    let seen = demo.recovered;
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    println!(
        "transfers before the panic     {} (1 each)",
        args.iterations
    );
    println!("panicked holding the lock      {}", yes_no(demo.panicked));
    println!(
        "lock() after the panic         Err(PoisonError) in {} of {n} threads",
        demo.poisoned
    );
    let verdict = match seen.balanced() {
        true => "consistent",
        false => "half a transfer",
    };
    println!(
        "into_inner() sees              from {} + to {} = {} of {}: {verdict}",
        seen.from,
        seen.to,
        seen.from + seen.to,
        seen.total
    );
    println!(
        "repair, then clear_poison()    ledger balanced and lock() Ok: {}",
        yes_no(demo.repaired)
    );
    println!(
        "lesson: a PoisonError means an invariant may be broken; into_inner only after you check or repair it"
    );
    match demo.panicked && demo.poisoned == n && !seen.balanced() && demo.repaired {
        true => Ok(()),
        false => Err(Failure::claim(
            "the lock was not poisoned for every thread, or the data was not as claimed",
        )),
    }
}
