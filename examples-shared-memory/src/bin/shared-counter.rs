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

use std::time::Duration;

use anyhow::{Result, bail};
use clap::Parser;
use examples_shared_memory::counter::{self, Way};

#[derive(Parser)]
struct Args {
    /// Processes incrementing at once (2 to 64).
    #[arg(long, default_value_t = 4, value_parser = lesson::at_least_one)]
    processes: usize,
    /// Increments per process (at most 10_000_000).
    #[arg(long, default_value_t = 200_000, value_parser = lesson::at_least_one)]
    iterations: usize,
}

fn main() -> Result<()> {
    let args: Args = lesson::args();
    let total_work = args.processes.saturating_mul(args.iterations);
    if !(2..=64).contains(&args.processes)
        || args.iterations > 10_000_000
        || total_work > 40_000_000
    {
        lesson::usage_error(
            "--processes must be 2..=64, --iterations at most 10_000_000, their product at most 40_000_000",
        );
    }
    let expected = total_work as u64;
    let mut lost = Vec::new();
    for (name, way) in [
        ("racy   (load + store)", Way::Racy),
        ("atomic (fetch_add)", Way::Atomic),
        ("lock   (get_lock())", Way::Locked),
    ] {
        let n = args.iterations as u64;
        // SAFETY: this process never starts a thread.
        let race = unsafe { counter::race(way, args.processes, n, Duration::from_secs(60)) }?;
        let (total, ms) = (race.total, race.elapsed.as_secs_f64() * 1e3);
        let pids: Vec<String> = race.pids.iter().map(|p| p.to_string()).collect();
        let (missing, pids) = (expected - total, pids.join(","));
        println!(
            "{name:<22} {total:>10} of {expected}   lost {missing:>9}   {ms:>7.1} ms   pids {pids}"
        );
        lost.push(missing);
    }
    println!(
        "lesson: a read-modify-write shared by processes must be one atomic step or sit under one lock"
    );
    if lost[0] == 0 || lost[1] != 0 || lost[2] != 0 {
        bail!("expected the racy counter to lose updates and the others none, lost {lost:?}");
    }
    Ok(())
}
