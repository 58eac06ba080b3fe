//! A large array in shared memory, transformed in place by forked workers,
//! against shipping the same slices through pipes and back.
//!
//! Notice: shared memory moves no bytes, pipes copy each one four times, so
//! the shared run is several times faster (target 3x). Each way runs 3
//! times and the cheapest run counts. The program checks the claim on CPU
//! time (the workers' and its own), which a loaded machine does not
//! inflate, and requires only 1.5x, a margin; wall time is printed beside
//! it. Every element is checked after each run. Reach for a shared array when workers touch
//! big data in place; Python: `multiprocessing.Array` against `Pool.map`.

use std::time::Duration;

use anyhow::{Result, bail};
use clap::Parser;
use examples_shared_memory::array::{self, Cost, MAX_ELEMENTS};
use examples_shared_memory::mapping::SharedMapping;

const ROUNDS: usize = 3;
const MIN_RATIO: f64 = 1.5;
const LIMIT: Duration = Duration::from_secs(60);

#[derive(Parser)]
struct Args {
    /// u64 elements in the array (at most 2^26).
    #[arg(long, default_value_t = 4_000_000, value_parser = lesson::at_least_one)]
    elements: usize,
    /// Worker processes (at most 64).
    #[arg(long, default_value_t = 2, value_parser = lesson::at_least_one)]
    workers: usize,
}

fn main() -> Result<()> {
    let args: Args = lesson::args();
    let bytes = (args.elements as u64).saturating_mul(8);
    let fits = array::available_memory().is_none_or(|avail| bytes.saturating_mul(4) < avail);
    if args.elements > MAX_ELEMENTS || args.workers > 64 || !fits {
        lesson::usage_error(
            "--elements must be at most 2^26 and fit 4 times in free memory; --workers at most 64",
        );
    }
    let slices = array::slices(args.elements, args.workers);
    let map = SharedMapping::new(args.elements * 8)?;
    let words = &map.atomic_u64s()[..args.elements];
    let worst = Cost {
        wall: Duration::MAX,
        cpu: Duration::MAX,
    };
    let (mut shared, mut piped) = (worst, worst);
    for _ in 0..ROUNDS {
        // SAFETY: this process never starts a thread.
        shared = shared.min(unsafe { array::run_in_shared_memory(words, &slices, LIMIT) }?);
        // SAFETY: as above.
        piped = piped.min(unsafe { array::run_through_pipes(args.elements, &slices, LIMIT) }?);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let wall_ratio = ms(piped.wall) / ms(shared.wall);
    let cpu_ratio = ms(piped.cpu) / ms(shared.cpu).max(0.001);
    let (n, w, mib) = (args.elements, slices.len(), bytes >> 20);
    println!("{n} elements ({mib} MiB), {w} workers, best of {ROUNDS}, every element checked");
    println!("                           wall time       CPU time");
    println!(
        "shared memory (in place)   {:>9.1} ms   {:>9.1} ms",
        ms(shared.wall),
        ms(shared.cpu)
    );
    println!(
        "pipes (there and back)     {:>9.1} ms   {:>9.1} ms",
        ms(piped.wall),
        ms(piped.cpu)
    );
    println!("pipes / shared             {wall_ratio:>9.1}x    {cpu_ratio:>9.1}x");
    println!("lesson: workers that transform shared memory in place skip the copies a pipe makes");
    if cpu_ratio < MIN_RATIO {
        bail!(
            "shared memory used only {cpu_ratio:.2}x less CPU than pipes (required {MIN_RATIO}x)"
        );
    }
    Ok(())
}
