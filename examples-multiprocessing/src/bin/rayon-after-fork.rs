//! rayon after fork: a child forked after rayon's thread pool started
//! hangs on its first parallel call; a child forked first works.
//!
//! Notice: the child inherits rayon's global pool as data (queues, sleep
//! state) but none of its worker threads, so the job it hands the pool is
//! never picked up. The child's watchdog (`alarm`) turns the hang into
//! `Signaled(pid, SIGALRM)`. A child forked before the pool existed builds
//! its own pool and finishes. Reach for this order whenever a program both
//! forks and uses rayon (or any thread pool): fork workers first. Python:
//! the same happens to a child forked after a `ThreadPoolExecutor` or an
//! OpenMP/BLAS pool started. Both children also die with this program
//! (`PR_SET_PDEATHSIG`, armed by `fork`), so the stuck one cannot outlive a
//! killed parent. Exits 0 when both children end as predicted, 1 otherwise,
//! 71 when the system refuses a thread or process.

use std::time::Duration;

use clap::Parser;
use examples_multiprocessing::fork::{
    Ending, FINISH_WATCHDOG_SECS, ForkError, arm_watchdog, dies_with_parent, fork, fork_raw,
    report, thread_count,
};
use lesson::Failure;
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use rayon::prelude::*;

/// A child forked after rayon started hangs (watchdog); forking first works.
#[derive(Parser)]
struct Args {
    /// Numbers to sum in parallel.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    n: u64,
    /// Seconds before the child's watchdog fires.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    watchdog_secs: u32,
}

fn parallel_sum_is_right(n: u64) -> bool {
    (1..=n).into_par_iter().sum::<u64>() == n * (n + 1) / 2
}

/// Starts rayon's global pool now, so that a refused thread is an error
/// here instead of a panic inside the first parallel call.
fn start_rayon() -> Result<(), rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new().build_global()
}

fn main() -> std::process::ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let (n, secs) = (args.n, args.watchdog_secs);
    let limit = |secs: u32| Duration::from_secs(u64::from(secs) + 5);

    // Forked while this process has one thread: the child may start its own pool.
    let mut first = fork(dies_with_parent(|| {
        arm_watchdog(FINISH_WATCHDOG_SECS);
        match start_rayon() {
            Ok(()) => i32::from(!parallel_sum_is_right(n)),
            Err(_) => lesson::SYSTEM,
        }
    }))?;
    let mut ok = report(
        "forked before the pool",
        &mut first,
        Ending::Exit(0),
        limit(FINISH_WATCHDOG_SECS),
    )?;
    if first.wait()? == WaitStatus::Exited(first.pid(), lesson::SYSTEM) {
        return Err(Failure::system(
            "the child forked first could not start rayon's threads",
        ));
    }
    start_rayon().map_err(|e| Failure::system(format!("cannot start rayon's threads: {e}")))?;
    if !parallel_sum_is_right(n) {
        return Err(Failure::claim("the parent's parallel sum is wrong"));
    }
    let (workers, threads) = (rayon::current_num_threads(), thread_count()?);
    println!("parent started rayon: {workers} worker threads, {threads} threads in the process");
    // SAFETY: `arm_watchdog` is async-signal-safe; the rayon call after it is
    // not, on purpose: it is the hazard shown. It waits on a latch that no
    // worker thread exists to set (or on a lock copied while held), and the
    // watchdog armed first bounds that wait.
    let mut after = unsafe {
        fork_raw(dies_with_parent(|| {
            arm_watchdog(secs);
            i32::from(!parallel_sum_is_right(n))
        }))
    }
    .map_err(ForkError::Fork)?;
    let alarm = Ending::Killed(Signal::SIGALRM);
    ok &= report("forked after the pool", &mut after, alarm, limit(secs))?;
    if !ok {
        return Err(Failure::claim("a child did not end as predicted"));
    }
    println!(
        "lesson: fork before starting rayon (or any thread pool); a child of a threaded parent cannot use the parent's pool"
    );
    Ok(())
}
