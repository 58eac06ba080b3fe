//! Threads for computing: without a GIL, one CPU-bound job splits across the cores.
//!
//! Counts the primes below `--limit` three ways: sequentially, on
//! `--threads` threads of `std::thread::scope` (each borrows the slice list,
//! no `Arc`), and with rayon's `par_iter`. Notice: the three answers are
//! equal and both parallel versions run about cores x faster. Reach for
//! `thread::scope` when the split is obvious, for rayon when it is not (work
//! stealing balances uneven pieces). Python needs `ProcessPoolExecutor` for
//! this, or the free-threaded build (`python3.14t`, officially supported
//! since 3.14, PEP 779), or subinterpreters (`InterpreterPoolExecutor`,
//! PEP 734, 3.14).
//!
//! Checked: the three answers are equal (always). In a release build, with a
//! margin for a loaded machine: each parallel run (fastest of `--rounds`,
//! interleaved) is >= 1.25x faster than the sequential one when it had >= 1.5
//! cores busy (CPU time / wall time). With fewer, other programs took the
//! CPU: it measures again (3 times in all), then says "not checked".
use clap::Parser;
use examples_threading::cpu_job::{PrimeJob, Way, best_of_ways};
use examples_threading::verdict::{Verdict, claim, retry};
use std::process::ExitCode;

#[derive(Parser)]
struct Args {
    /// Count the primes below this number.
    #[arg(long, default_value_t = 1_500_000, value_parser = clap::value_parser!(u64).range(10_000..=5_000_000))]
    limit: u64,
    /// Threads for the `thread::scope` version (default: the cores).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=64))]
    threads: Option<u8>,
    /// Rounds of all three runs, interleaved; each keeps its fastest.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=10))]
    rounds: u8,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), lesson::Failure> {
    let a: Args = lesson::args();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = a.threads.map_or(cores, usize::from);
    let job = PrimeJob::new(a.limit, 1000);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(cores).build()?;
    let measure = || best_of_ways(&job, threads, &pool, a.rounds.into());
    let (ways, verdict) = retry(3, measure, |ways| {
        ways.as_deref().map_or(Verdict::Held, judge)
    });
    let ways = ways?;
    println!("primes below {}, {cores} cores", a.limit);
    println!(
        "{:<20} {:>8} {:>8} {:>8} {:>11}",
        "", "answer", "time", "speedup", "cores busy"
    );
    let (want, one) = (ways[0].answer, ways[0].best.wall);
    for w in &ways {
        let speedup = one.as_secs_f64() / w.best.wall.as_secs_f64();
        let (ms, busy) = (w.best.wall.as_millis(), w.best.cores_busy());
        println!(
            "{:<20} {:>8} {ms:>5} ms {speedup:>7.2}x {busy:>11.2}",
            w.name, w.answer
        );
        claim(
            w.answer == want,
            format_args!("{} counted {}, sequential {want}", w.name, w.answer),
        )?;
    }
    println!(
        "lesson: without a GIL, threads split one computation across the cores, and agree on the answer"
    );
    verdict.in_this_build().end()
}

/// The speed claim over the parallel ways (the first way is the baseline).
fn judge(ways: &[Way]) -> Verdict {
    let one = ways[0].best.wall.as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for w in &ways[1..] {
        let (speedup, busy) = (one / w.best.wall.as_secs_f64(), w.best.cores_busy());
        if cores < 2 {
            return Verdict::NotChecked("one core cannot run two threads at once".into());
        } else if busy < 1.5 {
            let why = format!(
                "{} got only {busy:.2} cores (other programs took the rest)",
                w.name
            );
            return Verdict::NotChecked(why);
        } else if speedup < 1.25 {
            let why = format!("{} is only {speedup:.2}x with {busy:.2} cores busy", w.name);
            return Verdict::Failed(why);
        }
    }
    Verdict::Held
}
