//! Check-then-act: threads check a balance, then withdraw; the account goes
//! negative although every single step is atomic.
//!
//! Notice: with a pause between the check and the act (a barrier), every
//! round overdraws: all threads see 100, all take 100. A lock held across
//! check and act, or a `compare_exchange` loop (withdraw only from the
//! balance you checked, else check again), never overdraws. The free run
//! shows how rarely the race shows up on its own, which is why it survives
//! testing. Python: `if acct.balance >= x: acct.balance -= x` across threads
//! or processes, fixed with a `Lock` around both lines. Exit 1 if a claim fails.

use clap::Parser;
use examples_race_conditions::account::{self, Round, Way};

#[derive(Parser)]
#[command(about = "Check-then-act: a balance goes negative; lock or compare_exchange fixes it")]
struct Args {
    /// Threads withdrawing at once (2..=64).
    #[arg(long, default_value_t = 2, value_parser = lesson::at_least_one)]
    threads: usize,
    /// Rounds, each with a fresh account of 100 (at most 100_000).
    #[arg(long, default_value_t = 200, value_parser = lesson::at_least_one)]
    iterations: usize,
}

const BALANCE: i64 = 100;

/// Runs `rounds` rounds; returns (withdrawals paid, lowest balance, overdrawn rounds).
fn rounds(n: usize, round: impl Fn() -> Round) -> (u64, i64, usize) {
    (0..n)
        .map(|_| round())
        .fold((0, BALANCE, 0), |(paid, low, over), r| {
            (
                paid + r.paid,
                low.min(r.balance),
                over + usize::from(r.balance < 0),
            )
        })
}

fn main() {
    let args: Args = lesson::args();
    if !(2..=64).contains(&args.threads) || args.iterations > 100_000 {
        lesson::usage_error("--threads must be 2..=64 and --iterations at most 100_000");
    }
    let (threads, n) = (args.threads, args.iterations);
    let mut ok = true;
    for (forced, title) in [
        (true, "forced: a barrier between check and act"),
        (false, "free:   no pause"),
    ] {
        println!("{title}; {threads} threads each withdraw {BALANCE} from {BALANCE}, {n} rounds");
        for way in Way::ALL {
            let (paid, low, over) = rounds(n, || match forced {
                true => account::forced_round(way, threads, BALANCE, BALANCE),
                false => account::free_round(way, threads, BALANCE, BALANCE),
            });
            println!(
                "  {:<31} paid {paid:>6} of {n:>6} allowed   lowest balance {low:>6}   overdrawn in {over:>6} rounds",
                way.label()
            );
            ok &= match (way, forced) {
                (Way::Racy, true) => over == n,
                (Way::Racy, false) => true,
                _ => over == 0 && paid == n as u64,
            };
        }
    }
    println!(
        "lesson: a check and the act it guards must be one step: one lock around both, or compare_exchange"
    );
    if !ok {
        eprintln!("error: the forced racy rounds did not all overdraw, or a fix overdrew");
        std::process::exit(1);
    }
}
