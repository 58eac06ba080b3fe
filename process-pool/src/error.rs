//! What the pool reports: per task, per call, and about its workers.

use std::fmt;
use std::io;
use std::time::Duration;

use nix::sys::signal::Signal;
use process_toolkit::Ended;

/// How a worker process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Death {
    /// Killed by a signal.
    Signaled(Signal),
    /// Exited with a code.
    Exited(i32),
    /// The fork server, which reaps the workers, could not say (it is gone,
    /// or sent no report in time).
    Unknown,
}

impl From<Ended> for Death {
    fn from(e: Ended) -> Self {
        match e {
            Ended::Exited(code) => Death::Exited(code),
            Ended::Signaled(sig) => Death::Signaled(sig),
        }
    }
}

impl fmt::Display for Death {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Death::Signaled(sig) => Ended::Signaled(*sig).fmt(f),
            Death::Exited(code) => Ended::Exited(*code).fmt(f),
            Death::Unknown => write!(f, "ended (status unknown: the fork server did not say)"),
        }
    }
}

/// Everything the pool can report, for one task or for the whole call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Asked for a pool of zero workers.
    #[error("a pool needs at least one worker")]
    NoWorkers,
    /// `chunksize` (or another count) of zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// `build` found other threads running, so it would fork the fork
    /// server with their locks held; see
    /// [`PoolBuilder::allow_threads`](crate::PoolBuilder::allow_threads).
    #[error(
        "refusing to fork the pool's fork server: this process already runs {threads} threads, and \
         fork would copy their held locks into it (build the pool before starting threads, or opt \
         out with allow_threads(true))"
    )]
    ThreadsRunning {
        /// Threads found in `/proc/self/task`.
        threads: usize,
    },
    /// `pipe2`, `fork`, `mmap` or the fork server failed.
    #[error("cannot start a worker: {0}")]
    Spawn(#[source] io::Error),
    /// The worker running this task died.
    #[error("task {index} lost: worker {pid} {cause} while running it")]
    WorkerDied {
        /// The task's position in the input.
        index: usize,
        /// The worker's pid.
        pid: i32,
        /// How it ended.
        cause: Death,
    },
    /// The task panicked; its worker lives on.
    #[error("task {index} panicked in worker {pid}: {message}")]
    Panicked {
        /// The task's position in the input.
        index: usize,
        /// The worker's pid.
        pid: i32,
        /// The panic message and location.
        message: String,
    },
    /// The task or its result could not be serialized.
    #[error("task {index}: {message}")]
    Encode {
        /// The task's position in the input.
        index: usize,
        /// What the codec said.
        message: String,
    },
    /// The task ran longer than the task timeout; its worker was killed
    /// and replaced.
    #[error("task {index} timed out after {after:?}: worker {pid} was killed and replaced")]
    TimedOut {
        /// The task's position in the input.
        index: usize,
        /// The worker's pid.
        pid: i32,
        /// The time limit.
        after: Duration,
    },
    /// The pool finished a call without this task's result: a bug in the
    /// pool, reported rather than hidden.
    #[error("task {index}: no result arrived (a pool bug)")]
    Missing {
        /// The task's position in the input.
        index: usize,
    },
    /// Too many workers died in a row without a task completing.
    #[error(
        "pool broken: {restarts} workers died in a row without completing a task (last one {last})"
    )]
    Broken {
        /// Deaths in a row.
        restarts: usize,
        /// How the last one ended.
        last: Death,
    },
    /// The cancellation token was set, or the task was cancelled.
    #[error("stopped: cancelled")]
    Cancelled,
    /// [`Pool::close`](crate::Pool::close) was called: no new work.
    #[error("the pool is closed: no new work")]
    Closed,
    /// [`Pool::join`](crate::Pool::join) before [`Pool::close`](crate::Pool::close).
    #[error("join needs close (or terminate) first, as in Python")]
    StillOpen,
    /// An unexpected error from `poll` or `read` in the parent.
    #[error("pool i/o: {0}")]
    Io(#[from] io::Error),
}

impl Error {
    /// The input position of the task this error belongs to, if it belongs
    /// to one task (`None` for errors of the whole pool).
    ///
    /// ```
    /// use process_pool::Error;
    /// assert_eq!(Error::Missing { index: 4 }.task_index(), Some(4));
    /// assert_eq!(Error::Cancelled.task_index(), None);
    /// ```
    pub fn task_index(&self) -> Option<usize> {
        match self {
            Error::WorkerDied { index, .. }
            | Error::TimedOut { index, .. }
            | Error::Panicked { index, .. }
            | Error::Missing { index }
            | Error::Encode { index, .. } => Some(*index),
            _ => None,
        }
    }
}

/// A worker that ended and the one forked in its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    /// The worker that ended.
    pub old_pid: i32,
    /// Its replacement (`None` when the pool gave up instead).
    pub new_pid: Option<i32>,
    /// How it ended.
    pub cause: Death,
    /// The task it was running, by input position, if any.
    pub task: Option<usize>,
    /// `true` for a planned retirement after `max_tasks_per_child` tasks.
    pub retired: bool,
}

impl fmt::Display for Replacement {
    /// `worker 41 (was killed by SIGKILL (signal 9)) replaced by 57`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker {} ({}) ", self.old_pid, self.cause)?;
        match self.new_pid {
            Some(new) => write!(f, "replaced by {new}"),
            None => write!(f, "not replaced (the pool gave up)"),
        }
    }
}

/// What shutting the pool down found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Workers that exited on their own before the deadline.
    pub exited: usize,
    /// Workers killed with `SIGKILL` (at the deadline, or by `terminate`).
    pub killed: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_task_pid_and_signal() {
        let e = Error::WorkerDied {
            index: 17,
            pid: 4242,
            cause: Death::Signaled(Signal::SIGKILL),
        };
        assert_eq!(
            e.to_string(),
            "task 17 lost: worker 4242 was killed by SIGKILL (signal 9) while running it"
        );
        let e = Error::TimedOut {
            index: 3,
            pid: 7,
            after: Duration::from_millis(500),
        };
        assert_eq!(
            e.to_string(),
            "task 3 timed out after 500ms: worker 7 was killed and replaced"
        );
    }
}
