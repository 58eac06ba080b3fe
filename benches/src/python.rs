//! Runs `python/compare.py` (the same workloads in CPython: `threading`,
//! `multiprocessing.Pool` with fork and spawn, `multiprocessing.shared_memory`)
//! under a time limit and reads back its rows.
//!
//! The script prints one tab-separated line per row (`ROW`, table, case,
//! kind: `base`, `thread` or `process`, approach, seconds per unit) or note (`NOTE`, table, text); [`parse`]
//! turns those into [`PyRow`]s and notes. It runs in its own process group,
//! so on a timeout (or Ctrl-C, see [`crate::interrupt`]) the script and
//! every pool worker it forked are stopped together. Finding the
//! interpreter and running it live in [`lesson::python`], shared with the
//! other crates.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use lesson::python::{Build, Interpreter, PyError};

use crate::report::Model;

/// The script, kept in the crate so a reader can run it alone:
/// `python3 benches/python/compare.py --quick`.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/compare.py")
}

/// One row the script measured.
#[derive(Debug, Clone, PartialEq)]
pub struct PyRow {
    /// Which table (`cpu_scaling`).
    pub table: String,
    /// The case, already prefixed `py: `.
    pub case: String,
    /// What ran (`Pool(fork) x2`).
    pub approach: String,
    /// Threads, processes or neither.
    pub model: Model,
    /// Seconds for one unit, the best of a few runs.
    pub time: f64,
}

/// Everything the script printed that we understood.
#[derive(Debug, Clone, Default)]
pub struct PyRun {
    /// Rows, in the order printed.
    pub rows: Vec<PyRow>,
    /// `(table, text)`; table `all` is about the whole run.
    pub notes: Vec<(String, String)>,
}

/// Reads the script's output; lines it does not understand are skipped.
///
/// ```
/// use benches::python::parse;
/// let run = parse("ROW\tspawn\tpy: one task\tthread\tthreading.Thread\t0.000075\nNOTE\tall\tCPython 3.11\njunk\n");
/// assert_eq!(run.rows.len(), 1);
/// assert_eq!(run.rows[0].time, 0.000075);
/// assert_eq!(run.notes, [("all".to_string(), "CPython 3.11".to_string())]);
/// ```
pub fn parse(out: &str) -> PyRun {
    let mut run = PyRun::default();
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["ROW", table, case, kind, approach, secs] => {
                if let Ok(s) = secs.parse::<f64>()
                    && s.is_finite()
                    && s > 0.0
                {
                    run.rows.push(PyRow {
                        table: table.to_string(),
                        case: case.to_string(),
                        approach: approach.to_string(),
                        model: match *kind {
                            "thread" => Model::Threads,
                            "process" => Model::Processes,
                            _ => Model::Other,
                        },
                        time: s,
                    });
                }
            }
            ["NOTE", table, text] => run.notes.push((table.to_string(), text.to_string())),
            _ => {}
        }
    }
    run
}

/// Runs the script on `python` with `args` and at most `limit` of wall
/// time (through [`lesson::python::run`], which stops it and its workers in
/// steps on a timeout or Ctrl-C). Every row's approach gets the build's
/// label, so a free-threaded interpreter's threads are told apart from the
/// GIL's.
pub fn run(python: &Interpreter, args: &[&str], limit: Duration) -> Result<PyRun, PyError> {
    let mut command = python.command();
    command.arg(script()).args(args);
    let out = lesson::python::run(&mut command, limit)?.success(limit)?;
    let mut run = parse(&out);
    label(&mut run, &python.build);
    Ok(run)
}

/// Names the build on every row (`threading.Thread x2, CPython 3.11.7
/// (GIL)`).
///
/// ```
/// use benches::python::{label, parse};
/// use lesson::python::Build;
/// let mut run = parse("ROW\tcpu\tpy: primes\tthread\tthreading x2\t0.5\n");
/// label(&mut run, &Build::parse("3.14.0 1").unwrap());
/// assert_eq!(run.rows[0].approach, "threading x2 [3.14.0 free-threaded]");
/// ```
pub fn label(run: &mut PyRun, build: &Build) {
    let short = format!(
        "{} {}",
        build.version,
        if build.free_threaded {
            "free-threaded"
        } else {
            "GIL"
        }
    );
    for row in &mut run.rows {
        row.approach = format!("{} [{short}]", row.approach);
    }
}
