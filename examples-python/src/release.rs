//! What `release-the-gil` measures: Python threads calling the Rust prime
//! counter of [`crate::native`] holding the GIL and releasing it, beside
//! `multiprocessing.Pool` and pure-Python threads on the same slices.
//!
//! The driver (`python/release.py`) runs inside the embedded interpreter;
//! each [`Approach`] on `n` threads (or workers) gives a [`Row`] with the
//! answer, the wall time and the CPU time, so the cores kept busy show
//! whether the threads really ran at once.

use std::time::Duration;

use examples_threading::work::Measured;
use pyo3::prelude::*;

/// The driver's source.
pub const DRIVER: &str = include_str!("../python/release.py");

/// Who counts the primes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approach {
    /// Python threads calling Rust that keeps the GIL.
    Held,
    /// Python threads calling Rust that releases it.
    Released,
    /// `multiprocessing.Pool` workers calling Rust (releasing, unused).
    Pool,
    /// Python threads running the same loop in Python.
    PurePython,
}

impl Approach {
    /// The row's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Held => "threading -> Rust, GIL held",
            Self::Released => "threading -> Rust, GIL released",
            Self::Pool => "multiprocessing.Pool -> Rust",
            Self::PurePython => "threading, pure Python",
        }
    }
}

/// One measurement.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    /// What ran.
    pub approach: Approach,
    /// On how many threads or workers.
    pub threads: usize,
    /// Primes counted.
    pub answer: u64,
    /// Wall and CPU time (CPU of every worker, for the pool).
    pub measured: Measured,
}

/// Loads the driver into the embedded interpreter.
pub fn driver(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    crate::embed::load(py, "release_driver", DRIVER)
}

/// Counts the primes below `limit` in `pieces` slices with `approach` on
/// `threads` threads (or pool workers).
pub fn measure(
    driver: &Bound<'_, PyModule>,
    approach: Approach,
    threads: usize,
    limit: u64,
    pieces: usize,
) -> PyResult<Row> {
    let (function, kind) = match approach {
        Approach::Held => ("on_threads", "held"),
        Approach::Released => ("on_threads", "released"),
        Approach::Pool => ("in_pool", "released"),
        Approach::PurePython => ("on_threads", "python"),
    };
    let (answer, wall, cpu): (u64, f64, f64) = driver
        .call_method1(function, (kind, threads, limit, pieces))?
        .extract()?;
    let secs = |s: f64| Duration::from_secs_f64(s.max(0.0));
    Ok(Row {
        approach,
        threads,
        answer,
        measured: Measured {
            wall: secs(wall),
            cpu: secs(cpu),
            ..Measured::default()
        },
    })
}

/// For `compare --python`: Python threads calling the releasing counter,
/// the fastest of `reps` runs, in the embedded interpreter; returns the
/// row and the embedded build's label.
pub fn released_on_threads(
    threads: usize,
    limit: u64,
    pieces: usize,
    reps: usize,
) -> Result<(Row, String), lesson::Failure> {
    crate::embed::start()?;
    Python::attach(|py| {
        let build = crate::embed::build(py)?;
        let driver = driver(py)?;
        let mut best: Option<Row> = None;
        for _ in 0..reps.max(1) {
            let row = measure(&driver, Approach::Released, threads, limit, pieces)?;
            if best.is_none_or(|b| row.measured.wall < b.measured.wall) {
                best = Some(row);
            }
        }
        let label = format!(
            "{} {}, embedded",
            build.version,
            if build.free_threaded {
                "free-threaded"
            } else {
                "GIL"
            }
        );
        Ok((best.expect("at least one run"), label))
    })
    .map_err(crate::embed::raised)
}
