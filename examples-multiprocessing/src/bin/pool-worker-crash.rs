//! A worker is SIGKILLed mid-task: only that task fails, the worker is
//! replaced, and every other result arrives.
//!
//! Notice: the error names the task, the worker's pid and the signal; a
//! task that panics fails alone and its worker lives on; a task that hangs
//! is stopped by the per-task timeout (its worker killed and replaced,
//! where Python's `Pool` would wait forever); and when every
//! task kills its worker the pool gives up after `max_restarts` deaths in a
//! row instead of forking forever. Reach for a crash-tolerant pool when
//! tasks run code that can segfault, abort, or be OOM-killed (native
//! libraries, untrusted input). Python: CPython's `multiprocessing.Pool`
//! hangs forever in `map` when a worker is killed (it replaces the worker
//! but the lost task never completes), and
//! `concurrent.futures.ProcessPoolExecutor` marks itself broken and fails
//! every pending task with `BrokenProcessPool`. Exits 0 when exactly the
//! three chosen tasks failed, each for its own reason, and all other
//! results equal the sequential answer; 1 otherwise.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::{Result, ensure};
use clap::Parser;
use examples_multiprocessing::cpu_work::{rounds_per_ms, spin};
use examples_multiprocessing::pool::{Death, Error, Pool};
use nix::sys::signal::{Signal, raise};

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

/// Set by the initializer in each worker: its own pid (0 if it never ran).
static INITIALIZED_IN: AtomicU32 = AtomicU32::new(0);

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
    let (crash, boom, hang) = (a.crash_task as u64, a.panic_task as u64, a.hang_task as u64);
    let rounds = rounds_per_ms() * a.task_ms as u64;
    let job = move |i: u64| {
        if i == crash {
            let _ = raise(Signal::SIGKILL); // as a segfault or the OOM killer would
        }
        assert!(i != boom, "task {i} panics on purpose");
        if i == hang {
            loop {
                std::thread::sleep(Duration::from_secs(1)); // a deadlock, an endless loop
            }
        }
        (spin(i, rounds), INITIALIZED_IN.load(Relaxed))
    };
    // The initializer runs once in every worker, replacements included.
    let mut pool = Pool::builder(a.workers, job)
        .initializer(|| INITIALIZED_IN.store(std::process::id(), Relaxed))
        .chunksize(a.chunksize)
        .task_timeout(Duration::from_millis(a.timeout_ms as u64))
        .build()?;
    let mut pids = pool.pids();
    println!("workers        {:?}", pool.pids());
    let results = pool.map(0..a.tasks as u64)?;
    let (mut good, mut inits) = (0, BTreeSet::new());
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok((v, init)) => {
                ensure!(*v == spin(i as u64, rounds), "task {i}: wrong result");
                inits.insert(*init);
                good += 1;
            }
            Err(e) => println!("failed         {e}"),
        }
    }
    let crashed = matches!(
        &results[a.crash_task],
        Err(Error::WorkerDied {
            cause: Death::Signaled(Signal::SIGKILL),
            ..
        })
    );
    let panicked = matches!(&results[a.panic_task], Err(Error::Panicked { .. }));
    let timed_out = matches!(&results[a.hang_task], Err(Error::TimedOut { .. }));
    for r in pool.replacements() {
        println!(
            "replacement    worker {} {} -> new worker {:?}",
            r.old_pid,
            r.cause,
            r.new_pid.unwrap_or(0)
        );
    }
    let replaced = pool.replacements().len();
    pids.extend(pool.replacements().iter().filter_map(|r| r.new_pid));
    let init_ok = inits.iter().all(|p| pids.contains(&(*p as i32)));
    println!("initializer    ran in {inits:?}, each a worker of this pool");
    println!(
        "other results  {good} of {} equal the sequential answer",
        a.tasks - 3
    );
    drop(pool);

    // A task list where every task kills its worker: the cap stops the loop.
    let mut doomed = Pool::builder(a.workers, |_: u64| -> u64 {
        let _ = raise(Signal::SIGKILL);
        0
    })
    .max_restarts(4)
    .build()?;
    let capped = doomed.map(0..1000);
    let capped_ok = matches!(capped, Err(Error::Broken { restarts: 5, .. }));
    match capped {
        Err(e) => println!("every task kills its worker, max_restarts 4: {e}"),
        Ok(_) => println!("every task kills its worker, max_restarts 4: no error (unexpected)"),
    }
    println!(
        "python         Pool.map hangs forever here; ProcessPoolExecutor fails every pending task (BrokenProcessPool)"
    );
    println!(
        "lesson: track which task each worker holds, so a dead worker costs one task, not the pool"
    );
    ensure!(
        crashed && panicked && timed_out,
        "the chosen tasks did not fail as expected"
    );
    ensure!(
        good == a.tasks - 3 && replaced == 2,
        "{good} good results and {replaced} replacements, expected {} and 2",
        a.tasks - 3
    );
    ensure!(
        init_ok,
        "a result came from a worker whose initializer did not run"
    );
    ensure!(
        capped_ok,
        "the restart cap did not stop the pool after 5 deaths"
    );
    Ok(())
}
