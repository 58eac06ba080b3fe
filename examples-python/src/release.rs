//! What `release-the-gil` measures: Python threads calling the Rust prime
//! counter of [`crate::native`] holding the GIL and releasing it, beside
//! `multiprocessing.Pool` and pure-Python threads on the same slices.
//!
//! The driver (`python/release.py`) runs inside the embedded interpreter;
//! each [`Approach`] on `n` threads (or workers) gives a [`Row`] with the
//! answer, the wall time and the CPU time, so the cores kept busy show
//! whether the threads really ran at once.

use std::time::Duration;

use examples_threading::verdict::Verdict;
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

/// The rows `release-the-gil` measures: each approach on 1 and 2 threads,
/// and `Pool(2)`.
pub const ROWS: [(Approach, usize); 7] = [
    (Approach::Held, 1),
    (Approach::Held, 2),
    (Approach::Released, 1),
    (Approach::Released, 2),
    (Approach::Pool, 2),
    (Approach::PurePython, 1),
    (Approach::PurePython, 2),
];

/// Every row of [`ROWS`], each the fastest of `repeat` runs, the runs
/// interleaved; pure-Python rows count below `pure_limit`, the others
/// below `limit`.
pub fn measure_all(
    driver: &Bound<'_, PyModule>,
    limit: u64,
    pure_limit: u64,
    pieces: usize,
    repeat: u64,
) -> PyResult<Vec<Row>> {
    let mut best: Vec<Option<Row>> = vec![None; ROWS.len()];
    for _ in 0..repeat {
        for (slot, &(approach, threads)) in best.iter_mut().zip(&ROWS) {
            let limit = if approach == Approach::PurePython {
                pure_limit
            } else {
                limit
            };
            let row = measure(driver, approach, threads, limit, pieces)?;
            if slot.is_none_or(|b| row.measured.wall < b.measured.wall) {
                *slot = Some(row);
            }
        }
    }
    Ok(best.into_iter().flatten().collect())
}

fn find(rows: &[Row], approach: Approach, threads: usize) -> Row {
    rows.iter()
        .copied()
        .find(|r| r.approach == approach && r.threads == threads)
        .expect("every row of ROWS is measured")
}

/// Speedup of a row over its baseline: the same approach on 1 thread; for
/// the pool, the released counter on 1 thread (the same work per call).
pub fn speedup(rows: &[Row], r: &Row) -> f64 {
    let base = match r.approach {
        Approach::Pool => find(rows, Approach::Released, 1),
        other => find(rows, other, 1),
    };
    base.measured.wall.as_secs_f64() / r.measured.wall.as_secs_f64().max(1e-9)
}

/// The rows as a table: approach, threads, time, speedup, cores busy.
pub fn print_rows(rows: &[Row]) {
    println!(
        "{:<34} {:>7} {:>10} {:>8} {:>11}",
        "approach", "threads", "time", "speedup", "cores busy"
    );
    for r in rows {
        let ms = r.measured.wall.as_secs_f64() * 1e3;
        println!(
            "{:<34} {:>7} {:>7.0} ms {:>7.2}x {:>11.2}",
            r.approach.name(),
            r.threads,
            ms,
            speedup(rows, r),
            r.measured.cores_busy()
        );
    }
}

/// The first row whose answer is not the expected count (`rust` for the
/// Rust counters, `pure` for pure Python), as a claim failure.
pub fn check_answers(rows: &[Row], rust: u64, pure: u64) -> Result<(), lesson::Failure> {
    for r in rows {
        let want = if r.approach == Approach::PurePython {
            pure
        } else {
            rust
        };
        if r.answer != want {
            return Err(lesson::Failure::claim(format_args!(
                "{} on {} threads counted {}, expected {want}",
                r.approach.name(),
                r.threads,
                r.answer
            )));
        }
    }
    Ok(())
}

/// The speed claim on 2 idle cores, in a release build: holding stays
/// below 1.25x, releasing reaches 1.6x and is within 10% of `Pool(2)`.
/// Not checked on a debug build, with fewer than 2 cores, or when the
/// released threads or the pool kept fewer than 1.7 cores busy.
pub fn verdict(rows: &[Row]) -> Verdict {
    if cfg!(debug_assertions) {
        return Verdict::NotChecked("debug build (run it with --release)".into());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        return Verdict::NotChecked(format!("{cores} core available, 2 needed"));
    }
    let released = find(rows, Approach::Released, 2);
    let pool = find(rows, Approach::Pool, 2);
    let (rb, pb) = (released.measured.cores_busy(), pool.measured.cores_busy());
    if rb < 1.7 || pb < 1.7 {
        return Verdict::NotChecked(format!(
            "the machine is busy: released threads kept {rb:.2} cores busy, Pool(2) {pb:.2} (2 idle cores: about 2.0)"
        ));
    }
    let held = speedup(rows, &find(rows, Approach::Held, 2));
    let rel = speedup(rows, &released);
    let vs_pool = released.measured.wall.as_secs_f64() / pool.measured.wall.as_secs_f64();
    if held > 1.25 {
        return Verdict::Failed(format!(
            "holding the GIL, 2 threads ran {held:.2}x faster than 1, expected about 1.0x"
        ));
    }
    if rel < 1.6 {
        return Verdict::Failed(format!(
            "releasing the GIL, 2 threads reached only {rel:.2}x, expected >= 1.6x"
        ));
    }
    if vs_pool > 1.10 {
        return Verdict::Failed(format!(
            "released threads took {vs_pool:.2} x Pool(2)'s time, expected within 10%"
        ));
    }
    Verdict::Held
}
