//! Livelock: polite threads that back off and retry in lockstep never get
//! anywhere, though none of them is ever blocked.
//!
//! Notice: each thread takes its own lock, finds its neighbour's busy, lets
//! go and retries on the next tick, exactly as its neighbour does, so every
//! attempt fails. Waiting a random number of ticks before retrying breaks
//! the symmetry and all the work gets done; the lockstep threads then get
//! the same number of ticks and do nothing with them. The ticks are a shared
//! barrier, counted, not timed: both runs are deterministic (the random one
//! for a given `--seed`), on a busy machine only slower. Reach for
//! randomised (exponential) backoff whenever retries can line up. Python:
//! `Lock.acquire(blocking=False)` retry loops. Exit 1: a claim failed.

use clap::Parser;
use examples_race_conditions::livelock::{self, Backoff};
use lesson::Failure;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Livelock: lockstep backoff makes no progress; random backoff does")]
struct Args {
    /// Polite threads round the ring of locks.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(2..=16))]
    threads: u16,
    /// Units of work each thread must do.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    iterations: u64,
    /// Seeds the random backoff.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// Each run gives up after this long (only a very slow machine gets there).
const LIMIT: Duration = Duration::from_secs(15);

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let (threads, work) = (usize::from(args.threads), args.iterations);
    let wanted = work * threads as u64;
    println!("{threads} threads, {work} units of work each");
    let random_backoff = Backoff::random(args.seed, threads);
    let random = livelock::run(random_backoff, threads, work, u64::MAX, LIMIT)?;
    println!("{}", random.row(random_backoff, work));
    // The lockstep threads get exactly the ticks the random ones needed.
    let polite = livelock::run(Backoff::Lockstep, threads, work, random.ticks, LIMIT)?;
    println!("{}", polite.row(Backoff::Lockstep, work));
    if random.timed_out || polite.timed_out {
        return Err(Failure::claim(format_args!(
            "not checked: a run hit the {LIMIT:?} time limit (a very busy machine?)"
        )));
    }
    println!(
        "checked: in the {} ticks random backoff needed for all {} units, lockstep did {}",
        random.ticks,
        random.total_work(),
        polite.total_work()
    );
    println!("lesson: backing off in step with everyone else is a livelock; randomise the backoff");
    match random.total_work() == wanted && polite.total_work() == 0 {
        true => Ok(()),
        false => Err(Failure::claim(
            "the lockstep run made progress, or the random run did not finish its work",
        )),
    }
}
