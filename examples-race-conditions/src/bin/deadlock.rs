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
//! orders hang the same way, with no error. Exit 1 if a claim fails, 71 if
//! a thread is refused.

use clap::Parser;
use examples_race_conditions::DEADLOCK_EXIT;
use examples_race_conditions::deadlock::{self, LIMIT, Order, START_BALANCE};
use examples_race_conditions::wait_graph::Outcome;
use lesson::Failure;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Deadlock: two locks taken in opposite orders, detected by a watchdog")]
struct Args {
    /// Threads making transfers; even ones A -> B, odd ones B -> A.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(2..=32))]
    threads: u16,
    /// Transfers per thread.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    iterations: u32,
    /// The fix: take the locks in one global order (A, then B).
    #[arg(long)]
    lock_order: bool,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let (threads, iterations) = (usize::from(args.threads), args.iterations as usize);
    let order = [Order::Naive, Order::Global][usize::from(args.lock_order)];
    println!(
        "{}; {threads} threads x {iterations} transfers",
        order.label()
    );
    let report = deadlock::run(order, threads, iterations, LIMIT)?;
    match report.outcome {
        Outcome::Deadlock(cycle) => {
            println!("deadlock after {} transfers:", report.transfers);
            cycle.iter().for_each(|wait| println!("  {wait}"));
            println!(
                "lesson: locks taken in opposite orders deadlock; take them in one global order (--lock-order)"
            );
            Err(Failure::with_code(
                DEADLOCK_EXIT,
                format_args!("deadlock detected: exit {DEADLOCK_EXIT}"),
            ))
        }
        Outcome::Finished => {
            let [a, b] = report.balances.unwrap_or([0, 0]);
            let (sum, want) = (a + b, 2 * START_BALANCE);
            println!(
                "finished: {} transfers, balances A {a} + B {b} = {sum} of {want}",
                report.transfers
            );
            println!("lesson: with one global lock order no cycle of waits can form");
            match sum == want && order == Order::Global {
                true => Ok(()),
                false => Err(Failure::claim(
                    "money not conserved, or the naive order escaped its forced deadlock",
                )),
            }
        }
        Outcome::Stalled(waits) => {
            waits.iter().for_each(|wait| println!("  {wait}"));
            Err(Failure::claim(format_args!(
                "no progress and no deadlock cycle within {LIMIT:?}"
            )))
        }
    }
}
