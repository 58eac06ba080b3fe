//! The GIL: threads speed up waiting, not computing. Python: `threading` in CPython.
//!
//! Runs one fixed CPU-bound job (count the primes below `--limit`) and one
//! I/O-bound job (`--waits` blocking waits) on 1..=`--threads` threads, under
//! the model GIL (`examples_threading::gil`) and as free Rust threads, and
//! prints the speedup over one thread for the four cases (best of
//! `--repeat` runs, interleaved). Notice: under the model the CPU job stays
//! near 1x however many threads run it, free threads scale with the cores,
//! and the waits overlap in both. The model column is CPython with the GIL
//! (3.13 and before, the default build of 3.14); the free column is what the
//! free-threaded `python3.14t` does (officially supported in 3.14, PEP 779).
//! Reach for threads in Python to wait on many things at once; to compute in
//! parallel use processes, `python3.14t`, or Rust.
//!
//! Checked by `Scaling::check`, margins for a loaded 2-core machine: equal
//! answers; model < 1.3 cores busy and < 1.5x; free > 1.25 x model; I/O >=
//! 0.5 x ideal. When other programs starve the runs, it measures again (up
//! to `--rounds` rounds), then says plainly "not checked" and why (as it
//! does for a failed margin in a debug build: use `--release`).
use std::time::Duration;

use clap::Parser;
use examples_threading::gil::{Case, Gil, Scaling};
use examples_threading::work::{PrimeJob, WaitJob};
use std::process::ExitCode;

#[derive(Parser)]
struct Args {
    /// Run with 1..=THREADS threads.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=16))]
    threads: u8,
    /// CPU job: count the primes below this number.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(10_000..=3_000_000))]
    limit: u64,
    /// I/O job: this many blocking waits ...
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u16).range(1..=200))]
    waits: u16,
    /// ... of this many milliseconds each.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100))]
    wait_ms: u64,
    /// The model's switch interval in ms (CPython: 5).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
    switch_interval_ms: u64,
    /// Keep the best of this many runs of each case.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=10))]
    repeat: u8,
    /// Measure again, up to this many rounds in all, while other programs starve the runs.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=5))]
    rounds: u8,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), lesson::Failure> {
    let a: Args = lesson::args();
    let (threads, repeat, rounds) = (a.threads.into(), a.repeat.into(), a.rounds.into());
    let cpu = PrimeJob::new(a.limit, 1000);
    let gil = Gil::new(Duration::from_millis(a.switch_interval_ms));
    let wait = Duration::from_millis(a.wait_ms);
    let io = WaitJob {
        waits: a.waits.into(),
        wait,
    };
    let (s, verdict) = Scaling::measure_checked(&gil, threads, (&cpu, &io), repeat, rounds)
        .map_err(|e| e.into_failure())?;
    let one = s.best(Case::CpuFree, 1).wall.as_millis();
    let (limit, answer, waits, wait_ms) = (a.limit, s.answer, a.waits, a.wait_ms);
    println!(
        "CPU job: primes below {limit} = {answer}, {one} ms on 1 thread; I/O job: {waits} waits of {wait_ms} ms"
    );
    print!("{s}");
    let busy = |c| s.best(c, threads).cores_busy();
    let (model, free) = (busy(Case::CpuModelGil), busy(Case::CpuFree));
    println!("cores busy on {threads} threads, CPU job: model GIL {model:.2}, free {free:.2}");
    println!("lesson: under a GIL threads overlap their waiting but not their computing");
    verdict.in_this_build().end()
}
