//! Deadlock: transfers A -> B lock A then B, transfers B -> A lock B then A.
//!
//! Notice: once each thread holds its first lock (forced here: they wait for
//! each other before taking the second), both wait forever. A watchdog
//! tracks who holds and who waits for each lock, reports the cycle within
//! milliseconds, and the program exits with code 3
//! (`examples_race_conditions::DEADLOCK_EXIT`); the stuck threads cannot be
//! freed and end with the process. `--lock-order` applies the fix, one
//! global order (always lock A before B), and every transfer completes with
//! the money conserved (exit 0). Reach for a global lock order whenever code
//! holds two locks at once. Python: two `threading.Lock`s taken in opposite
//! orders hang the same way, with no error.

use clap::Parser;
use examples_race_conditions::DEADLOCK_EXIT;
use examples_race_conditions::deadlock::{self, LIMIT, Order, START_BALANCE};
use examples_race_conditions::wait_graph::Outcome;

#[derive(Parser)]
#[command(about = "Deadlock: two locks taken in opposite orders, detected by a watchdog")]
struct Args {
    /// Threads making transfers; even ones A -> B, odd ones B -> A (2..=64).
    #[arg(long, default_value_t = 2, value_parser = lesson::at_least_one)]
    threads: usize,
    /// Transfers per thread (at most 1_000_000).
    #[arg(long, default_value_t = 10_000, value_parser = lesson::at_least_one)]
    iterations: usize,
    /// The fix: take the locks in one global order (A, then B).
    #[arg(long)]
    lock_order: bool,
}

fn main() -> std::io::Result<()> {
    let args: Args = lesson::args();
    if !(2..=64).contains(&args.threads) || args.iterations > 1_000_000 {
        lesson::usage_error("--threads must be 2..=64 and --iterations at most 1_000_000");
    }
    let (threads, iterations) = (args.threads, args.iterations);
    let order = [Order::Naive, Order::Global][usize::from(args.lock_order)];
    println!(
        "{}; {threads} threads x {iterations} transfers",
        order.label()
    );
    let report = deadlock::run(order, threads, iterations, LIMIT)?;
    match report.outcome {
        Outcome::Deadlock(cycle) => {
            println!("deadlock after {} transfers:", report.transfers);
            for wait in &cycle {
                println!("  {wait}");
            }
            println!(
                "lesson: locks taken in opposite orders deadlock; take them in one global order (--lock-order)"
            );
            eprintln!("deadlock detected: exit {DEADLOCK_EXIT}");
            std::process::exit(DEADLOCK_EXIT);
        }
        Outcome::Finished => {
            let [a, b] = report.balances.unwrap_or([0, 0]);
            println!(
                "finished: {} transfers, balances A {a} + B {b} = {} of {}",
                report.transfers,
                a + b,
                2 * START_BALANCE
            );
            println!("lesson: with one global lock order no cycle of waits can form");
            if a + b != 2 * START_BALANCE || order == Order::Naive {
                eprintln!(
                    "error: money not conserved, or the naive order escaped its forced deadlock"
                );
                std::process::exit(1);
            }
        }
        Outcome::Stalled(waits) => {
            for wait in &waits {
                println!("  {wait}");
            }
            eprintln!("error: no progress and no deadlock cycle within {LIMIT:?}");
            std::process::exit(1);
        }
    }
    Ok(())
}
