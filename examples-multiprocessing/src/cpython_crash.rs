//! CPython's two process pools with a worker SIGKILLed mid-task, run here
//! under a time limit and reported as measured: `multiprocessing.Pool.map`
//! hangs (gh-96062: the pool replaces the dead worker, but the task it held
//! never gets a result), and `concurrent.futures.ProcessPoolExecutor`
//! marks itself broken and fails every task not yet done with
//! `BrokenProcessPool`.
//!
//! The script runs through [`lesson::python::run`]: in its own process
//! group, stopped in steps at the limit (SIGINT, SIGTERM, then SIGKILL to
//! the whole group) and reaped, so a hung pool and its workers are gone
//! when [`run`] returns. Each worker prints `ran N` as it finishes a task,
//! so the report says how far the pool got even when the call never
//! returned. Both pools use the `fork` start method (the default before
//! 3.14; 3.14 defaults to `forkserver` on Linux), so the script needs no
//! importable `__main__`.

use std::fmt;
use std::time::Duration;

use lesson::python::{Interpreter, PyError};

/// A word in the script's command line, so a test can find its processes.
pub const MARKER: &str = "tvp-cpython-crash";

/// The script: `kind` is `pool` or `executor`; then tasks, workers, the
/// task that kills its own worker.
const SCRIPT: &str = r#"
import concurrent.futures as cf, multiprocessing as mp, os, signal, sys, time
kind, n, workers, crash = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def task(i):
    if i == crash:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.01)
    print("ran", i, flush=True)
    return i * i

if __name__ == "__main__":
    ctx = mp.get_context("fork")
    ok, failed, error = 0, 0, "-"
    if kind == "pool":
        with ctx.Pool(workers) as pool:
            try:
                ok = len(pool.map(task, range(n)))
            except Exception as e:
                failed, error = n, type(e).__name__
    else:
        with cf.ProcessPoolExecutor(workers, mp_context=ctx) as ex:
            for f in [ex.submit(task, i) for i in range(n)]:
                try:
                    f.result()
                    ok += 1
                except Exception as e:
                    failed, error = failed + 1, type(e).__name__
    print("summary", ok, failed, error, flush=True)
"#;

/// Which of CPython's pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `multiprocessing.Pool(workers).map(task, range(n))`.
    Pool,
    /// `ProcessPoolExecutor(workers)`, one `submit` per task.
    Executor,
}

impl Kind {
    /// The Python name, as printed.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pool => "Pool.map",
            Kind::Executor => "ProcessPoolExecutor",
        }
    }
}

/// What happened to one of CPython's pools, measured.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The call neither returned nor raised within the limit: the script
    /// was stopped (and its workers with it) after `after`.
    Hung {
        /// Tasks the workers finished (counted from their `ran N` lines).
        ran: usize,
        /// Wall time until the stop.
        after: Duration,
    },
    /// The call came back: `ok` results, `failed` tasks that raised
    /// `error` (`-` when none did).
    Returned {
        /// Results that arrived.
        ok: usize,
        /// Tasks that raised.
        failed: usize,
        /// The exception's class name.
        error: String,
        /// Wall time of the whole script.
        after: Duration,
    },
}

/// One run: which pool, how many tasks, what happened.
#[derive(Clone, Debug)]
pub struct Report {
    /// The pool.
    pub kind: Kind,
    /// Tasks submitted.
    pub tasks: usize,
    /// What happened.
    pub outcome: Outcome,
}

