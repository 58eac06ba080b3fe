//! Dining philosophers: N philosophers share N forks, each needs two.
//!
//! Notice: at the naive table (left fork, then right) every philosopher ends
//! up holding a left fork and waiting for a right one; the watchdog shows
//! the cycle all the way round. Taking the lower-numbered fork first, or a
//! waiter who seats at most N-1, lets everyone eat: the meal counts show how
//! fairly (std's Mutex is not fair; resource ordering favours some seats).
//! The first meal is forced: everyone who can hold a first fork waits for
//! the others to hold theirs, so the naive deadlock happens on every run.
//! By default all three tables run and the program exits 0 when the naive
//! one deadlocked and at the fixed ones every philosopher ate; `--table
//! naive` alone exits 3 (`examples_race_conditions::DEADLOCK_EXIT`); 1 if a
//! claim fails, 71 if a thread is refused. Reach for a lock order first; a
//! waiter (a semaphore of N-1) when no order exists. Python:
//! `threading.Lock` forks, the same two fixes.

use clap::Parser;
use examples_race_conditions::DEADLOCK_EXIT;
use examples_race_conditions::dining::{self, Table};
use examples_race_conditions::wait_graph::Outcome;
use lesson::Failure;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Dining philosophers: the naive table deadlocks; ordering or a waiter fixes it")]
struct Args {
    /// Philosophers (and forks) at the table.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(2..=32))]
    philosophers: u16,
    /// Milliseconds each fixed table dines.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=5_000))]
    millis: u64,
    /// Run one table only (default: all three).
    #[arg(long, value_enum)]
    table: Option<Table>,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let n = usize::from(args.philosophers);
    let tables = match args.table {
        Some(t) => vec![t],
        None => vec![Table::Naive, Table::Ordered, Table::Waiter],
    };
    let (mut wrong, mut deadlocked) = (Vec::new(), false);
    for table in tables {
        let report = dining::run(table, n, Duration::from_millis(args.millis), dining::LIMIT)?;
        report
            .lines(table)
            .iter()
            .for_each(|line| println!("{line}"));
        deadlocked |= matches!(report.outcome, Outcome::Deadlock(_));
        if !report.as_claimed(table) {
            wrong.push(table.label());
        }
    }
    println!(
        "lesson: a cycle of waits needs every philosopher to hold one fork; ordering or a waiter breaks it"
    );
    if !wrong.is_empty() {
        return Err(Failure::claim(format_args!(
            "not as claimed (naive: deadlock; ordered and waiter: everyone fed): {}",
            wrong.join(", ")
        )));
    }
    match deadlocked && args.table == Some(Table::Naive) {
        true => Err(Failure::with_code(
            DEADLOCK_EXIT,
            "deadlock detected: exit 3",
        )),
        false => Ok(()),
    }
}
