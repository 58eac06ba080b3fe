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
//! - The thread that asked is the one that gets the lock, and that is what
//!   makes the convoy: a thread back from I/O that arrives just after
//!   another waiter asked waits behind it, and must itself wait a whole
//!   interval with no switch before it may ask. (A model that let any
//!   waiter win the hand-off shows only about half a switch interval.)
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
//! the OS scheduler as much as on the lock. [`CPYTHON_CONVOY`] quotes one
//! measurement of the real thing; the `real-convoy` program of
//! `examples-python` measures the real GIL next to this model.
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

/// A quote, not measured by this crate: real CPython's convoy, one thread
/// waking every 10 ms next to 2 CPU-bound threads, on this machine kind.
pub const CPYTHON_CONVOY: &str = "CPython 3.11.7, 2 CPU-bound threads, one thread waking every 10 ms, \
     on a 2-core Xeon of this kind shared with other work (a 25-line threading script, 5 runs, 2026-12-01): \
     p50 65-200 ms late, max 100-370 ms";
