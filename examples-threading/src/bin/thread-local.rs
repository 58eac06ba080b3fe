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

use clap::Parser;
use examples_threading::{scratch, verdict::claim};
use std::process::ExitCode;

#[derive(Parser)]
struct Args {
    /// Threads in the rayon pool.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// Tasks.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u32).range(1..=2_000_000))]
    tasks: u32,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), lesson::Failure> {
    let args: Args = lesson::args();
    let (threads, tasks) = (usize::from(args.threads), args.tasks as usize);
    // A refused thread is an error from build(), not a panic in rayon.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    let fresh = scratch::fresh_per_task(&pool, tasks);
    let local = scratch::reused_per_thread(&pool, tasks);

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
    claim(
        fresh == local,
        format_args!("the two versions disagree: {fresh} vs {local}"),
    )?;
    claim(
        (1..=threads).contains(&created),
        format_args!("{created} thread-local buffers for {threads} threads"),
    )?;
    println!(
        "lesson: a thread-local gives each pool thread its own scratch buffer: no lock, one allocation per thread"
    );
    Ok(())
}
