//! Lost updates across processes: N processes increment one counter in
//! shared memory.
//!
//! Notice: a separate load and store (`counter.value += 1` on a Python
//! `multiprocessing.Value`) comes out short; `fetch_add` and the same racy
//! code under a lock in the shared memory (`with counter.get_lock():`) lose
//! nothing; the lock usually costs the most time. The processes start
//! together, and every 1024th racy increment yields between its load and
//! its store, so the loss shows on every run, even on one core (see
//! `counter::WIDEN_EVERY`). Reach for `fetch_add` on an `AtomicU64` in a
//! `SharedMapping` for counters; a lock only when several words change.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use examples_shared_memory::counter::{self, Way};
use lesson::Failure;

/// Increments of all processes together, per way (what 2 cores finish in
/// seconds, also with the lock).
const MAX_TOTAL: u64 = 40_000_000;

#[derive(Parser)]
struct Args {
    /// Processes incrementing at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(2..=64))]
    processes: u64,
    /// Increments per process (processes x iterations at most 40_000_000).
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    iterations: u64,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let expected = args.processes * args.iterations;
    if expected > MAX_TOTAL {
        return Err(Failure::usage(format!(
            "--processes x --iterations is {expected}, at most {MAX_TOTAL}"
        )));
    }
    let mut lost = Vec::new();
    for (name, way) in [
        ("racy   (load + store)", Way::Racy),
        ("atomic (fetch_add)", Way::Atomic),
        ("lock   (get_lock())", Way::Locked),
    ] {
        let (n, limit) = (args.processes as usize, Duration::from_secs(60));
        let race = counter::race(way, n, args.iterations, limit)?;
        let (total, ms) = (race.total, race.elapsed.as_secs_f64() * 1e3);
        let pids: Vec<String> = race.pids.iter().map(|p| p.to_string()).collect();
        let (missing, pids) = (expected.saturating_sub(total), pids.join(","));
        println!(
            "{name:<22} {total:>10} of {expected}   lost {missing:>9}   {ms:>7.1} ms   pids {pids}"
        );
        lost.push(missing);
    }
    println!(
        "lesson: a read-modify-write shared by processes must be one atomic step or sit under one lock"
    );
    if lost[0] == 0 || lost[1] != 0 || lost[2] != 0 {
        return Err(Failure::claim(format!(
            "expected the racy counter to lose updates and the others none, lost {lost:?}"
        )));
    }
    Ok(())
}
