//! A bounded semaphore caps how many threads use a resource at once, and
//! refuses a release that was never acquired.
//!
//! Notice: all the workers start together (a barrier), each holds a permit
//! for a few milliseconds, yet at most `--limit` are ever inside at once;
//! without the semaphore all of them are. Then a permit is released by hand
//! one time too many and the semaphore says so instead of quietly allowing
//! one more holder. Reach for it to cap connections, open files or calls to
//! a rate-limited service. Python: `threading.BoundedSemaphore`, whose extra
//! `release()` raises `ValueError`.

use anyhow::{Result, ensure};
use clap::Parser;
use examples_threading::semaphore::{Permit, Semaphore};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

#[derive(Parser)]
struct Args {
    /// Worker threads (1 to 256).
    #[arg(long, default_value_t = 8, value_parser = lesson::at_least_one)]
    workers: usize,
    /// Permits: how many may be inside at once (1 to 256).
    #[arg(long, default_value_t = 3, value_parser = lesson::at_least_one)]
    limit: usize,
}

/// Runs `workers` threads that each hold `enter()`'s guard for 5 ms; returns
/// the most that were ever inside at the same time.
fn most_inside<G>(workers: usize, enter: impl Fn() -> G + Sync) -> usize {
    let (inside, most, start) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        Barrier::new(workers),
    );
    thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                start.wait();
                let _guard = enter();
                most.fetch_max(inside.fetch_add(1, SeqCst) + 1, SeqCst);
                thread::sleep(Duration::from_millis(5));
                inside.fetch_sub(1, SeqCst);
            });
        }
    });
    most.load(SeqCst)
}

fn main() -> Result<()> {
    let args: Args = lesson::args();
    if args.workers > 256 || args.limit > 256 {
        lesson::usage_error("--workers and --limit must be at most 256");
    }
    let sem = Semaphore::new(args.limit);
    let free = most_inside(args.workers, || ());
    let capped = most_inside(args.workers, || sem.acquire());
    println!(
        "no semaphore       at most {free:>3} of {} workers inside at once",
        args.workers
    );
    println!(
        "semaphore({:>3})     at most {capped:>3} of {} workers inside at once",
        args.limit, args.workers
    );
    ensure!(
        capped <= args.limit,
        "{capped} workers were inside a semaphore of {}",
        args.limit
    );

    let permit: Permit = sem.acquire();
    permit.forget(); // taken by hand, to be released by hand
    let first = sem.release();
    let extra = sem.release();
    println!("release #1         {first:?}");
    println!(
        "release #2         {}",
        extra.map_or_else(|e| format!("Err: {e}"), |()| "Ok(())".into())
    );
    ensure!(
        first.is_ok() && extra.is_err(),
        "the extra release was not refused"
    );
    ensure!(sem.available() == args.limit, "the limit changed");
    println!(
        "lesson: a semaphore bounds concurrency, and a bounded one catches an unbalanced release"
    );
    Ok(())
}
