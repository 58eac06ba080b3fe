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

use clap::Parser;
use examples_threading::occupancy::most_inside;
use examples_threading::semaphore::{Permit, Semaphore};
use examples_threading::verdict::claim;
use lesson::Failure;
use std::process::ExitCode;

#[derive(Parser)]
struct Args {
    /// Worker threads.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
    /// Permits: how many may be inside at once.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=256))]
    limit: u16,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let (workers, limit) = (usize::from(args.workers), usize::from(args.limit));
    let sem = Semaphore::new(limit);
    let free = most_inside(workers, || ())?;
    let capped = most_inside(workers, || sem.acquire())?;
    println!("no semaphore       at most {free:>3} of {workers} workers inside at once");
    println!("semaphore({limit:>3})     at most {capped:>3} of {workers} workers inside at once");
    claim(
        capped <= limit,
        format_args!("{capped} workers were inside a semaphore of {limit}"),
    )?;

    let permit: Permit = sem.acquire();
    permit.forget(); // taken by hand, to be released by hand
    let first = sem.release();
    let extra = sem.release();
    println!("release #1         {first:?}");
    let shown = extra.map_or_else(|e| format!("Err: {e}"), |()| "Ok(())".into());
    println!("release #2         {shown}");
    claim(
        first.is_ok() && extra.is_err(),
        "the extra release was not refused",
    )?;
    claim(sem.available() == limit, "the limit changed")?;
    println!(
        "lesson: a semaphore bounds concurrency, and a bounded one catches an unbalanced release"
    );
    Ok(())
}
