//! Check-then-act: threads check a balance, then withdraw; the account goes
//! negative although every single step is atomic.
//!
//! Notice: with a pause between the check and the act (a barrier), every
//! round overdraws: all threads see 100, all take 100. A lock held across
//! check and act, or a `compare_exchange` loop (withdraw only from the
//! balance you checked, else check again), never overdraws. The free run
//! shows how rarely the race shows up on its own, which is why it survives
//! testing. Python: `if acct.balance >= x: acct.balance -= x` across threads
//! or processes, fixed with a `Lock` around both lines. Exit 1 if a claim
//! fails, 71 if the system refuses a thread.

use clap::Parser;
use examples_race_conditions::account::{self, Way};
use lesson::Failure;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Check-then-act: a balance goes negative; lock or compare_exchange fixes it")]
struct Args {
    /// Threads withdrawing at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(2..=16))]
    threads: u16,
    /// Rounds, each with a fresh account of 100.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=2_000))]
    iterations: u32,
}

const BALANCE: i64 = 100;

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let (threads, n) = (usize::from(args.threads), args.iterations as usize);
    let mut broken = Vec::new();
    for (forced, title) in [
        (true, "forced: a barrier between check and act"),
        (false, "free:   no pause"),
    ] {
        println!("{title}; {threads} threads each withdraw {BALANCE} from {BALANCE}, {n} rounds");
        for way in Way::ALL {
            let r = account::rounds(way, forced, threads, n, BALANCE)?;
            println!(
                "  {:<31} paid {:>6} of {:>6} allowed   lowest balance {:>6}   overdrawn in {:>6} rounds",
                way.label(),
                r.paid,
                r.rounds,
                r.lowest,
                r.overdrawn
            );
            let held = match (way, forced) {
                (Way::Racy, true) => r.overdrawn == r.rounds,
                (Way::Racy, false) => true,
                _ => r.overdrawn == 0 && r.paid == r.rounds,
            };
            if !held {
                broken.push(format!("{} ({title})", way.label()));
            }
        }
    }
    println!(
        "lesson: a check and the act it guards must be one step: one lock around both, or compare_exchange"
    );
    match broken.is_empty() {
        true => Ok(()),
        false => Err(Failure::claim(format_args!(
            "not as claimed (forced racy: every round overdrawn; fixes: never): {}",
            broken.join(", ")
        ))),
    }
}
