//! What `real-convoy` measures: the convoy effect under CPython's real GIL,
//! beside the model of [`examples_threading::gil`] for the same shape.
//!
//! One I/O thread sleeps until its next deadline (every `period`) beside
//! CPU-bound Python threads ([`Cpu`]); its lateness is how long after the
//! deadline it runs Python again. The driver (`python/convoy.py`) runs in
//! the embedded interpreter; [`model`] runs the same shape on the model
//! GIL, so the two figures come from one run on one machine.

use std::time::Duration;

use examples_threading::gil::{self, Gil, Lateness, Mode};
use examples_threading::verdict::Verdict;
use pyo3::prelude::*;

/// The driver's source.
pub const DRIVER: &str = include_str!("../python/convoy.py");

/// What the CPU-bound threads run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cpu {
    /// A pure-Python loop: holds the GIL except at forced switches.
    PurePython,
    /// Calls to Rust's prime counter that release the GIL.
    RustReleased,
}

impl Cpu {
    /// The row's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::PurePython => "CPython, CPU threads in pure Python",
            Self::RustReleased => "CPython, CPU in Rust, GIL released",
        }
    }
}

/// Loads the driver, and the shared convoy loop it imports
/// ([`gil::CPYTHON_CONVOY_SCRIPT`] as `cpython_convoy`), into the embedded
/// interpreter.
pub fn driver(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    crate::embed::load(py, "cpython_convoy", gil::CPYTHON_CONVOY_SCRIPT)?;
    crate::embed::load(py, "convoy_driver", DRIVER)
}

/// The I/O thread's lateness beside `cpu_threads` real Python threads.
pub fn real(
    driver: &Bound<'_, PyModule>,
    cpu: Cpu,
    cpu_threads: usize,
    ticks: usize,
    period: Duration,
) -> PyResult<Lateness> {
    let kind = match cpu {
        Cpu::PurePython => "python",
        Cpu::RustReleased => "released",
    };
    let late: Vec<f64> = driver
        .call_method1("lateness", (kind, cpu_threads, ticks, period.as_secs_f64()))?
        .extract()?;
    let sorted = late
        .into_iter()
        .map(|s| Duration::from_secs_f64(s.max(0.0)))
        .collect();
    Ok(Lateness { sorted })
}

/// The same shape on the model GIL with CPython's switch interval; the
/// caller detaches from the real interpreter first (the model's threads
/// do not touch Python).
pub fn model(cpu_threads: usize, ticks: usize, period: Duration) -> std::io::Result<Lateness> {
    let lock = Gil::new(gil::DEFAULT_SWITCH_INTERVAL);
    gil::convoy(Mode::ModelGil(&lock), cpu_threads, ticks, period)
}

/// One round: pure-Python, Rust-released and model lateness, in that order.
pub struct Round {
    /// Real GIL, pure-Python CPU threads.
    pub pure: Lateness,
    /// Real GIL, CPU threads in Rust with the GIL released.
    pub released: Lateness,
    /// The model GIL, pure-Python-like CPU threads.
    pub model: Lateness,
}

/// Measures one [`Round`].
pub fn round(
    py: Python<'_>,
    driver: &Bound<'_, PyModule>,
    cpu_threads: usize,
    ticks: usize,
    period: Duration,
) -> Result<Round, lesson::Failure> {
    let raised = crate::embed::raised;
    let pure = real(driver, Cpu::PurePython, cpu_threads, ticks, period).map_err(raised)?;
    let released = real(driver, Cpu::RustReleased, cpu_threads, ticks, period).map_err(raised)?;
    let model = py.detach(|| model(cpu_threads, ticks, period))?;
    Ok(Round {
        pure,
        released,
        model,
    })
}

/// How far apart two p50s are, as a factor of at least 1 (2.0: one is
/// twice the other).
pub fn factor(a: Duration, b: Duration) -> f64 {
    let (a, b) = (a.as_secs_f64().max(1e-6), b.as_secs_f64().max(1e-6));
    (a / b).max(b / a)
}

/// Above this p50 beside GIL-releasing threads (which leave the I/O thread
/// nothing to wait for but the OS), the scheduler, not the GIL, sets the
/// lateness, and the model-against-real claim is not checked.
pub const BUSY_P50: Duration = Duration::from_millis(2);

impl Round {
    /// How far apart the model's p50 and the real pure-Python p50 are.
    pub fn model_vs_real(&self) -> f64 {
        factor(self.model.p50(), self.pure.p50())
    }

    /// The claims: releasing the GIL lowers the I/O thread's p50, and the
    /// model's p50 lands within 2x of the real one (on a machine quiet
    /// enough that the GIL sets the lateness; speed claims in release
    /// builds only).
    pub fn verdict(&self) -> Verdict {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let (pure, released, model) = (self.pure.p50(), self.released.p50(), self.model.p50());
        if released >= pure {
            let why = format!(
                "beside GIL-releasing threads the p50 was {:.1} ms, not below pure Python's {:.1} ms",
                ms(released),
                ms(pure)
            );
            return Verdict::speed(false, why);
        }
        if released > BUSY_P50 {
            return Verdict::NotChecked(format!(
                "model within 2x of real: the machine is busy (the I/O thread was {:.1} ms late \
                 with nothing but the OS to wait for; under {:.0} ms on a quiet machine)",
                ms(released),
                ms(BUSY_P50)
            ));
        }
        let f = self.model_vs_real();
        let why = format!(
            "the model's p50 {:.1} ms is {f:.1}x off the real {:.1} ms",
            ms(model),
            ms(pure)
        );
        Verdict::speed(f <= 2.0, why)
    }

    /// The three rows: name and lateness.
    pub fn rows(&self) -> [(&'static str, &Lateness); 3] {
        [
            (Cpu::PurePython.name(), &self.pure),
            (Cpu::RustReleased.name(), &self.released),
            ("model GIL, same shape", &self.model),
        ]
    }
}
