//! The convoy effect under the real GIL: a thread back from I/O waits behind CPU-bound Python threads.
//!
//! One I/O thread sleeps until its next 10 ms deadline beside CPU-bound
//! threads of the embedded CPython: first computing in pure Python, then
//! calling Rust that releases the GIL; then the same shape on the model GIL
//! of `examples_threading::gil`, in the same run. Notice: beside pure-Python
//! threads each wake-up waits for a hand-off it wins (CPython wakes one
//! waiter, not the one that asked), so the lateness piles up; with the GIL
//! released it wakes on time. Python: keep latency-sensitive threads away
//! from CPU-bound Python threads, or move the computing to native code that
//! releases the GIL (numpy, hashlib) or to processes.
//!
//! Checked in a release build (up to `--attempts` rounds, else "not
//! checked"): releasing the GIL makes the I/O thread's p50 lower than
//! beside pure Python, and, when the machine is quiet enough that the GIL
//! and not the OS sets the lateness, the model's p50 is within 2x of the
//! real one. Exit 1
//! when a claim failed or Python raised, 2 for a bad flag or no Python.
use std::time::Duration;

use clap::Parser;
use examples_python::convoy;
use examples_python::embed;
use examples_threading::verdict::Verdict;
use lesson::Failure;
use pyo3::prelude::*;

#[derive(Parser)]
struct Args {
    /// CPU-bound threads beside the I/O thread.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=4))]
    cpu_threads: u64,
    /// How many times the I/O thread wakes, every 10 ms.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(5..=200))]
    ticks: u64,
    /// Measure again, at most this many rounds in all, while the claim fails.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=5))]
    attempts: u64,
}

const PERIOD: Duration = Duration::from_millis(10);

fn main() -> std::process::ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let a: Args = lesson::args();
    embed::start()?;
    let (cpu, ticks) = (a.cpu_threads as usize, a.ticks as usize);
    Python::attach(|py| -> Result<(), Failure> {
        let build = embed::build(py).map_err(embed::raised)?;
        let driver = convoy::driver(py).map_err(embed::raised)?;
        println!(
            "I/O thread waking every 10 ms, {ticks} times, beside {cpu} CPU-bound threads; {}, embedded",
            build.label()
        );
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        for attempt in 1..=a.attempts {
            let r = convoy::round(py, &driver, cpu, ticks, PERIOD)?;
            let verdict = r.verdict();
            if verdict != Verdict::Held && attempt < a.attempts && !cfg!(debug_assertions) {
                println!(
                    "attempt {attempt} of {}: {verdict}; measuring again",
                    a.attempts
                );
                continue;
            }
            println!("{:<38} {:>10} {:>10}", "", "p50 late", "max late");
            for (name, l) in r.rows() {
                println!("{name:<38} {:>7.1} ms {:>7.1} ms", ms(l.p50()), ms(l.max()));
            }
            let f = r.model_vs_real();
            println!("model p50 vs real p50: {f:.2}x apart (claim: within 2x)");
            println!(
                "lesson: beside CPU-bound Python threads a thread back from I/O queues for the GIL; native code that releases it removes the queue"
            );
            return verdict.end();
        }
        Ok(())
    })
}
