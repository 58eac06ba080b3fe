//! False sharing: threads that never share a counter still slow each other down when their counters share a cache line.
//!
//! Each of `--threads` threads adds 1 to its own atomic counter
//! `--iterations` times: first with the counters packed next to each other
//! (8 bytes apart, one 64-byte line), then each in its own line
//! (`crossbeam_utils::CachePadded`). Notice: same work, same answers, but the
//! packed run is several times slower: every write moves the line between
//! cores. Reach for padding for per-thread counters, stats and queue heads
//! written from different cores. (CPython threads cannot show this: the GIL
//! runs one at a time; `multiprocessing.Array` counters can.)
//!
//! Checked: every counter ends at `--iterations` (always). With a margin for
//! a loaded machine: packed takes >= 1.3x the CPU time of padded when the
//! packed run had >= 1.5 cores busy (CPU time, unlike wall time, does not
//! count time other programs held the cores); with fewer the threads barely
//! ran at the same time, and the program says so instead of failing.
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Parser;
use crossbeam_utils::CachePadded;
use examples_threading::work::{bump_own_counters, measure};

#[derive(Parser)]
struct Args {
    /// Threads, one counter each (default: the cores, at least 2; at most 16).
    #[arg(long, value_parser = lesson::at_least_one)]
    threads: Option<usize>,
    /// Increments per thread (at most 100_000_000).
    #[arg(long, default_value_t = 5_000_000, value_parser = lesson::at_least_one)]
    iterations: usize,
}

fn main() {
    let a: Args = lesson::args();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = a.threads.unwrap_or(cores.max(2));
    if threads > 16 || a.iterations > 100_000_000 {
        lesson::usage_error("at most --threads 16 and --iterations 100000000");
    }
    let n = a.iterations as u64;
    let packed: Vec<AtomicU64> = (0..threads).map(|_| AtomicU64::new(0)).collect();
    let padded: Vec<_> = (0..threads)
        .map(|_| CachePadded::new(AtomicU64::new(0)))
        .collect();
    let ((), p) = measure(|| bump_own_counters(&packed, n, |c| c));
    let ((), q) = measure(|| bump_own_counters(&padded, n, |c| &**c));
    let all_right = packed
        .iter()
        .chain(padded.iter().map(|c| &**c))
        .all(|c| c.load(Ordering::Relaxed) == n);
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
    println!("lesson: counters written by different cores belong in different cache lines");
    if !all_right {
        eprintln!("false-sharing: claim failed: a counter did not end at {n}");
        std::process::exit(1);
    }
    if p.cores_busy() < 1.5 {
        println!(
            "note: the threads got only {:.2} cores (shared machine): slowdown not checked",
            p.cores_busy()
        );
    } else if cpu_slowdown < 1.3 {
        eprintln!(
            "false-sharing: claim failed: packed only {cpu_slowdown:.2}x more CPU time with {:.2} cores busy",
            p.cores_busy()
        );
        std::process::exit(1);
    }
}
