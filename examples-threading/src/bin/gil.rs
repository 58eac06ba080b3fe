//! The GIL: threads speed up waiting, not computing. Python: `threading` in CPython.
//!
//! Runs one fixed CPU-bound job (count the primes below `--limit`) and one
//! I/O-bound job (`--waits` blocking waits) on 1..=`--threads` threads, under
//! the model GIL (`examples_threading::gil`) and as free Rust threads, and
//! prints the speedup over one thread for the four cases (best of
//! `--repeat` runs, interleaved). Notice: under the model the CPU job stays
//! near 1x however many threads run it, free threads scale with the cores,
//! and the waits overlap in both. Reach for threads in Python to wait on many
//! things at once; to compute in parallel use processes (or Rust).
//!
//! Checked by `Scaling::check`, margins for a loaded 2-core machine: equal
//! answers; model < 1.3 cores busy and < 1.5x; free > 1.25 x model; I/O >=
//! 0.5 x ideal. A run starved by other programs prints a note, not a failure.
//! Idle 2-core machine: model <= 1.15x, free >= 1.8x, I/O >= 0.8 x threads.
use std::time::Duration;

use clap::Parser;
use examples_threading::gil::{Case, Gil, Scaling};
use examples_threading::work::{PrimeJob, WaitJob};

#[derive(Parser)]
struct Args {
    /// Run with 1..=THREADS threads (at most 64).
    #[arg(long, default_value_t = 4, value_parser = lesson::at_least_one)]
    threads: usize,
    /// CPU job: count the primes below this number (at most 20_000_000).
    #[arg(long, default_value_t = 1_000_000)]
    limit: u64,
    /// I/O job: this many blocking waits (at most 1000) ...
    #[arg(long, default_value_t = 12, value_parser = lesson::at_least_one)]
    waits: usize,
    /// ... of this many milliseconds each (at most 1000).
    #[arg(long, default_value_t = 10, value_parser = lesson::at_least_one)]
    wait_ms: usize,
    /// The model's switch interval in ms (CPython: 5; at most 1000).
    #[arg(long, default_value_t = 5, value_parser = lesson::at_least_one)]
    switch_interval_ms: usize,
    /// Keep the best of this many runs of each case (at most 10).
    #[arg(long, default_value_t = 3, value_parser = lesson::at_least_one)]
    repeat: usize,
}

fn main() {
    let a: Args = lesson::args();
    let too_big = a.threads > 64 || a.waits > 1000 || a.wait_ms > 1000 || a.repeat > 10;
    if too_big || a.limit > 20_000_000 || a.switch_interval_ms > 1000 {
        lesson::usage_error(
            "at most --threads 64, --limit 20000000, --waits 1000, --wait-ms 1000, \
             --switch-interval-ms 1000, --repeat 10",
        );
    }
    let ms = |n: usize| Duration::from_millis(n as u64);
    let cpu = PrimeJob::new(a.limit, 1000);
    let gil = Gil::new(ms(a.switch_interval_ms));
    let io = WaitJob {
        waits: a.waits,
        wait: ms(a.wait_ms),
    };
    let s = Scaling::measure(&gil, a.threads, &cpu, &io, a.repeat)
        .unwrap_or_else(|e| fail(&e.to_string()));
    let one = s.best(Case::CpuFree, 1).wall.as_millis();
    let (limit, answer, waits, wait_ms) = (a.limit, s.answer, a.waits, a.wait_ms);
    println!(
        "CPU job: primes below {limit} = {answer}, {one} ms on 1 thread; I/O job: {waits} waits of {wait_ms} ms"
    );
    print!("{s}");
    let busy = |c| s.best(c, a.threads).cores_busy();
    let (threads, model, free) = (a.threads, busy(Case::CpuModelGil), busy(Case::CpuFree));
    println!("cores busy on {threads} threads, CPU job: model GIL {model:.2}, free {free:.2}");
    println!("idle 2-core targets: CPU model GIL <= 1.15x, CPU free >= 1.8x, I/O >= 0.8 x threads");
    println!("lesson: under a GIL threads overlap their waiting but not their computing");
    match s.check(&io) {
        Ok(None) => {}
        Ok(Some(note)) => println!("note: {note}"),
        Err(e) => fail(&e),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("gil: claim failed: {msg}");
    std::process::exit(1)
}
