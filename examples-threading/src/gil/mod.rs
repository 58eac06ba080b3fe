//! A model of CPython's Global Interpreter Lock, to measure what it does to
//! threads: the lock ([`lock`]), the workloads run under it or as free
//! threads ([`run`]), and the `gil` program's verdict ([`scaling`]).
//!
//! [`Gil`] follows CPython's "new GIL" (3.2 and later, `Python/ceval_gil.c`):
//!
//! - A thread must hold the lock to "run bytecode": [`Gil::acquire`] returns
//!   a [`GilGuard`].
//! - A thread that has waited longer than the *switch interval* (5 ms by
//!   default, `sys.getswitchinterval()`) without the lock changing hands
//!   sets a *drop request*.
//! - The holder looks at that request at its next [`GilGuard::check`] (the
//!   "eval breaker", which CPython tests between bytecodes). If it is set,
//!   the holder releases the lock and waits until another thread has taken
//!   it (`FORCE_SWITCHING`), then queues up again.
//! - The release wakes one waiter (`COND_SIGNAL`), and which one is up to
//!   glibc and the scheduler: the model picks one at random. That is what
//!   makes the convoy: with 2 CPU-bound threads handing the lock back and
//!   forth every interval, a thread back from I/O never sees an interval
//!   without a switch, so it never asks; it runs only when it wins a
//!   hand-off someone else asked for, about one in two (measured in
//!   CPython 3.11 on 2 cores: two hand-offs per wake-up). At a 10 ms period
//!   that often takes longer than the period, and the lateness piles up.
//!   (An earlier model gave the asker the lock; its I/O thread asked as
//!   soon as it found a quiet interval and ran about 10x sooner than
//!   CPython's.)
//! - Blocking I/O releases the lock: [`GilGuard::allow_threads`] is
//!   `Py_BEGIN_ALLOW_THREADS` / `Py_END_ALLOW_THREADS`.
//!
//! So under the model only one thread computes at a time, and a fixed
//! CPU-bound job takes as long on 4 threads as on 1; but threads that wait
//! overlap their waits. This is CPython with the GIL (3.13 and earlier, and
//! the default build of 3.14); the "free" mode is what the free-threaded
//! build `python3.14t` does, officially supported since 3.14 (PEP 779; the
//! Python docs put its single-thread cost at about 1-8%).
//!
//! The model is a model: how late a thread back from I/O runs depends on
//! the OS scheduler as much as on the lock. [`cpython_convoy`] measures the
//! real thing with `python3` (`gil-convoy --python`); the `real-convoy`
//! program of `examples-python` measures the embedded GIL next to this
//! model.
//!
//! ```
//! use std::time::Duration;
//! use examples_threading::gil::{Gil, Mode, run_cpu, run_io};
//! use examples_threading::work::{PrimeJob, WaitJob};
//!
//! let gil = Gil::default();
//! let job = PrimeJob::new(20_000, 500);
//! // Same answer under the model and as free threads; only the time differs.
//! assert_eq!(run_cpu(Mode::ModelGil(&gil), 3, &job)?, 2_262);
//! assert_eq!(run_cpu(Mode::Free, 3, &job)?, 2_262);
//!
//! let waits = WaitJob { waits: 6, wait: Duration::from_millis(1) };
//! assert_eq!(run_io(Mode::ModelGil(&gil), 3, &waits)?, 6);
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod lock;
pub mod run;
pub mod scaling;

pub use lock::{DEFAULT_SWITCH_INTERVAL, Gil, GilGuard, GilStats};
pub use run::{Lateness, Mode, convoy, run_cpu, run_io};
pub use scaling::{
    CORES_TO_CHECK_SCALING, Case, FREE_OVER_MODEL, IO_OF_IDEAL, MODEL_CORES_BELOW, MODEL_CPU_BELOW,
    MeasureError, Scaling, WrongAnswer,
};

/// The convoy shape for real CPython (`convoy.py`): one I/O thread waking
/// every period beside CPU-bound pure-Python threads. `gil-convoy --python`
/// runs it with `python3`; `real-convoy` (examples-python) loads it into the
/// embedded interpreter as the module `cpython_convoy`.
pub const CPYTHON_CONVOY_SCRIPT: &str = include_str!("convoy.py");

/// Runs [`CPYTHON_CONVOY_SCRIPT`] on `python` (at most 60 s) and returns
/// the I/O thread's lateness.
pub fn cpython_convoy(
    python: &lesson::python::Interpreter,
    cpu_threads: usize,
    ticks: usize,
    period: std::time::Duration,
) -> Result<Lateness, lesson::python::PyError> {
    let limit = std::time::Duration::from_secs(60);
    let mut cmd = python.command();
    cmd.args(["-c", CPYTHON_CONVOY_SCRIPT]);
    cmd.args([cpu_threads.to_string(), ticks.to_string()]);
    cmd.arg(period.as_secs_f64().to_string());
    let out = lesson::python::run(&mut cmd, limit)?.success(limit)?;
    let mut sorted = Vec::new();
    for line in out.lines() {
        let secs: f64 = line.trim().parse().map_err(|_| {
            lesson::python::PyError::Failed(format!("the convoy script printed {line:?}"))
        })?;
        sorted.push(std::time::Duration::from_secs_f64(secs.max(0.0)));
    }
    Ok(Lateness { sorted })
}
