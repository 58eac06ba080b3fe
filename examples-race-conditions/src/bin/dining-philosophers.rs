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
//! naive` alone exits 3 (`examples_race_conditions::DEADLOCK_EXIT`).
//! Reach for a lock order first; a waiter (a semaphore of N-1) when no
//! order exists. Python: `threading.Lock` forks, the same two fixes.

use clap::Parser;
use examples_race_conditions::DEADLOCK_EXIT;
use examples_race_conditions::dining::{self, Table};
use examples_race_conditions::wait_graph::Outcome;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Dining philosophers: the naive table deadlocks; ordering or a waiter fixes it")]
struct Args {
    /// Philosophers (and forks) at the table (2..=32).
    #[arg(long, default_value_t = 5, value_parser = lesson::at_least_one)]
    philosophers: usize,
    /// Milliseconds each fixed table dines (1..=10_000).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    millis: u64,
    /// Run one table only (default: all three).
    #[arg(long, value_enum)]
    table: Option<Table>,
}

fn main() -> std::io::Result<()> {
    let args: Args = lesson::args();
    let n = args.philosophers;
    if !(2..=32).contains(&n) {
        lesson::usage_error("--philosophers must be 2..=32");
    }
    let tables = match args.table {
        Some(t) => vec![t],
        None => vec![Table::Naive, Table::Ordered, Table::Waiter],
    };
    let mut ok = true;
    let mut deadlocked = false;
    for table in tables {
        let report = dining::run(table, n, Duration::from_millis(args.millis), dining::LIMIT)?;
        let meals: String = report.meals.iter().map(|m| format!("{m:>5}")).collect();
        match report.outcome {
            Outcome::Deadlock(cycle) => {
                println!("{:<28} deadlock; meals{meals}", table.label());
                for wait in &cycle {
                    println!("  {wait}");
                }
                deadlocked = true;
                ok &= table == Table::Naive;
            }
            Outcome::Finished => {
                let fairness = report.fairness();
                println!("{:<28} meals{meals}   min/max {fairness:.2}", table.label());
                ok &= table != Table::Naive && report.meals.iter().all(|&m| m > 0);
            }
            Outcome::Stalled(_) => {
                println!("{:<28} stalled, no cycle; meals{meals}", table.label());
                ok = false;
            }
        }
    }
    println!(
        "lesson: a cycle of waits needs every philosopher to hold one fork; ordering or a waiter breaks it"
    );
    if !ok {
        eprintln!(
            "error: a table did not end as claimed (naive: deadlock; ordered and waiter: everyone fed)"
        );
        std::process::exit(1);
    }
    if deadlocked && args.table == Some(Table::Naive) {
        eprintln!("deadlock detected: exit {DEADLOCK_EXIT}");
        std::process::exit(DEADLOCK_EXIT);
    }
    Ok(())
}
