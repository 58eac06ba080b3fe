//! The convoy effect: under a GIL, a thread back from I/O waits for the CPU-bound threads.
//!
//! An I/O thread wakes every `--period-ms` and records how late it gets to
//! run while `--cpu-threads` threads compute: first all under the model GIL
//! (`examples_threading::gil`), then as free threads. Notice: under the model
//! each wake-up waits for a switch interval (5 ms) before it may even ask for
//! the lock, and longer with 2 or more CPU-bound threads: they ask for the
//! lock in turn, and a waiter may only ask after a whole interval in which
//! the lock did not change hands. Free threads wake almost on time. With
//! `--python` the same shape runs on real CPython (`python3`, or
//! `--python-exe`), measured in this run; the `real-convoy` program of
//! `examples-python` measures the embedded GIL beside the model. In Python
//! keep latency-sensitive I/O threads away from CPU-bound threads (move the
//! computing to processes).
//!
//! Checked: the model's p50 lateness is at least half the switch interval
//! (structural: the next hand-off is on average half an interval away, and
//! the I/O thread does not win them all) and, in a release build, above
//! the free threads' p50. Exit 2 also when `--python` finds no Python.
use std::time::Duration;

use clap::Parser;
use examples_threading::gil::{Gil, Mode, convoy, cpython_convoy};
use examples_threading::verdict::{Verdict, claim};
use lesson::Failure;
use lesson::python::{Interpreter, no_python};
use std::process::ExitCode;

#[derive(Parser)]
struct Args {
    /// CPU-bound threads next to the I/O thread.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=16))]
    cpu_threads: u8,
    /// How many times the I/O thread wakes (ticks x period-ms at most 10 s).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    ticks: u32,
    /// Milliseconds between wake-ups.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=200))]
    period_ms: u32,
    /// The model's switch interval in ms (CPython: 5).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=50))]
    switch_interval_ms: u64,
    /// Also run the same shape on real CPython, in this run.
    #[arg(long)]
    python: bool,
    /// The interpreter for `--python` (default: $TVP_PYTHON, else python3).
    #[arg(long, requires = "python")]
    python_exe: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let a: Args = lesson::args();
    if u64::from(a.ticks) * u64::from(a.period_ms) > 10_000 {
        // Two runs of it, each later still under the model.
        return Err(Failure::usage(
            "--ticks x --period-ms must be at most 10000 ms",
        ));
    }
    let interval = Duration::from_millis(a.switch_interval_ms);
    let period = Duration::from_millis(a.period_ms.into());
    let (cpu, ticks) = (usize::from(a.cpu_threads), a.ticks as usize);
    let gil = Gil::new(interval);
    let model = convoy(Mode::ModelGil(&gil), cpu, ticks, period)?;
    let free = convoy(Mode::Free, cpu, ticks, period)?;
    let real = match a.python {
        true => {
            let py = Interpreter::find(a.python_exe.as_deref()).map_err(no_python)?;
            let late = cpython_convoy(&py, cpu, ticks, period).map_err(no_python)?;
            Some((format!("{} (measured)", py.build.label()), late))
        }
        false => None,
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "I/O thread waking every {} ms, {ticks} times, next to {cpu} CPU-bound threads",
        a.period_ms
    );
    println!("{:<32} {:>10} {:>10}", "", "p50 late", "max late");
    let mut rows = vec![
        ("model GIL".to_string(), &model),
        ("free threads".into(), &free),
    ];
    rows.extend(real.as_ref().map(|(name, l)| (name.clone(), l)));
    for (name, l) in rows {
        println!("{name:<32} {:>7.1} ms {:>7.1} ms", ms(l.p50()), ms(l.max()));
    }
    if real.is_none() {
        println!("CPython: not measured in this run (add --python, or run real-convoy)");
    }
    println!("lesson: under a GIL a thread back from I/O queues behind the CPU-bound threads");
    let (m, f) = (ms(model.p50()), ms(free.p50()));
    let floor = a.switch_interval_ms;
    // Load only makes a wake-up later: the floor is a claim in any build.
    claim(
        model.p50() >= interval / 2,
        format_args!("model p50 {m:.1} ms is below half the {floor} ms switch interval"),
    )?;
    let why = format!("model p50 {m:.1} ms is not above free p50 {f:.1} ms");
    Verdict::speed(model.p50() > free.p50(), why).end()
}
