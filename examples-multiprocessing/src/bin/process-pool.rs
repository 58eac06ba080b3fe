//! A process pool on CPU-bound work: sequential vs `map` vs
//! `imap_unordered`, then what each task costs as chunks grow.
//!
//! Notice: with tasks of ~10 ms the pool runs close to `workers` times
//! faster (on idle cores). On tiny tasks the time is all overhead: one
//! chunk in flight per worker pays a round trip through two sleeping
//! processes per chunk; a window of chunks in flight, dealt round-robin so
//! even a small job reaches every worker, cuts that to well under a
//! microsecond per task. Reach for a process pool when the work is
//! CPU-bound and must not share memory (in Python, to get past the GIL).
//! Python: `multiprocessing.Pool(2).map(f, range(n), chunksize=1)`; to
//! measure CPython's per-task cost beside the pool's on this machine, run
//! `cargo run --release -p benches --bin compare -- --python`.
//!
//! Timings are best of `--rounds`; task length is calibrated in CPU time.
//! Exits 0 when results equal the sequential answer; at least 80% of the
//! workers' CPU time went to the tasks (CPU time does not depend on load);
//! a small job reached every worker; per-task cost fell from chunksize 1
//! to 1000 and the window beat one chunk in flight; and the pool beat
//! sequential by 1.25x (the margin for a loaded 2-core machine; skipped,
//! with a note, when the workers got under 1.5 CPUs). Exits 1 otherwise.

use anyhow::{Result, ensure};
use clap::Parser;
use examples_multiprocessing::measure;

#[derive(Parser)]
struct Args {
    /// Worker processes (at most 64).
    #[arg(long, default_value_t = 2, value_parser = lesson::at_least_one)]
    workers: usize,
    /// CPU-bound tasks for the speedup run (at most 10000).
    #[arg(long, default_value_t = 40, value_parser = lesson::at_least_one)]
    tasks: usize,
    /// Milliseconds of CPU work per task (at most 1000).
    #[arg(long, default_value_t = 10, value_parser = lesson::at_least_one)]
    task_ms: usize,
    /// Tiny tasks for the chunksize sweep (at most 2000000).
    #[arg(long, default_value_t = 100_000, value_parser = lesson::at_least_one)]
    tiny: usize,
    /// Runs of each measurement; the best counts (at most 20).
    #[arg(long, default_value_t = 3, value_parser = lesson::at_least_one)]
    rounds: usize,
}

fn main() -> std::process::ExitCode {
    examples_multiprocessing::fork::exit_code(run())
}

fn run() -> Result<()> {
    let a: Args = lesson::args();
    if a.workers > 64 || a.tasks > 10_000 || a.task_ms > 1000 || a.tiny > 2_000_000 || a.rounds > 20
    {
        lesson::usage_error(
            "at most 64 workers, 10000 tasks, 1000 ms per task, 2000000 tiny tasks, 20 rounds",
        );
    }
    let w = a.workers;
    let speed = measure::speedup(w, a.tasks as u64, a.task_ms, a.rounds)?;
    println!("{speed}");
    // Tiny tasks: the time is the pool's own cost per task.
    let costs = measure::per_task_costs(w, a.tiny, a.rounds, &[1, 10, 100, 1000])?;
    println!("{costs}");
    // Recycling workers (for leaky tasks) costs a fork per 1000 tasks.
    let (retired, us) = measure::recycling(w, a.tiny, 1000)?;
    println!("max_tasks_per_child 1000: {retired:>4} workers retired  {us:>15.2} us/task");
    let cpus = speed.cpus;
    // Speed and CPU cost are claims of a release build on idle cores; a
    // debug build (the tests') or a busy machine says so instead.
    let release = !cfg!(debug_assertions);
    let checked = release && w >= 2 && cpus >= 1.5;
    if !release {
        println!("note: a debug build: speed and CPU cost not checked (run with --release)");
    } else if w >= 2 && !checked {
        println!("note: workers got {cpus:.2} CPUs on average (machine busy): speedup not checked");
    }
    println!("lesson: keep several tasks in flight per worker and chunk tiny tasks");
    let (one, win, spread) = (&costs.one_in_flight, &costs.window, &costs.spread);
    ensure!(
        spread.iter().all(|&n| n > 0),
        "a small job did not reach every worker: {spread:?}"
    );
    ensure!(
        retired + w >= a.tiny / 1000,
        "only {retired} workers retired"
    );
    if release {
        ensure!(
            one[3] < one[0],
            "per-task cost did not fall with chunksize: {one:?}"
        );
        ensure!(
            win[0] < one[0],
            "pipelining did not beat one chunk in flight: {win:?} {one:?}"
        );
    }
    if let (true, Some(e)) = (checked, speed.efficiency) {
        let extra = (1.0 / e - 1.0) * 100.0;
        ensure!(e >= 0.8, "the pool spent {extra:.0}% extra CPU");
    }
    let x = speed.map_x().min(speed.imap_x());
    ensure!(!checked || x >= 1.25, "pool speedup {x:.2}x is below 1.25x");
    Ok(())
}
