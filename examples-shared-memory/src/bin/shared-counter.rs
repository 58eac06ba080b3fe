//! Lost updates across processes: N processes increment one counter in
//! shared memory.
//!
//! Notice: a separate load and store (`counter.value += 1` on a Python
//! `multiprocessing.Value`) comes out short; `fetch_add` and the same racy
//! code under a lock in the shared memory (`with counter.get_lock():`) lose
//! nothing; the lock usually costs the most time. The processes start
//! together, and every 1024th racy increment yields between its load and
//! its store, so the loss shows on every run, even on one core (see
//! `counter::WIDEN_EVERY`). Reach for `fetch_add` on an `AtomicU64` in a
//! `SharedMapping` for counters; a lock only when several words change.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Parser;
use examples_shared_memory::counter::{SpinLock, add_atomic, add_locked, add_racy, start_together};
use examples_shared_memory::{child, mapping::SharedMapping};

#[derive(Parser)]
struct Args {
    /// Processes incrementing at once (2 to 64).
    #[arg(long, default_value_t = 4, value_parser = lesson::at_least_one)]
    processes: usize,
    /// Increments per process (at most 10_000_000).
    #[arg(long, default_value_t = 200_000, value_parser = lesson::at_least_one)]
    iterations: usize,
}

fn main() -> Result<()> {
    let args: Args = lesson::args();
    let total_work = args.processes.saturating_mul(args.iterations);
    if !(2..=64).contains(&args.processes)
        || args.iterations > 10_000_000
        || total_work > 40_000_000
    {
        lesson::usage_error(
            "--processes must be 2..=64, --iterations at most 10_000_000, their product at most 40_000_000",
        );
    }
    let expected = total_work as u64;
    let mut lost = Vec::new();
    for (name, variant) in [
        ("racy   (load + store)", 0),
        ("atomic (fetch_add)", 1),
        ("lock   (get_lock())", 2),
    ] {
        let map = SharedMapping::new(4096)?;
        // Bytes 0..8 the counter, 8..16 the start line, 16..20 the lock.
        let (counter, ready) = (&map.atomic_u64s()[0], &map.atomic_u64s()[1]);
        let lock = SpinLock::new(&map.atomic_u32s()[4]);
        let n = args.iterations as u64;
        let start = Instant::now();
        let mut children = Vec::new();
        for _ in 0..args.processes {
            // SAFETY: this process never starts a thread.
            children.push(unsafe {
                child::fork(|| {
                    start_together(ready, args.processes as u64);
                    match variant {
                        0 => add_racy(counter, n),
                        1 => add_atomic(counter, n),
                        _ => add_locked(&lock, counter, n),
                    }
                    0
                })
            }?);
        }
        let pids: Vec<String> = children.iter().map(|c| c.pid().to_string()).collect();
        for c in children {
            c.join(Duration::from_secs(60))?;
        }
        let total = counter.load(Ordering::Acquire);
        let ms = start.elapsed().as_secs_f64() * 1e3;
        println!(
            "{name:<22} {total:>10} of {expected}   lost {:>9}   {ms:>7.1} ms   pids {}",
            expected - total,
            pids.join(",")
        );
        lost.push(expected - total);
    }
    println!(
        "lesson: a read-modify-write shared by processes must be one atomic step or sit under one lock"
    );
    if lost[0] == 0 || lost[1] != 0 || lost[2] != 0 {
        bail!("expected the racy counter to lose updates and the others none, lost {lost:?}");
    }
    Ok(())
}
