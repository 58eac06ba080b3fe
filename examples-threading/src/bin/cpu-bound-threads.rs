//! Threads for computing: without a GIL, one CPU-bound job splits across the cores.
//!
//! Counts the primes below `--limit` three ways: sequentially, on
//! `--threads` threads of `std::thread::scope` (each borrows the slice list,
//! no `Arc`), and with rayon's `par_iter`. Notice: the three answers are
//! equal and both parallel versions run about cores x faster. Reach for
//! `thread::scope` when the split is obvious, for rayon when it is not (work
//! stealing balances uneven pieces). Python needs `ProcessPoolExecutor` (or
//! a free-threaded 3.13 build) for this.
//!
//! Checked: the three answers are equal (always). With a margin for a
//! loaded machine: each parallel run (fastest of `--rounds`, interleaved)
//! is >= 1.25x faster than the sequential one when it had >= 1.5 cores busy
//! (CPU time / wall time); with fewer, the machine was shared and the
//! program says so instead.
use clap::Parser;
use examples_threading::work::{Measured, PrimeJob, measure};

#[derive(Parser)]
struct Args {
    /// Count the primes below this number (at most 20_000_000).
    #[arg(long, default_value_t = 1_500_000)]
    limit: u64,
    /// Threads for the `thread::scope` version (default: the cores; at most 64).
    #[arg(long, value_parser = lesson::at_least_one)]
    threads: Option<usize>,
    /// Rounds of all three runs, interleaved; each keeps its fastest (at most 20).
    #[arg(long, default_value_t = 3, value_parser = lesson::at_least_one)]
    rounds: usize,
}

fn main() {
    let a: Args = lesson::args();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = a.threads.unwrap_or(cores);
    if a.limit > 20_000_000 || threads > 64 || a.rounds > 20 {
        lesson::usage_error("at most --limit 20000000, --threads 64 and --rounds 20");
    }
    let job = PrimeJob::new(a.limit, 1000);
    let scoped = format!("thread::scope ({threads})");
    let runs: [(&str, &dyn Fn() -> u64); 3] = [
        ("sequential", &|| job.count_sequential()),
        (&scoped, &|| job.count_scoped(threads)),
        ("rayon par_iter", &|| job.count_rayon()),
    ];
    println!("primes below {}, {cores} cores", a.limit);
    println!(
        "{:<20} {:>8} {:>8} {:>8} {:>11}",
        "", "answer", "time", "speedup", "cores busy"
    );
    // Interleaved rounds, fastest of each kept: a burst of load from
    // elsewhere hits one round of one run, not the comparison.
    let mut best = [None; 3];
    let mut problems = Vec::new();
    for _ in 0..a.rounds {
        for ((name, run), slot) in runs.iter().zip(&mut best) {
            let (answer, m) = measure(run);
            if slot.is_some_and(|(a, _)| a != answer) {
                problems.push(format!("{name} gave two different answers"));
            }
            if slot.is_none_or(|(_, b): (u64, Measured)| m.wall < b.wall) {
                *slot = Some((answer, m));
            }
        }
    }
    let mut base = None;
    for ((name, _), (answer, m)) in runs.iter().zip(best.into_iter().flatten()) {
        let (want, one) = *base.get_or_insert((answer, m.wall));
        let speedup = one.as_secs_f64() / m.wall.as_secs_f64();
        let (ms, busy) = (m.wall.as_millis(), m.cores_busy());
        println!("{name:<20} {answer:>8} {ms:>5} ms {speedup:>7.2}x {busy:>11.2}");
        if answer != want {
            problems.push(format!("{name} counted {answer}, sequential {want}"));
        } else if *name == "sequential" || cores < 2 {
        } else if busy < 1.5 {
            println!("note: {name} got only {busy:.2} cores (shared machine): speedup not checked");
        } else if speedup < 1.25 {
            problems.push(format!(
                "{name} is only {speedup:.2}x with {busy:.2} cores busy"
            ));
        }
    }
    println!(
        "lesson: without a GIL, threads split one computation across the cores, and agree on the answer"
    );
    if let Some(p) = problems.first() {
        eprintln!("cpu-bound-threads: claim failed: {p}");
        std::process::exit(1);
    }
}
