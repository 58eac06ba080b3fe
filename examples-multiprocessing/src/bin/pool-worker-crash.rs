//! A worker is SIGKILLed mid-task: only that task fails, the worker is
//! replaced, and every other result arrives.
//!
//! Notice: the error names the task, the worker's pid and the signal; a
//! panicking task fails alone and its worker lives on; a hanging task is
//! stopped by the per-task timeout (its worker killed and replaced); and
//! when every task kills its worker the pool gives up after `max_restarts`
//! deaths in a row instead of forking forever. Reach for it when tasks run
//! code that can segfault, abort or be OOM-killed. Python: with `--python`
//! the same crash runs in CPython's `multiprocessing.Pool.map` (it hangs,
//! gh-96062, and is stopped at `--python-limit-secs`) and
//! `ProcessPoolExecutor` (it raises `BrokenProcessPool` for every task not
//! yet done), measured here with `python3`, `--python-exe` or `TVP_PYTHON`.
//! Exits 0 when exactly the three chosen tasks failed, each its own way,
//! and all other results equal the sequential answer; 1 otherwise (or when
//! Python failed); 2 on a bad flag or without a usable Python for
//! `--python`; 71 when the system refuses a worker. The flags' limits keep
//! the largest run (1 worker, 500 tasks of 20 ms, a 10 s timeout) within
//! about 30 s on 2 cores.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use examples_multiprocessing::cpython_crash;
use examples_multiprocessing::failure::failure;
use examples_multiprocessing::faults::{self, Faults};
use lesson::{Failure, python};

#[derive(Parser)]
struct Args {
    /// Worker processes.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    workers: u64,
    /// Tasks (more than the three chosen ones below).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=500))]
    tasks: u64,
    /// The task that kills its own worker with SIGKILL.
    #[arg(long, default_value_t = 17)]
    crash_task: u64,
    /// The task that panics.
    #[arg(long, default_value_t = 23)]
    panic_task: u64,
    /// The task that hangs forever.
    #[arg(long, default_value_t = 29)]
    hang_task: u64,
    /// Per-task time limit in milliseconds (10x the longest --task-ms).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(200..=10_000))]
    timeout_ms: u64,
    /// Tasks per message: the lost task may sit mid-chunk.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    chunksize: u64,
    /// Milliseconds of CPU work per task.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=20))]
    task_ms: u64,
    /// Also run CPython's Pool and ProcessPoolExecutor with the same crash.
    #[arg(long)]
    python: bool,
    /// The Python interpreter for --python (else TVP_PYTHON, else python3).
    #[arg(long)]
    python_exe: Option<PathBuf>,
    /// How long CPython's Pool.map may run before it is stopped
    /// (ProcessPoolExecutor, which returns, gets at least 20 s).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=20))]
    python_limit_secs: u64,
}

fn main() -> std::process::ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let a: Args = lesson::args();
    let (tasks, workers) = (a.tasks as usize, a.workers as usize);
    let f = Faults::chosen(a.crash_task, a.panic_task, a.hang_task, a.tasks);
    let f = f.map_err(Failure::usage)?;
    let py = a
        .python
        .then(|| python::Interpreter::find(a.python_exe.as_deref()));
    let py = py.transpose().map_err(python::no_python)?;
    let (chunksize, task_ms) = (a.chunksize as usize, a.task_ms as usize);
    let timeout = Duration::from_millis(a.timeout_ms);
    let run = faults::run(workers, tasks, f, chunksize, timeout, task_ms);
    let run = run.map_err(failure)?;
    println!("{run}");
    // A task list where every task kills its worker: the cap stops the loop.
    let capped = faults::every_task_kills_its_worker(workers, 4).map_err(failure)?;
    let said = capped
        .as_ref()
        .map_or("no error (a bug)".into(), |e| e.to_string());
    println!("every task kills its worker, max_restarts 4: {said}");
    let limit = Duration::from_secs(a.python_limit_secs);
    match &py {
        Some(py) => cpython_crash::run_both(py, tasks, workers, a.crash_task as usize, limit)?,
        None => println!("python: run with --python to see CPython's pools meet the same crash"),
    }
    println!(
        "lesson: track which task each worker holds, so a dead worker costs one task, not the pool"
    );
    run.check(&capped)
}
