//! Lost updates: N threads increment one counter with a separate atomic
//! `load` and `store`, with `fetch_add`, and under a `Mutex`.
//!
//! Notice: in the forced interleaving (a barrier between every thread's load
//! and its store) the racy way counts one increment per round, every run;
//! in the free run it loses some, a different number each time, sometimes
//! none. `fetch_add` and the mutex lose nothing either way. Reach for
//! `fetch_add` for a lone counter, a lock when the update touches more than
//! one value. Python: `counter.value += 1` on a `multiprocessing.Value`
//! without `get_lock()` has the same bug. Exit 1 if a claim fails.

use clap::Parser;
use examples_race_conditions::lost_update::{self, Tally, Way};

#[derive(Parser)]
#[command(about = "Lost updates: load + store vs fetch_add vs Mutex")]
struct Args {
    /// Threads incrementing the counter (2..=64).
    #[arg(long, default_value_t = 4, value_parser = lesson::at_least_one)]
    threads: usize,
    /// Increments per thread in the free run (at most 10_000_000).
    #[arg(long, default_value_t = 1_000_000, value_parser = lesson::at_least_one)]
    iterations: usize,
    /// Rounds of the forced interleaving (at most 100_000).
    #[arg(long, default_value_t = 200, value_parser = lesson::at_least_one)]
    rounds: usize,
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

fn main() {
    let args: Args = lesson::args();
    if !(2..=64).contains(&args.threads) {
        lesson::usage_error("--threads must be 2..=64: a race needs two threads");
    }
    if args.iterations > 10_000_000 || args.rounds > 100_000 {
        lesson::usage_error("--iterations is at most 10_000_000, --rounds at most 100_000");
    }
    let (threads, rounds, iterations) = (args.threads, args.rounds as u64, args.iterations as u64);
    let mut ok = true;
    println!("forced: {threads} threads x {rounds} rounds, a barrier between load and store");
    for way in Way::ALL {
        let t = lost_update::forced(way, threads, rounds);
        row(way, t);
        ok &= if way == Way::Racy {
            t.lost() > 0
        } else {
            t.lost() == 0
        };
    }
    println!("free:   {threads} threads x {iterations} increments, no barrier");
    for way in Way::ALL {
        let t = lost_update::free(way, threads, iterations);
        row(way, t);
        ok &= way == Way::Racy || t.lost() == 0;
    }
    println!(
        "lesson: a read-modify-write must be one atomic step (fetch_add) or sit under one lock"
    );
    if !ok {
        eprintln!("error: the forced racy run lost nothing, or a fixed way lost an update");
        std::process::exit(1);
    }
}
