//! A worker is SIGKILLed mid-task: only that task fails, the worker is
//! replaced, and every other result arrives.
//!
//! Notice: the error names the task, the worker's pid and the signal; a
//! panicking task fails alone and its worker lives on; a hanging task is
//! stopped by the per-task timeout (its worker killed and replaced); and
//! when every task kills its worker the pool gives up after `max_restarts`
//! deaths in a row instead of forking forever. Reach for it when tasks run
//! code that can segfault, abort or be OOM-killed. Python:
//! `multiprocessing.Pool.map` hangs forever when a worker is killed, and
//! `ProcessPoolExecutor` fails every pending task (`BrokenProcessPool`).
//! Exits 0 when exactly the three chosen tasks failed, each its own way,
//! and all other results equal the sequential answer; 1 otherwise.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Result, ensure};
use clap::Parser;
use examples_multiprocessing::faults::{self, Faults};
use examples_multiprocessing::pool::Error;

#[derive(Parser)]
struct Args {
    /// Worker processes (at most 64).
    #[arg(long, default_value_t = 2, value_parser = lesson::at_least_one)]
    workers: usize,
    /// Tasks (at most 10000).
    #[arg(long, default_value_t = 40, value_parser = lesson::at_least_one)]
    tasks: usize,
    /// The task that kills its own worker with SIGKILL.
    #[arg(long, default_value_t = 17)]
    crash_task: usize,
    /// The task that panics.
    #[arg(long, default_value_t = 23)]
    panic_task: usize,
    /// The task that hangs forever.
    #[arg(long, default_value_t = 29)]
    hang_task: usize,
    /// Per-task time limit in milliseconds (at most 60000).
    #[arg(long, default_value_t = 1000, value_parser = lesson::at_least_one)]
    timeout_ms: usize,
    /// Tasks per message (at most 1000): the lost task may sit mid-chunk.
    #[arg(long, default_value_t = 1, value_parser = lesson::at_least_one)]
    chunksize: usize,
    /// Milliseconds of CPU work per task (at most 1000).
    #[arg(long, default_value_t = 5, value_parser = lesson::at_least_one)]
    task_ms: usize,
}

fn main() -> std::process::ExitCode {
    examples_multiprocessing::fork::exit_code(run())
}

fn run() -> Result<()> {
    let a: Args = lesson::args();
    if a.workers > 64 || a.tasks > 10_000 || a.task_ms > 1000 || a.chunksize > 1000 {
        lesson::usage_error("at most 64 workers, 10000 tasks, 1000 ms per task, chunksize 1000");
    }
    let chosen = BTreeSet::from([a.crash_task, a.panic_task, a.hang_task]);
    if chosen.len() < 3 || a.tasks <= *chosen.last().unwrap_or(&0) || a.timeout_ms > 60_000 {
        lesson::usage_error(
            "--crash-task, --panic-task, --hang-task: three different tasks below --tasks; --timeout-ms at most 60000",
        );
    }
    let (crash, panic, hang) = (a.crash_task as u64, a.panic_task as u64, a.hang_task as u64);
    let f = Faults { crash, panic, hang };
    let timeout = Duration::from_millis(a.timeout_ms as u64);
    let run = faults::run(a.workers, a.tasks, f, a.chunksize, timeout, a.task_ms)?;
    println!("{run}");
    let others = a.tasks - 3;
    // A task list where every task kills its worker: the cap stops the loop.
    let capped = faults::every_task_kills_its_worker(a.workers, 4)?;
    let said = capped
        .as_ref()
        .map_or("no error (a bug)".into(), |e| e.to_string());
    println!("every task kills its worker, max_restarts 4: {said}");
    println!(
        "python         Pool.map hangs forever here; ProcessPoolExecutor fails every pending task (BrokenProcessPool)"
    );
    println!(
        "lesson: track which task each worker holds, so a dead worker costs one task, not the pool"
    );
    let replaced = run.replacements.len();
    ensure!(
        run.each_failed_its_own_way(),
        "the chosen tasks did not fail as expected"
    );
    ensure!(
        run.good == others && replaced == 2,
        "{} good results and {replaced} replacements, expected {others} and 2",
        run.good
    );
    ensure!(
        run.initializer_ran(),
        "a result came from a worker whose initializer did not run"
    );
    ensure!(
        matches!(capped, Some(Error::Broken { restarts: 5, .. })),
        "the restart cap did not stop the pool after 5 deaths"
    );
    Ok(())
}
