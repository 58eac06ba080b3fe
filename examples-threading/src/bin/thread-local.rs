//! Per-thread scratch buffers: `thread_local!` gives each worker of a rayon
//! pool its own reusable buffer, so tasks share nothing and allocate nothing.
//!
//! Notice: the tasks run on `--threads` pool threads, and the thread-local
//! version creates one buffer per thread that ever ran a task (checked: at
//! most `--threads`), where the naive version allocates one per task. No
//! lock, no `Arc`: a thread-local is only ever touched by its own thread.
//! Both give the same answer (checked); the timing is printed, not checked
//! (with `--release` reuse wins, about 1.6-2.6x here on a busy 2-core box; a
//! debug build's slow thread-local access can eat the saving).
//! Reach for it for per-thread caches, scratch space, RNGs, counters that are
//! summed at the end. Python: `threading.local()`.

use anyhow::{Result, ensure};
use clap::Parser;
use rayon::prelude::*;
use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Threads in the rayon pool (1 to 256).
    #[arg(long, default_value_t = 2, value_parser = lesson::at_least_one)]
    threads: usize,
    /// Tasks (1 to 2000000).
    #[arg(long, default_value_t = 200_000, value_parser = lesson::at_least_one)]
    tasks: usize,
}

static BUFFERS_CREATED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // Initialised lazily, on the first task each thread runs.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new({
        BUFFERS_CREATED.fetch_add(1, Relaxed);
        Vec::new()
    });
}

/// The task: append sixteen 256-byte blocks to `buf` (4 KiB, so a fresh
/// buffer grows and copies five times) and checksum a sample of the bytes.
fn render(i: usize, buf: &mut Vec<u8>) -> u64 {
    buf.clear();
    for block in 0..16 {
        buf.extend_from_slice(&[(i + block) as u8; 256]);
    }
    buf.iter().step_by(128).map(|&b| u64::from(b)).sum()
}

fn main() -> Result<()> {
    let args: Args = lesson::args();
    if args.threads > 256 || args.tasks > 2_000_000 {
        lesson::usage_error("--threads must be at most 256 and --tasks at most 2000000");
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()?;

    let fresh_allocs = AtomicUsize::new(0);
    let t = Instant::now();
    let fresh: u64 = pool.install(|| {
        (0..args.tasks)
            .into_par_iter()
            .map(|i| {
                fresh_allocs.fetch_add(1, Relaxed);
                render(i, &mut Vec::new())
            })
            .sum()
    });
    let fresh_time = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let local: u64 = pool.install(|| {
        (0..args.tasks)
            .into_par_iter()
            .map(|i| SCRATCH.with_borrow_mut(|buf| render(i, buf)))
            .sum()
    });
    let local_time = t.elapsed().as_secs_f64();

    let created = BUFFERS_CREATED.load(Relaxed);
    println!(
        "buffer per task     {:>9} buffers  {:>8.2} ms",
        fresh_allocs.load(Relaxed),
        fresh_time * 1e3
    );
    println!(
        "thread_local!       {created:>9} buffers  {:>8.2} ms  ({:.2}x)",
        local_time * 1e3,
        fresh_time / local_time
    );
    ensure!(
        fresh == local,
        "the two versions disagree: {fresh} vs {local}"
    );
    ensure!(
        (1..=args.threads).contains(&created),
        "{created} thread-local buffers for {} threads",
        args.threads
    );
    println!(
        "lesson: a thread-local gives each pool thread its own scratch buffer: no lock, one allocation per thread"
    );
    Ok(())
}
