//! False sharing: threads that never share a counter still slow each other down when their counters share a cache line.
//!
//! Each of `--threads` threads adds 1 to its own atomic counter
//! `--iterations` times: first with the counters packed next to each other
//! (8 bytes apart, one 64-byte line), then each in its own line
//! (`crossbeam_utils::CachePadded`). Notice: same work, same answers, but the
//! packed run is several times slower: every write moves the line between
//! cores. Reach for padding for per-thread counters, stats and queue heads
//! written from different cores. (CPython threads with the GIL cannot show
//! this: they run one at a time; `multiprocessing.Array` counters can, and so
//! can the free-threaded `python3.14t`.)
//!
//! Checked: every counter ends at `--iterations` (always). In a release
//! build, with a margin for a loaded machine: packed takes >= 1.3x the CPU
//! time of padded when the packed run had >= 1.5 cores busy (CPU time, unlike
//! wall time, does not count time other programs held the cores); with fewer
//! the threads barely ran at the same time: it tries again (3 rounds), then
//! says "not checked".
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Parser;
use crossbeam_utils::CachePadded;
use examples_threading::verdict::{Verdict, claim, retry};
use examples_threading::work::{Measured, bump_own_counters, measure};
use std::process::ExitCode;

#[derive(Parser)]
struct Args {
    /// Threads, one counter each (default: the cores, at least 2).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=16))]
    threads: Option<u8>,
    /// Increments per thread.
    #[arg(long, default_value_t = 5_000_000, value_parser = clap::value_parser!(u64).range(1..=50_000_000))]
    iterations: u64,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), lesson::Failure> {
    let a: Args = lesson::args();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (threads, n) = (a.threads.map_or(cores.max(2), usize::from), a.iterations);
    let packed: Vec<AtomicU64> = (0..threads).map(|_| AtomicU64::new(0)).collect();
    let padded: Vec<_> = (0..threads)
        .map(|_| CachePadded::new(AtomicU64::new(0)))
        .collect();
    let once = || -> std::io::Result<(Measured, Measured)> {
        let (done, p) = measure(|| bump_own_counters(&packed, n, |c| c));
        done?;
        let (done, q) = measure(|| bump_own_counters(&padded, n, |c| &**c));
        done.map(|()| (p, q))
    };
    let (runs, verdict) = retry(3, once, |r| r.as_ref().map_or(Verdict::Held, judge));
    let (p, q) = runs?;
    let rounds = packed[0].load(Ordering::Relaxed) / n;
    let slowdown = p.wall.as_secs_f64() / q.wall.as_secs_f64();
    // CPU time ignores the time other programs held the cores.
    let cpu_slowdown = p.cpu.as_secs_f64() / q.cpu.as_secs_f64().max(1e-9);
    println!("{threads} threads, {n} increments each, {cores} cores");
    println!("{:<26} {:>9} {:>9} {:>11}", "", "wall", "cpu", "cores busy");
    for (name, m) in [("packed (8 bytes apart)", p), ("padded (CachePadded)", q)] {
        let (wall, cpu) = (m.wall.as_millis(), m.cpu.as_millis());
        println!(
            "{name:<26} {wall:>6} ms {cpu:>6} ms {:>11.2}",
            m.cores_busy()
        );
    }
    println!("slowdown from false sharing: {slowdown:.2}x wall, {cpu_slowdown:.2}x CPU time");
    let all = packed.iter().chain(padded.iter().map(|c| &**c));
    let counted = all
        .map(|c| c.load(Ordering::Relaxed))
        .all(|c| c == rounds * n);
    claim(
        counted,
        format_args!("a counter did not end at {n} per round"),
    )?;
    println!("lesson: counters written by different cores belong in different cache lines");
    verdict.in_this_build().end()
}

fn judge(&(p, q): &(Measured, Measured)) -> Verdict {
    let (busy, slowdown) = (
        p.cores_busy(),
        p.cpu.as_secs_f64() / q.cpu.as_secs_f64().max(1e-9),
    );
    if busy < 1.5 {
        Verdict::NotChecked(format!(
            "the threads got only {busy:.2} cores (other programs took the rest)"
        ))
    } else if slowdown < 1.3 {
        Verdict::Failed(format!(
            "packed only {slowdown:.2}x more CPU time with {busy:.2} cores busy"
        ))
    } else {
        Verdict::Held
    }
}
