//! Ctrl-C during pool work: stop handing out tasks, tell the workers to
//! stop, reap every one of them, then exit 130.
//!
//! Notice: the workers ignore SIGINT and SIGTERM (Ctrl-C, or a `kill` of
//! the process group, reaches every process in it), so only the parent
//! decides: its handler sets a flag, `poll` returns `EINTR`, the pool
//! stops. Shutdown closes the workers' pipes, waits up to a deadline,
//! SIGKILLs stragglers and reaps all (no children left). A worker still
//! dies with the parent (`PR_SET_PDEATHSIG`) if the parent is SIGKILLed.
//! `--interrupt-after-ms N` sends a real SIGINT from a kernel timer.
//! Reach for this in every long-running program with workers. Python: the
//! same fix (`signal.signal(SIGINT, SIG_IGN)` in the initializer, then
//! `pool.terminate(); pool.join()`), or the workers are left half-dead.
//! Exits 130 after SIGINT, 143 after SIGTERM, 0 when every task finished
//! (or was reported lost with its worker's pid and signal), 1 if a worker
//! or a descriptor was left behind or a result was wrong, 2 on a bad flag,
//! 71 when the system refuses a worker. The flags' limits keep a run that
//! is left alone within about 30 s on 2 cores.

use std::time::Duration;

use clap::Parser;
use examples_multiprocessing::cpu_work::{rounds_per_ms, spin};
use examples_multiprocessing::failure::{claim, pool_failure};
use examples_multiprocessing::pool::testing::{live_children, new_fds_per_worker, open_fds};
use examples_multiprocessing::pool::{CancelToken, Error, Pool};
use examples_multiprocessing::shutdown;
use lesson::Failure;
use process_toolkit::stop_signal;

#[derive(Parser)]
struct Args {
    /// Worker processes.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    workers: u64,
    /// Tasks.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=400))]
    tasks: u64,
    /// Milliseconds of CPU work per task.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=50))]
    task_ms: u64,
    /// Send ourselves SIGINT after this many milliseconds.
    #[arg(long, value_parser = clap::value_parser!(u64).range(..=60_000))]
    interrupt_after_ms: Option<u64>,
}

fn main() -> std::process::ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let a: Args = lesson::args();
    stop_signal::install()?;
    let (n, fds_before) = (a.tasks as usize, open_fds(None)?);
    let rounds = rounds_per_ms() * a.task_ms;
    let mut builder = Pool::builder(a.workers as usize);
    let job = builder.job(move |i: u64| spin(i, rounds));
    let mut pool = builder
        .initializer(shutdown::ignore_stop_signals)
        .cancel_token(CancelToken::watching(stop_signal::flag()))
        .build()
        .map_err(pool_failure)?;
    println!(
        "workers        {:?} (press Ctrl-C to stop early)",
        pool.pids()
    );
    if let Some(ms) = a.interrupt_after_ms {
        stop_signal::interrupt_after(Duration::from_millis(ms))?;
    }
    let (mut done, mut lost) = (0, 0);
    for r in pool
        .imap_unordered(job, 0..n as u64)
        .map_err(pool_failure)?
    {
        match r {
            Ok((i, v)) if v == spin(i as u64, rounds) => done += 1,
            Ok((i, _)) => return Err(Failure::claim(format!("task {i}: wrong result"))),
            Err(Error::Cancelled) => break, // Ctrl-C: the pool stopped handing out work
            Err(e @ Error::WorkerDied { .. }) => {
                println!("lost           {e}"); // someone killed a worker
                lost += 1;
            }
            Err(e) => return Err(pool_failure(e)),
        }
    }
    for r in pool.replacements() {
        println!("replaced       {r}");
    }
    let signal = stop_signal::received();
    match signal {
        Some(sig) => {
            println!("interrupted    by {sig} after {done} of {n} tasks: no more work handed out")
        }
        None => println!("finished       {done} of {n} tasks"),
    }
    // Each worker holds its own two pipe ends beyond what it inherited.
    let worker_fds = new_fds_per_worker(&pool, &fds_before, Duration::from_secs(2))?;
    println!("worker fds     {worker_fds:?} new in each worker (its own task and result pipes)");
    pool.close();
    let report = pool.join().map_err(pool_failure)?;
    let (exited, killed) = (report.exited, report.killed);
    println!("shutdown       {exited} workers exited, {killed} killed after the deadline");
    let (left, fds_after) = (live_children()?, open_fds(None)?);
    let (kids, before, after) = (left.len(), fds_before.len(), fds_after.len());
    println!("children left  {kids}, fds {before} before the pool and {after} after");
    println!(
        "lesson: on Ctrl-C, stop handing out work, close the workers' pipes, wait with a deadline, kill, reap"
    );
    let extra = worker_fds.iter().any(|&n| n != 2);
    claim(!extra, || {
        format!("a worker holds extra fds: {worker_fds:?}")
    })?;
    claim(fds_after == fds_before, || {
        format!("fds {fds_before:?}, then {fds_after:?}")
    })?;
    claim(left.is_empty(), || {
        format!("children left after shutdown: {left:?}")
    })?;
    if let Some(sig) = signal {
        return Err(Failure::interrupted(sig as i32));
    }
    claim(done + lost == n, || {
        format!("only {done} of {n} tasks finished")
    })
}
