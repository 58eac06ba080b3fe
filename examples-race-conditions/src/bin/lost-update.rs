//! Lost updates: N threads increment one counter with a separate atomic
//! `load` and `store`, with `fetch_add`, and under a `Mutex`.
//!
//! Notice: in the forced interleaving (a barrier between every thread's load
//! and its store) the racy way counts one increment per round, every run;
//! in the free run it loses some, a different number each time, sometimes
//! none. `fetch_add` and the mutex lose nothing either way. "expected" is
//! what the threads counted doing. Reach for `fetch_add` for a lone counter,
//! a lock when the update touches more than one value. Python:
//! `counter.value += 1` on a `multiprocessing.Value` without `get_lock()`
//! has the same bug. Exit 1 if a claim fails, 71 if a thread is refused.

use clap::Parser;
use examples_race_conditions::lost_update::{self, Tally, Way};
use lesson::Failure;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Lost updates: load + store vs fetch_add vs Mutex")]
struct Args {
    /// Threads incrementing the counter (a race needs two).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(2..=16))]
    threads: u16,
    /// Increments per thread in the free run.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=5_000_000))]
    iterations: u64,
    /// Rounds of the forced interleaving.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=5_000))]
    rounds: u64,
}

fn row(way: Way, t: Tally) {
    println!(
        "  {:<22} expected {:>10}   got {:>10}   lost {:>10}",
        way.label(),
        t.expected,
        t.got,
        t.lost()
    );
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let (threads, rounds, iterations) = (usize::from(args.threads), args.rounds, args.iterations);
    let mut ok = true;
    println!("forced: {threads} threads x {rounds} rounds, a barrier between load and store");
    for way in Way::ALL {
        let t = lost_update::forced(way, threads, rounds)?;
        row(way, t);
        ok &= (way == Way::Racy) == (t.lost() > 0);
    }
    println!("free:   {threads} threads x {iterations} increments, no barrier");
    for way in Way::ALL {
        let t = lost_update::free(way, threads, iterations)?;
        row(way, t);
        ok &= way == Way::Racy || t.lost() == 0;
    }
    println!(
        "lesson: a read-modify-write must be one atomic step (fetch_add) or sit under one lock"
    );
    match ok {
        true => Ok(()),
        false => Err(Failure::claim(
            "the forced racy run lost nothing, or a fixed way lost an update",
        )),
    }
}
