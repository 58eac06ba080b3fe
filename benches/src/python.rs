//! Runs `python/compare.py` (the same workloads in CPython: `threading`,
//! `multiprocessing.Pool` with fork and spawn, `multiprocessing.shared_memory`)
//! under a time limit and reads back its rows.
//!
//! The script prints one tab-separated line per row (`ROW`, table, case,
//! kind: `base`, `thread` or `process`, approach, seconds per unit) or note (`NOTE`, table, text); [`parse`]
//! turns those into [`PyRow`]s and notes. It runs in its own process group,
//! so on a timeout (or Ctrl-C, see [`crate::interrupt`]) the script and
//! every pool worker it forked are stopped together.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::killpg;
use nix::unistd::Pid;

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

/// Why there are no Python rows.
#[derive(Debug, thiserror::Error)]
pub enum PyError {
    /// No `python3` on `PATH`.
    #[error("python3 not found, Python rows left out")]
    Missing,
    /// It ran past the limit and was killed.
    #[error("python3 ran longer than {0:?} and was stopped, Python rows left out")]
    Timeout(Duration),
    /// It failed.
    #[error("python3 failed ({0}), Python rows left out")]
    Failed(String),
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

/// Runs the script with `args` and at most `limit` of wall time.
pub fn run(args: &[&str], limit: Duration) -> Result<PyRun, PyError> {
    let mut command = Command::new("python3");
    command
        .arg(script())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: runs in the forked child before exec and only makes the
    // prctl system call, which is async-signal-safe. If `compare` dies
    // (even by SIGKILL) the script gets SIGINT and cleans up (its pools
    // terminate, its shared memory is unlinked) instead of running on.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT);
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(PyError::Missing),
        Err(e) => return Err(PyError::Failed(e.to_string())),
    };
    let group = child.id() as i32;
    crate::interrupt::watch(group);
    // Read both pipes on threads so a chatty script never blocks on a full
    // pipe while we wait for it.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || drain(stdout.as_mut()));
    let err = std::thread::spawn(move || drain(stderr.as_mut()));
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => break None,
        }
    };
    // Stop whatever is left of the group (a script that timed out, pool
    // workers the script failed to stop): SIGINT first, so its `finally`
    // blocks unlink their shared memory, then SIGKILL; reap the script.
    if status.is_none() || group_alive(group) {
        crate::interrupt::stop_group(group);
    }
    let _ = child.wait();
    crate::interrupt::forget();
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    match status {
        None => Err(PyError::Timeout(limit)),
        Some(s) if s.success() => Ok(parse(&out)),
        Some(s) => {
            let last = err.lines().last().unwrap_or("no message").to_string();
            Err(PyError::Failed(format!("{s}: {last}")))
        }
    }
}

fn group_alive(group: i32) -> bool {
    killpg(Pid::from_raw(group), None).is_ok()
}

fn drain(r: Option<&mut impl Read>) -> String {
    let mut s = String::new();
    if let Some(r) = r {
        let _ = r.read_to_string(&mut s);
    }
    s
}