impl fmt::Display for Report {
    /// `python Pool.map  hung: 39 of 40 tasks ran, no result and no error; stopped after 3.0 s`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, n) = (self.kind.name(), self.tasks);
        write!(f, "python {name:<20} ")?;
        match &self.outcome {
            Outcome::Hung { ran, after } => write!(
                f,
                "hung: {ran} of {n} tasks ran, no result and no error; stopped after {:.1} s",
                after.as_secs_f64()
            ),
            Outcome::Returned {
                ok,
                failed: 0,
                after,
                ..
            } => {
                write!(
                    f,
                    "returned all {ok} of {n} results in {:.1} s",
                    after.as_secs_f64()
                )
            }
            Outcome::Returned {
                ok,
                failed,
                error,
                after,
            } => write!(
                f,
                "raised {error} for {failed} of {n} tasks ({ok} results) in {:.1} s",
                after.as_secs_f64()
            ),
        }
    }
}

/// Runs `kind` with `tasks` tasks of 10 ms on `workers`, task `crash`
/// SIGKILLing its own worker, for at most `limit`.
pub fn run(
    py: &Interpreter,
    kind: Kind,
    tasks: usize,
    workers: usize,
    crash: usize,
    limit: Duration,
) -> Result<Report, PyError> {
    let mut cmd = py.command();
    let arg = match kind {
        Kind::Pool => "pool",
        Kind::Executor => "executor",
    };
    cmd.args(["-c", SCRIPT, arg]);
    cmd.args([tasks, workers, crash].map(|n| n.to_string()));
    cmd.arg(MARKER);
    let ran = lesson::python::run(&mut cmd, limit)?;
    let count = ran.stdout.lines().filter(|l| l.starts_with("ran ")).count();
    let outcome = match ran.status {
        None => Outcome::Hung {
            ran: count,
            after: ran.elapsed,
        },
        Some(_) => parse_summary(&ran.stdout, ran.elapsed)
            .ok_or_else(|| PyError::Failed(ran.last_error_line().to_string()))?,
    };
    Ok(Report {
        kind,
        tasks,
        outcome,
    })
}

/// Prints the build of `py`, then runs both pools ([`run`]: `Pool.map`
/// stopped at `limit`; `ProcessPoolExecutor`, which returns, at
/// [`EXECUTOR_GUARD`] or `limit`, whichever is longer, so that a busy
/// machine's slow start is not taken for a hang) and prints what happened
/// to each: the lines
/// `python build`, `python Pool.map`, `python ProcessPoolExecutor`. A run
/// that failed (Python raised where the script does not catch) ends the
/// program with one line (exit 1).
pub fn run_both(
    py: &Interpreter,
    tasks: usize,
    workers: usize,
    crash: usize,
    limit: Duration,
) -> Result<(), lesson::Failure> {
    println!("python {:<20} {}", "build", py.build.label());
    for (kind, limit) in [
        (Kind::Pool, limit),
        (Kind::Executor, limit.max(EXECUTOR_GUARD)),
    ] {
        let report = run(py, kind, tasks, workers, crash, limit);
        println!("{}", report.map_err(lesson::python::no_python)?);
    }
    Ok(())
}

/// The least time `ProcessPoolExecutor` gets before it counts as hung.
pub const EXECUTOR_GUARD: Duration = Duration::from_secs(20);

/// Reads the script's `summary OK FAILED ERROR` line.
///
/// ```
/// use std::time::Duration;
/// use examples_multiprocessing::cpython_crash::{Outcome, parse_summary};
///
/// let out = "ran 1\nsummary 17 23 BrokenProcessPool\n";
/// let got = parse_summary(out, Duration::ZERO).unwrap();
/// assert_eq!(got, Outcome::Returned { ok: 17, failed: 23, error: "BrokenProcessPool".into(), after: Duration::ZERO });
/// assert!(parse_summary("ran 1\n", Duration::ZERO).is_none());
/// ```
pub fn parse_summary(stdout: &str, after: Duration) -> Option<Outcome> {
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("summary "))?;
    let mut words = line.split_whitespace();
    let ok = words.next()?.parse().ok()?;
    let failed = words.next()?.parse().ok()?;
    let error = words.next()?.to_string();
    Some(Outcome::Returned {
        ok,
        failed,
        error,
        after,
    })
}
