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
use examples_multiprocessing::pool::testing::open_fds;
use examples_multiprocessing::pool::{CancelToken, Pool};
use examples_multiprocessing::shutdown::{self, ignore_stop_signals};
use lesson::Failure;
use process_toolkit::stop_signal;

#[derive(Parser)]
struct Args {
    /// Worker processes.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
    workers: u64,
    /// Tasks.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=240))]
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
        .initializer(ignore_stop_signals)
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
    let results = pool
        .imap_unordered(job, 0..n as u64)
        .map_err(pool_failure)?;
    let t = shutdown::tally(results, |i, v| *v == spin(i, rounds))?;
    for r in pool.replacements() {
        println!("replaced       {r}");
    }
    let (signal, done) = (stop_signal::received(), t.done);
    match signal {
        Some(sig) => {
            println!("interrupted    by {sig} after {done} of {n} tasks: no more work handed out")
        }
        None => println!("finished       {done} of {n} tasks"),
    }
    let left = shutdown::shut_down(pool, fds_before)?;
    println!("{left}");
    println!(
        "lesson: on Ctrl-C, stop handing out work, close the workers' pipes, wait with a deadline, kill, reap"
    );
    left.check()?;
    if let Some(sig) = signal {
        return Err(Failure::interrupted(sig as i32));
    }
    claim(done + t.lost == n, || {
        format!("only {done} of {n} tasks finished")
    })
}
