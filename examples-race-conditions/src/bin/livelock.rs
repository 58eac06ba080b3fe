//! Livelock: polite threads that back off and retry in lockstep never get
//! anywhere, though none of them is ever blocked.
//!
//! Notice: each thread takes its own lock, finds its neighbour's busy, lets
//! go and retries on the next tick, exactly as its neighbour does, so every
//! attempt fails until the deadline (a tick count). Waiting a random number
//! of ticks before retrying breaks the symmetry and all the work gets done.
//! The ticks are a shared barrier, so both runs are deterministic (the
//! random one for a given `--seed`). Reach for randomised (exponential)
//! backoff whenever retries can line up: lock retries, network retries.
//! Python: the same with `Lock.acquire(blocking=False)` retry loops.

use clap::Parser;
use examples_race_conditions::livelock::{self, Backoff, Report};
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Livelock: lockstep backoff makes no progress; random backoff does")]
struct Args {
    /// Polite threads round the ring of locks (2..=16).
    #[arg(long, default_value_t = 2, value_parser = lesson::at_least_one)]
    threads: usize,
    /// Units of work each thread must do (at most 10_000).
    #[arg(long, default_value_t = 100, value_parser = lesson::at_least_one)]
    iterations: usize,
    /// The deadline, in ticks (at most 1_000_000).
    #[arg(long, default_value_t = 2_000, value_parser = lesson::at_least_one)]
    max_ticks: usize,
    /// Seeds the random backoff.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

fn row(label: &str, r: &Report, work: u64) {
    let total: u64 = r.work.iter().sum();
    let attempts: u64 = r.attempts.iter().sum();
    let end = if r.deadline_hit {
        "stopped at the deadline"
    } else {
        "all done"
    };
    println!(
        "{label:<33} ticks {:>7}   attempts {attempts:>7}   work {total:>6} of {:>6}   {end}",
        r.ticks,
        work * r.work.len() as u64
    );
}

fn main() {
    let args: Args = lesson::args();
    if !(2..=16).contains(&args.threads) || args.iterations > 10_000 || args.max_ticks > 1_000_000 {
        lesson::usage_error(
            "--threads must be 2..=16, --iterations at most 10_000, --max-ticks at most 1_000_000",
        );
    }
    let (threads, work, ticks) = (args.threads, args.iterations as u64, args.max_ticks as u64);
    let limit = Duration::from_secs(30);
    println!("{threads} threads, {work} units of work each, deadline {ticks} ticks");
    let polite = livelock::run(Backoff::Lockstep, threads, work, ticks, limit);
    row("lockstep (retry next tick)", &polite, work);
    let window = 2 * threads as u64;
    let random = livelock::run(
        Backoff::Random {
            seed: args.seed,
            window,
        },
        threads,
        work,
        ticks,
        limit,
    );
    row(
        &format!("random   (retry in 1..={} ticks)", window + 1),
        &random,
        work,
    );
    println!("lesson: backing off in step with everyone else is a livelock; randomise the backoff");
    let stuck = polite.deadline_hit && polite.work.iter().all(|&w| w == 0);
    if !stuck || random.deadline_hit {
        eprintln!("error: the lockstep run made progress, or the random run missed the deadline");
        std::process::exit(1);
    }
}
