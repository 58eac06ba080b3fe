//! A large array in shared memory, transformed in place by forked workers,
//! against shipping the same slices through pipes and back.
//!
//! Notice: shared memory moves no bytes, pipes copy each one four times, so
//! the shared run is several times faster (target 3x). Each way runs 3
//! times and the cheapest run counts; every element is checked after each
//! run. The program's own claim is on CPU time (the workers' and its own),
//! which a loaded machine inflates less than wall time: pipes must cost at
//! least 1.5x the CPU of shared memory. It is checked in a release build,
//! measured up to 3 times, and "not checked" on a busy machine; missed, the
//! program exits 3 (1 is for a wrong element or a worker holding other
//! workers' pipe ends: each closes all but its own two). Reach for a shared
//! array when workers touch big data in place; Python: `multiprocessing.Array`
//! against `Pool.map`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use examples_shared_memory::array::{self, MAX_ELEMENTS};
use examples_shared_memory::mapping::SharedMapping;
use examples_shared_memory::measure::{self, Verdict};
use lesson::Failure;

const ROUNDS: usize = 3;
const MIN_RATIO: f64 = 1.5;
const LIMIT: Duration = Duration::from_secs(60);
/// Exit code when every element was right but the CPU claim missed.
const SPEED_CLAIM_MISSED: i32 = 3;

#[derive(Parser)]
struct Args {
    /// u64 elements in the array (and it must fit 4 times in free memory).
    #[arg(long, default_value_t = 4_000_000, value_parser = clap::value_parser!(u64).range(1..=MAX_ELEMENTS as u64))]
    elements: u64,
    /// Worker processes.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    workers: u64,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let (n, bytes) = (args.elements as usize, args.elements * 8);
    if array::available_memory().is_some_and(|avail| bytes * 4 >= avail) {
        return Err(Failure::usage(format!(
            "--elements {n}: 4 x {bytes} bytes do not fit in free memory"
        )));
    }
    let slices = array::slices(n, args.workers as usize);
    let map = SharedMapping::new(n * 8)?;
    let words = &map.atomic_u64s()[..n];
    let ((shared, piped, fds), verdict) = measure::speed_claim(
        || array::compare(words, &slices, ROUNDS, LIMIT),
        |(shared, piped, _)| ratio(piped.cpu, shared.cpu) >= MIN_RATIO,
    )?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (w, mib) = (slices.len(), bytes >> 20);
    println!("{n} elements ({mib} MiB), {w} workers, best of {ROUNDS}, every element checked");
    println!("                           wall time       CPU time");
    for (label, c) in [
        ("shared memory (in place)", shared),
        ("pipes (there and back)", piped),
    ] {
        println!("{label:<26} {:>9.1} ms   {:>9.1} ms", ms(c.wall), ms(c.cpu));
    }
    let (wall_x, cpu_x) = (ratio(piped.wall, shared.wall), ratio(piped.cpu, shared.cpu));
    println!("pipes / shared             {wall_x:>9.1}x    {cpu_x:>9.1}x");
    println!(
        "descriptors per pipe worker: at most {fds} (stdin, stdout, stderr, its own two pipe ends)"
    );
    if let Some(note) = verdict.note(&format!("the CPU claim (>= {MIN_RATIO}x)")) {
        println!("{note}");
    }
    println!("lesson: workers that transform shared memory in place skip the copies a pipe makes");
    if fds > 5 {
        return Err(Failure::claim(format!(
            "a pipe worker held {fds} descriptors, expected at most 5"
        )));
    }
    if verdict == Verdict::Missed {
        return Err(Failure::with_code(
            SPEED_CLAIM_MISSED,
            format!(
                "pipes used only {cpu_x:.2}x the CPU of shared memory (claimed at least {MIN_RATIO}x)"
            ),
        ));
    }
    Ok(())
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-6)
}
