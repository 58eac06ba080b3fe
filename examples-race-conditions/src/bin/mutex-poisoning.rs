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
use examples_race_conditions::poison;

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
    poison::expect_panics_in("doomed");
    let demo = poison::demonstrate(args.threads, args.iterations)?;
    let (n, seen) = (args.threads, demo.recovered);
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
    let verdict = if seen.balanced() {
        "consistent"
    } else {
        "half a transfer"
    };
    let sum = seen.from + seen.to;
    println!(
        "into_inner() sees              from {} + to {} = {sum} of {}: {verdict}",
        seen.from, seen.to, seen.total
    );
    println!(
        "repair, then clear_poison()    ledger balanced and lock() Ok: {}",
        yes_no(demo.repaired)
    );
    println!(
        "lesson: a PoisonError means an invariant may be broken; into_inner only after you check or repair it"
    );
    if !(demo.panicked && demo.poisoned == n && !seen.balanced() && demo.repaired) {
        eprintln!(
            "error: the lock was not poisoned for every thread, or the data was not as claimed"
        );
        std::process::exit(1);
    }
    Ok(())
}
