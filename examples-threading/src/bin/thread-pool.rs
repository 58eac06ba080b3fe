//! A thread pool with futures: `submit` returns a handle, `join` yields the
//! value or the task's panic, `map` takes a chunksize, `shutdown` waits.
//!
//! Notice: one task panics on purpose; its handle returns the panic as an
//! error, every other task still succeeds, and the same pool then runs a
//! `map` and a shutdown that waits for every queued task. The panic hook
//! runs on the worker before the pool catches the unwind; this program's
//! hook reports it in one line (on stdout, as part of the lesson), with
//! no backtrace. `map` hands out chunks of indices from one counter;
//! chunks of 64 items cut the per-item cost (the timing is printed, not
//! checked). Reach for a pool when tasks arrive
//! one by one; for a loop over a slice, rayon. Python:
//! `concurrent.futures.ThreadPoolExecutor` (`submit`, `future.result()`,
//! `map`, `shutdown(wait=True)`).

use clap::Parser;
use examples_threading::thread_pool::{self, TaskError, ThreadPool, default_size, join_all};
use examples_threading::verdict::claim;
use examples_threading::work::collatz;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Worker threads (default: the CPUs available).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: Option<u16>,
    /// Tasks to submit.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=200_000))]
    tasks: u64,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), lesson::Failure> {
    let args: Args = lesson::args();
    let workers = args.workers.map_or_else(default_size, usize::from);
    thread_pool::report_worker_panics_in_one_line(); // no default report, no backtrace
    let n = args.tasks;
    let want: u64 = (1..=n).map(collatz).sum();
    let pool = ThreadPool::new(workers)?;
    let bad = (n / 2).max(1);
    let handles = pool.submit_each(1..=n, move |i| {
        assert!(i != bad, "task {i} fails on purpose");
        collatz(i)
    });
    let (values, errors) = join_all((1..=n).zip(handles));
    let first = errors
        .first()
        .map_or("-".into(), |(i, e)| format!("task {i}: {e}"));
    let (ok, failed) = (values.len(), errors.len());
    println!("submit+join  {workers} workers  {ok} ok, {failed} panicked: {first}");
    let expected_error = TaskError::Panicked(format!("task {bad} fails on purpose"));
    claim(
        errors == [(bad, expected_error)],
        format_args!("expected exactly task {bad} to fail, got {failed} failures"),
    )?;
    let sum: u64 = values.iter().sum();
    claim(sum + collatz(bad) == want, "submit+join: wrong sum")?;

    let mut first = None;
    for chunksize in [1, 64] {
        let start = Instant::now();
        let mapped = pool.map(1..=n, chunksize, collatz);
        let total: u64 = mapped.map_err(lesson::Failure::claim)?.into_iter().sum();
        let took = start.elapsed().as_secs_f64();
        claim(
            total == want,
            format_args!("map chunksize {chunksize}: got {total}, want {want}"),
        )?;
        let (ms, ratio) = (took * 1e3, *first.get_or_insert(took) / took);
        println!(
            "map chunksize {chunksize:>3}  {ms:>9.2} ms  {ratio:>5.2}x  same answer as sequential"
        );
    }

    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..n {
        let done = Arc::clone(&done);
        let _ = pool.submit(move || done.fetch_add(1, Ordering::SeqCst));
    }
    pool.shutdown();
    let finished = done.load(Ordering::SeqCst);
    println!("shutdown     waited for {finished} of {n} queued tasks");
    claim(
        finished as u64 == n,
        "shutdown returned before every queued task ran",
    )?;
    println!(
        "lesson: a task's panic comes back through its handle; the pool and the other tasks carry on"
    );
    Ok(())
}
