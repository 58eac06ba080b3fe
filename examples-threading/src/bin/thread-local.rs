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
use examples_threading::scratch;

#[derive(Parser)]
struct Args {
    /// Threads in the rayon pool (1 to 256).
    #[arg(long, default_value_t = 2, value_parser = lesson::at_least_one)]
    threads: usize,
    /// Tasks (1 to 2000000).
    #[arg(long, default_value_t = 200_000, value_parser = lesson::at_least_one)]
    tasks: usize,
}

fn main() -> Result<()> {
    let args: Args = lesson::args();
    if args.threads > 256 || args.tasks > 2_000_000 {
        lesson::usage_error("--threads must be at most 256 and --tasks at most 2000000");
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()?;
    let fresh = scratch::fresh_per_task(&pool, args.tasks);
    let local = scratch::reused_per_thread(&pool, args.tasks);

    let ms = |run: &scratch::Run| run.took.as_secs_f64() * 1e3;
    let (allocs, created) = (fresh.buffers, local.buffers);
    let ratio = fresh.took.as_secs_f64() / local.took.as_secs_f64();
    println!(
        "buffer per task     {allocs:>9} buffers  {:>8.2} ms",
        ms(&fresh)
    );
    println!(
        "thread_local!       {created:>9} buffers  {:>8.2} ms  ({ratio:.2}x)",
        ms(&local)
    );
    let (fresh, local) = (fresh.sum, local.sum);
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
