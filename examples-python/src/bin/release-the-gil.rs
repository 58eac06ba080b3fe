//! Release the GIL: Python threads calling Rust run in parallel only if the Rust code lets go of the lock.
//!
//! The embedded CPython imports `rust_primes`, a native module with one
//! prime counter that keeps the GIL and the same counter wrapped in
//! `Python::detach` (`Py_BEGIN_ALLOW_THREADS`). Python `threading.Thread`s
//! call each on 1 and 2 threads, beside `multiprocessing.Pool(2)` calling
//! the same counter and pure-Python threads counting a smaller range.
//! Notice: holding the GIL, 2 threads take as long as 1 and keep one core
//! busy; releasing it, they scale like the pool, without starting processes
//! or pickling. This is how numpy, hashlib and zlib let Python threads
//! compute: reach for it when the hot loop can live in native code.
//!
//! Checked in a release build on 2 idle cores (up to `--attempts`
//! measurements; a busy machine gets a "not checked" note and exit 0): all
//! answers equal the Rust count; holding stays below 1.25x; releasing
//! reaches 1.6x and is within 10% of `Pool(2)`'s time. Exit 1 when a claim
//! failed or Python raised, 2 for a bad flag or no usable Python.

use clap::Parser;
use examples_python::embed;
use examples_python::release;
use examples_threading::verdict::Verdict;
use examples_threading::work::count_primes;
use lesson::Failure;
use pyo3::prelude::*;

#[derive(Parser)]
struct Args {
    /// Rust counters: count the primes below this number.
    #[arg(long, default_value_t = 3_000_000, value_parser = clap::value_parser!(u64).range(1_000..=50_000_000))]
    limit: u64,
    /// Pure-Python threads: the primes below this (Python is ~50x slower).
    #[arg(long, default_value_t = 150_000, value_parser = clap::value_parser!(u64).range(1_000..=5_000_000))]
    pure_limit: u64,
    /// Slices the range is cut into (calls into Rust).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(2..=10_000))]
    pieces: u64,
    /// Keep the fastest of this many runs of each row.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=10))]
    repeat: u64,
    /// Measure again, at most this many times in all, while the claim fails.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=10))]
    attempts: u64,
}

fn main() -> std::process::ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let a: Args = lesson::args();
    embed::start()?;
    let (rust, pure) = (count_primes(0..a.limit), count_primes(0..a.pure_limit));
    Python::attach(|py| -> Result<(), Failure> {
        let build = embed::build(py).map_err(embed::raised)?;
        let driver = release::driver(py).map_err(embed::raised)?;
        println!(
            "job: primes below {} in {} slices = {rust} (pure Python: below {} = {pure}); {}, embedded",
            a.limit,
            a.pieces,
            a.pure_limit,
            build.label()
        );
        for attempt in 1..=a.attempts {
            let pieces = a.pieces as usize;
            let rows = release::measure_all(&driver, a.limit, a.pure_limit, pieces, a.repeat)
                .map_err(embed::raised)?;
            release::check_answers(&rows, rust, pure)?;
            let verdict = release::verdict(&rows);
            if verdict == Verdict::Held || attempt == a.attempts {
                release::print_rows(&rows);
                println!("answers: all equal the Rust count");
                println!(
                    "claim, on 2 idle cores: held <= 1.25x, released >= 1.6x and within 10% of Pool(2)"
                );
                println!(
                    "lesson: Python threads compute in parallel only inside native code that releases the GIL"
                );
                return verdict.end();
            }
            println!(
                "attempt {attempt} of {}: {verdict}; measuring again",
                a.attempts
            );
        }
        Ok(())
    })
}
