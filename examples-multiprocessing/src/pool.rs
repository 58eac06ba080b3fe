//! A process pool that survives crashed workers: Python's
//! `multiprocessing.Pool`, in Rust, without its hangs.
//!
//! The pool forks its workers once, up front. Each worker gets its own pair
//! of pipes (tasks in, results out), opened `O_CLOEXEC`; each child closes
//! every pool-side pipe end it inherited, so no worker holds a sibling's
//! ends and end-of-file means what it says. Tasks and results cross the
//! pipes as [length-prefixed postcard frames](crate::frame), so `T` and `R`
//! are any `Serialize + DeserializeOwned` types. The worker function is
//! given when the pool is built: it exists before `fork`, and the children
//! inherit it.
//!
//! - [`Pool::map`] returns results in input order, [`Pool::imap_unordered`]
//!   as they finish; `chunksize` groups tasks into one message, an
//!   initializer runs once per worker, and `max_tasks_per_child` retires a
//!   worker after that many tasks (a fresh one takes its place).
//! - **Crashes.** A worker publishes the task it is running in a shared
//!   page. When a worker dies (end-of-file on its result pipe, then
//!   `waitpid`), exactly the task it was running fails, with
//!   [`Error::WorkerDied`] naming the task, the pid and the signal or exit
//!   code; a replacement is forked and the rest of the work completes.
//!   Tasks queued behind it never started and are sent again; tasks it had
//!   finished but not yet reported are run again (so a task may run twice
//!   only when its worker died right after it: keep tasks idempotent). A
//!   panicking task is [`Error::Panicked`] for that task only; with
//!   [`PoolBuilder::task_timeout`], a task that runs too long gets its
//!   worker killed and is [`Error::TimedOut`]. After
//!   [`PoolBuilder::max_restarts`] deaths in a row without one task
//!   completing, the pool gives up with [`Error::Broken`] instead of
//!   forking forever.
//! - **Dying with the parent.** Workers set `PR_SET_PDEATHSIG(SIGKILL)`,
//!   then compare `getppid()` with the pid recorded before `fork` (the
//!   parent may have died in between). They ignore `SIGINT`, so Ctrl-C in a
//!   terminal reaches only the parent, which decides how to stop.
//! - **Shutdown.** [`Pool::shutdown`] (and `Drop`) closes the workers'
//!   pipes (an idle worker sees end-of-file and exits 0; a busy one finishes
//!   its current task, fails to send the result, and exits), waits up to
//!   [`PoolBuilder::shutdown_timeout`], `SIGKILL`s stragglers and reaps
//!   every worker: no zombies, no open descriptors. A worker that dies while
//!   the pool sits idle is reaped (and replaced) at the next call or at
//!   shutdown.
//! - **Threads.** `fork` copies only the calling thread, with every lock
//!   other threads held at that moment still held. So [`PoolBuilder::build`]
//!   refuses ([`Error::ThreadsRunning`]) when the process already runs other
//!   threads, unless you call [`PoolBuilder::allow_threads`] because you
//!   know what they hold (criterion's rayon threads, for one, hold nothing
//!   the worker function needs).
//! - **Speed.** Waking a sleeping process costs tens of microseconds, so
//!   one task per round trip would be slow. The parent keeps a window of
//!   chunks in flight per worker (sized from measured chunk times to about
//!   10 ms of work, at least 2 chunks), dealt out round-robin so that a job
//!   smaller than the windows still reaches every worker
//!   ([`Pool::tasks_per_worker`] shows the spread); workers batch their
//!   results, and the parent waits on all result pipes at once with
//!   `poll(2)`, never blocking on a write.
//!
//! The pool is neither `Send` nor `Sync`: `PR_SET_PDEATHSIG` fires when the
//! *thread* that forked a worker exits, so a pool must stay on the thread
//! that built it.
//!
//! ```no_run
//! use examples_multiprocessing::pool::Pool;
//!
//! // Forks 2 workers; each runs the closure it inherited.
//! let mut pool = Pool::builder(2, |x: u64| x * x).chunksize(16).build()?;
//! let squares: Vec<u64> = pool
//!     .map(0..1000u64)?
//!     .into_iter()
//!     .collect::<Result<_, _>>()?; // a per-task error (crash, panic) stops here
//! assert_eq!(squares[999], 999 * 999);
//! for result in pool.imap_unordered(0..10u64)? {
//!     let (index, square) = result?;
//!     assert_eq!(square, (index * index) as u64);
//! }
//! let report = pool.shutdown(); // or just drop it
//! assert_eq!(report.killed, 0);
//! # Ok::<(), examples_multiprocessing::pool::Error>(())
//! ```
//!
//! A pool cannot move to another thread (the workers' death signal is tied
//! to the thread that forked them):
//!
//! ```compile_fail
//! use examples_multiprocessing::pool::Pool;
//!
//! let pool = Pool::builder(1, |x: u8| x).build().unwrap();
//! std::thread::spawn(move || drop(pool)); // error: `Pool` is not `Send`
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};
use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, getpid, getppid, pipe2};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::frame;

/// Default for [`PoolBuilder::max_restarts`].
pub const DEFAULT_MAX_RESTARTS: usize = 10;
/// Default for [`PoolBuilder::max_in_flight`].
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
/// Default for [`PoolBuilder::shutdown_timeout`].
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);
/// Exit code of a worker whose initializer panicked.
pub const EXIT_INIT_FAILED: i32 = 3;
/// Exit code of a worker that found its parent gone (or its pipes closed).
pub const EXIT_PARENT_GONE: i32 = 4;
/// Exit code of a worker that received a frame it could not decode.
pub const EXIT_PROTOCOL: i32 = 5;

/// Work queued per worker, in nanoseconds of measured chunk time: enough
/// to cover the parent's wake-up latency on a busy machine (milliseconds,
/// when other sessions compete for the CPUs), small enough that the last
/// chunks of a run are still spread over all workers.
const QUEUE_NS: u64 = 10_000_000;
/// Bytes of tasks queued per worker beyond its first chunk: a pipe's
/// default capacity is 64 KiB.
const QUEUE_BYTES: usize = 48 << 10;
/// A worker sends its finished results at least this often...
const FLUSH_NS: u128 = 100_000;
/// ...or when this many bytes of results are waiting.
const FLUSH_BYTES: usize = 32 << 10;

/// How a worker process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Death {
    /// Killed by a signal.
    Signaled(Signal),
    /// Exited with a code.
    Exited(i32),
    /// Reaped by someone else (a stray `waitpid(-1)` elsewhere in the process).
    Unknown,
}

impl fmt::Display for Death {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Death::Signaled(sig) => write!(f, "was killed by {sig} (signal {})", *sig as i32),
            Death::Exited(code) => write!(f, "exited with code {code}"),
            Death::Unknown => write!(f, "ended (reaped elsewhere, status unknown)"),
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
    /// The process runs other threads; see [`PoolBuilder::allow_threads`].
    #[error(
        "refusing to fork workers: this process already runs {threads} threads, and fork would copy \
         their held locks into each worker (build the pool before starting threads, or opt out with \
         allow_threads(true))"
    )]
    ThreadsRunning {
        /// Threads found in `/proc/self/task`.
        threads: usize,
    },
    /// `pipe2`, `fork` or `mmap` failed.
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
        /// What postcard said.
        message: String,
    },
    /// The task ran longer than [`PoolBuilder::task_timeout`]; its worker
    /// was killed and replaced.
    #[error("task {index} timed out after {after:?}: worker {pid} was killed and replaced")]
    TimedOut {
        /// The task's position in the input.
        index: usize,
        /// The worker's pid.
        pid: i32,
        /// The time limit.
        after: Duration,
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
    /// The cancel flag was set (see [`PoolBuilder::cancel_when`]).
    #[error("stopped: cancel flag set")]
    Cancelled,
    /// An unexpected error from `poll` or `read` in the parent.
    #[error("pool i/o: {0}")]
    Io(#[from] io::Error),
}

impl Error {
    /// The input position of the task this error belongs to, if it belongs
    /// to one task (`None` for errors of the whole pool).
    pub fn task_index(&self) -> Option<usize> {
        match self {
            Error::WorkerDied { index, .. }
            | Error::TimedOut { index, .. }
            | Error::Panicked { index, .. }
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

/// What [`Pool::shutdown`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Workers that exited on their own before the deadline.
    pub exited: usize,
    /// Workers still running at the deadline, killed with `SIGKILL`.
    pub killed: usize,
}

type Job<T, R> = Box<dyn Fn(T) -> R>;

/// Configures a [`Pool`]; made by [`Pool::builder`].
pub struct PoolBuilder<T, R> {
    workers: usize,
    job: Job<T, R>,
    init: Option<Box<dyn Fn()>>,
    chunksize: usize,
    max_tasks_per_child: Option<usize>,
    max_restarts: usize,
    max_in_flight: usize,
    allow_threads: bool,
    shutdown_timeout: Duration,
    cancel: Option<&'static AtomicBool>,
    task_timeout: Option<Duration>,
}

impl<T: Serialize + DeserializeOwned, R: Serialize + DeserializeOwned> PoolBuilder<T, R> {
    /// Tasks per message (default 1). Larger chunks amortize the per-message
    /// cost; smaller ones balance uneven tasks better.
    pub fn chunksize(mut self, n: usize) -> Self {
        self.chunksize = n;
        self
    }

    /// Runs `init` once in each worker, before its first task (a panic there
    /// ends the worker with [`EXIT_INIT_FAILED`]).
    pub fn initializer(mut self, init: impl Fn() + 'static) -> Self {
        self.init = Some(Box::new(init));
        self
    }

    /// Retires each worker after `n` tasks and forks a fresh one (for
    /// functions that leak). Default: never.
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// How many workers may die in a row, with no task completing in
    /// between, before the pool gives up with [`Error::Broken`].
    pub fn max_restarts(mut self, n: usize) -> Self {
        self.max_restarts = n;
        self
    }

    /// Upper bound on chunks queued per worker (default
    /// [`DEFAULT_MAX_IN_FLIGHT`]; the pool sizes the window below it from
    /// measured chunk times). `1` gives the naive one-task-per-round-trip
    /// pool, for comparison.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// Allows forking from a process that already runs other threads. Only
    /// safe if the worker function and initializer need no lock those
    /// threads might hold at the moment of `fork` (including stdout's).
    pub fn allow_threads(mut self, allow: bool) -> Self {
        self.allow_threads = allow;
        self
    }

    /// How long shutdown waits for workers before `SIGKILL` (default 2 s).
    pub fn shutdown_timeout(mut self, limit: Duration) -> Self {
        self.shutdown_timeout = limit;
        self
    }

    /// Kills a worker whose task runs longer than `limit`: that task fails
    /// with [`Error::TimedOut`], a replacement is forked, the rest goes on.
    /// Default: no limit (like Python's `Pool`, where a hung task hangs
    /// `map` forever).
    pub fn task_timeout(mut self, limit: Duration) -> Self {
        self.task_timeout = Some(limit);
        self
    }

    /// Makes `map` and `imap_unordered` stop with [`Error::Cancelled`] soon
    /// after `flag` becomes true, e.g. [`crate::stop_signal::STOP`], set by a
    /// `SIGINT` handler.
    pub fn cancel_when(mut self, flag: &'static AtomicBool) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Checks the settings and forks the workers.
    pub fn build(self) -> Result<Pool<T, R>, Error> {
        if self.workers == 0 {
            return Err(Error::NoWorkers);
        }
        if self.chunksize == 0 {
            return Err(Error::Zero("chunksize"));
        }
        if self.max_in_flight == 0 {
            return Err(Error::Zero("max_in_flight"));
        }
        if self.max_tasks_per_child == Some(0) {
            return Err(Error::Zero("max_tasks_per_child"));
        }
        let slots = Slots::new(self.workers)?;
        let mut pool = Pool {
            workers: Vec::with_capacity(self.workers),
            slots,
            cfg: self,
            next_seq: 0,
            next_run: 0,
            deaths_in_a_row: 0,
            replacements: Vec::new(),
            spread: Vec::new(),
            broken: None,
            stopped: false,
            shut: false,
        };
        for i in 0..pool.cfg.workers {
            let worker = pool.spawn(i)?;
            pool.workers.push(worker);
        }
        Ok(pool)
    }
}

/// A pool of forked worker processes; see the [module docs](self).
pub struct Pool<T, R> {
    cfg: PoolBuilder<T, R>,
    workers: Vec<Worker>,
    slots: Slots,
    next_seq: u64,
    next_run: u64,
    deaths_in_a_row: usize,
    replacements: Vec<Replacement>,
    spread: Vec<usize>,
    broken: Option<(usize, Death)>,
    stopped: bool,
    shut: bool,
}

impl<T: Serialize + DeserializeOwned, R: Serialize + DeserializeOwned> Pool<T, R> {
    /// Starts configuring a pool of `workers` processes running `job`.
    pub fn builder(workers: usize, job: impl Fn(T) -> R + 'static) -> PoolBuilder<T, R> {
        PoolBuilder {
            workers,
            job: Box::new(job),
            init: None,
            chunksize: 1,
            max_tasks_per_child: None,
            max_restarts: DEFAULT_MAX_RESTARTS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            allow_threads: false,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            cancel: None,
            task_timeout: None,
        }
    }

    /// A pool with the default settings: `Pool::builder(workers, job).build()`.
    pub fn new(workers: usize, job: impl Fn(T) -> R + 'static) -> Result<Self, Error> {
        Self::builder(workers, job).build()
    }

    /// Changes the chunksize for later calls.
    pub fn set_chunksize(&mut self, n: usize) -> Result<(), Error> {
        if n == 0 {
            return Err(Error::Zero("chunksize"));
        }
        self.cfg.chunksize = n;
        Ok(())
    }

    /// The pids of the current workers.
    pub fn pids(&self) -> Vec<i32> {
        self.workers
            .iter()
            .filter(|w| !w.reaped)
            .map(|w| w.pid.as_raw())
            .collect()
    }

    /// CPU time (user + system) the current workers have used so far, from
    /// `/proc` (clock-tick resolution): divided by wall time, how many CPUs
    /// the pool really got.
    pub fn cpu_time(&self) -> Duration {
        self.workers
            .iter()
            .filter_map(|w| crate::cpu_work::process_cpu_time(w.pid.as_raw()))
            .sum()
    }

    /// How many descriptors each current worker holds that are not in
    /// `before` (this process's [`open_fds`] from before the pool existed,
    /// which the workers inherited): 2 each, its own task and result pipe
    /// ends, and nothing of a sibling's. A worker closes the rest first
    /// thing after `fork`, so a just-forked one gets up to `patience`.
    pub fn new_fds_per_worker(&self, before: &[i32], patience: Duration) -> io::Result<Vec<usize>> {
        let deadline = Instant::now() + patience;
        loop {
            let mut counts = Vec::new();
            for pid in self.pids() {
                let fds = open_fds(Some(pid))?;
                counts.push(fds.iter().filter(|fd| !before.contains(fd)).count());
            }
            if counts.iter().all(|&n| n == 2) || Instant::now() > deadline {
                return Ok(counts);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every worker that ended while the pool ran, and its replacement.
    pub fn replacements(&self) -> &[Replacement] {
        &self.replacements
    }

    /// How many tasks of the latest `map` or `imap_unordered` call each
    /// worker finished (returned a result or panicked), by worker position
    /// (a replacement continues its predecessor's count). A small job
    /// should reach every worker, not queue up on the first.
    ///
    /// ```no_run
    /// use examples_multiprocessing::pool::Pool;
    ///
    /// let mut pool = Pool::new(4, |x: u64| x + 1)?;
    /// pool.map(0..4u64)?; // 4 tasks, a window of 2 chunks per worker:
    /// assert_eq!(pool.tasks_per_worker(), [1, 1, 1, 1]); // dealt out, not [2, 2, 0, 0]
    /// # Ok::<(), examples_multiprocessing::pool::Error>(())
    /// ```
    pub fn tasks_per_worker(&self) -> &[usize] {
        &self.spread
    }

    /// Runs `job` on every item; results in input order. The outer error is
    /// for the whole call (cancelled, broken); the inner ones for single
    /// tasks (a crashed worker, a panic).
    pub fn map<I: IntoIterator<Item = T>>(
        &mut self,
        items: I,
    ) -> Result<Vec<Result<R, Error>>, Error> {
        let mut run = self.start(items.into_iter())?;
        self.pump(&mut run, false)?;
        let mut slots: Vec<Option<Result<R, Error>>> = Vec::with_capacity(run.pulled);
        slots.resize_with(run.pulled, || None);
        for (index, result) in run.ready.drain(..) {
            slots[index] = Some(result);
        }
        Ok(slots
            .into_iter()
            .enumerate()
            .map(|(index, r)| {
                r.unwrap_or(Err(Error::Encode {
                    index,
                    message: "no result (internal error)".into(),
                }))
            })
            .collect())
    }

    /// Runs `job` on every item, yielding `(input position, result)` as
    /// tasks finish. The input is pulled lazily. After a whole-pool error
    /// (cancelled, broken) the iterator yields that error once and ends.
    pub fn imap_unordered<I: IntoIterator<Item = T>>(
        &mut self,
        items: I,
    ) -> Result<ImapUnordered<'_, T, R, I::IntoIter>, Error> {
        let run = self.start(items.into_iter())?;
        Ok(ImapUnordered {
            pool: self,
            run,
            ended: false,
        })
    }

    /// Stops the workers: closes their pipes, waits up to the shutdown
    /// timeout, kills the rest with `SIGKILL`, and reaps them all.
    pub fn shutdown(mut self) -> ShutdownReport {
        self.shutdown_inner()
    }

    fn start<I: Iterator<Item = T>>(&mut self, input: I) -> Result<Run<I, R>, Error> {
        if let Some((restarts, last)) = self.broken {
            return Err(Error::Broken { restarts, last });
        }
        if self.stopped {
            return Err(Error::Cancelled);
        }
        self.next_run += 1;
        self.spread = vec![0; self.workers.len()];
        Ok(Run {
            id: self.next_run,
            base: self.next_seq,
            input: Some(input),
            pulled: 0,
            retry: VecDeque::new(),
            outstanding: 0,
            ready: VecDeque::new(),
        })
    }

    /// Drives the work until the run is done, or (with `one`) until at
    /// least one result is ready.
    fn pump<I: Iterator<Item = T>>(&mut self, run: &mut Run<I, R>, one: bool) -> Result<(), Error> {
        let _guard = SigpipeBlocked::new();
        loop {
            if self
                .cfg
                .cancel
                .is_some_and(|flag| flag.load(Ordering::SeqCst))
            {
                self.stopped = true;
                return Err(Error::Cancelled);
            }
            self.fill(run);
            self.write_out();
            if run.done() || (one && !run.ready.is_empty()) {
                return Ok(());
            }
            self.wait(run)?;
        }
    }

    /// Hands out chunks round-robin, one per worker per pass, until every
    /// worker's window is full or the work runs out. So a job smaller than
    /// the windows still reaches every worker (filling one worker's window
    /// before the next would leave the others idle), while a large job
    /// keeps several chunks queued on each.
    fn fill<I: Iterator<Item = T>>(&mut self, run: &mut Run<I, R>) {
        loop {
            let mut handed_out = false;
            for wi in 0..self.workers.len() {
                let w = &self.workers[wi];
                if w.task_w.is_none() || w.retiring || w.full(self.cfg.max_in_flight) {
                    continue;
                }
                let quota = self.cfg.max_tasks_per_child.map(|m| m - w.sent);
                let room = quota.unwrap_or(usize::MAX);
                let Some(chunk) = self.next_chunk(run, room) else {
                    return; // no input left, nothing to send again
                };
                let w = &mut self.workers[wi];
                w.out
                    .extend_from_slice(&(chunk.payload.len() as u32).to_le_bytes());
                w.out.extend_from_slice(&chunk.payload);
                w.sent += chunk.count;
                w.queued_bytes += chunk.payload.len();
                if quota.is_some_and(|q| q <= chunk.count) {
                    w.retiring = true;
                }
                w.in_flight.push_back(chunk);
                handed_out = true;
            }
            if !handed_out {
                return;
            }
        }
    }

    /// The next chunk of at most `room` tasks: a re-sent one, or new input.
    fn next_chunk<I: Iterator<Item = T>>(
        &mut self,
        run: &mut Run<I, R>,
        room: usize,
    ) -> Option<Chunk> {
        if let Some(chunk) = run.retry.pop_front() {
            if chunk.count <= room {
                return Some(chunk);
            }
            let mut parts = split_chunk::<T>(&chunk, room);
            let rest = parts.pop()?;
            run.retry.push_front(rest);
            return parts.pop();
        }
        loop {
            let input = run.input.as_mut()?;
            let want = self.cfg.chunksize.min(room);
            let items: Vec<T> = input.by_ref().take(want).collect();
            if items.len() < want {
                run.input = None;
            }
            if items.is_empty() {
                return None;
            }
            let first_index = run.pulled;
            let first = run.base + first_index as u64;
            run.pulled += items.len();
            run.outstanding += items.len();
            self.next_seq = run.base + run.pulled as u64;
            match encode_chunk(first, &items) {
                Ok(chunk) => {
                    return Some(Chunk {
                        run: run.id,
                        ..chunk
                    });
                }
                Err(_) => {
                    // Find the items that cannot be encoded; send the rest one by one.
                    for (k, item) in items.iter().enumerate() {
                        match encode_chunk(first + k as u64, std::slice::from_ref(item)) {
                            Ok(chunk) => run.retry.push_back(Chunk {
                                run: run.id,
                                ..chunk
                            }),
                            Err(message) => {
                                run.outstanding -= 1;
                                run.ready.push_back((
                                    first_index + k,
                                    Err(Error::Encode {
                                        index: first_index + k,
                                        message,
                                    }),
                                ));
                            }
                        }
                    }
                    if let Some(chunk) = run.retry.pop_front() {
                        return Some(chunk);
                    }
                }
            }
        }
    }

    /// Writes queued task bytes without blocking; a worker whose task pipe
    /// is full gets the rest when `poll` says it has room.
    fn write_out(&mut self) {
        for w in &mut self.workers {
            while w.out_at < w.out.len() {
                let Some(fd) = w.task_w.as_ref() else { break };
                match nix::unistd::write(fd, &w.out[w.out_at..]) {
                    Ok(n) => w.out_at += n,
                    Err(Errno::EINTR) => continue,
                    Err(Errno::EAGAIN) => break,
                    // EPIPE (SIGPIPE is blocked): the worker is gone; its
                    // result pipe will show end-of-file.
                    Err(_) => {
                        close(&mut w.task_w);
                        break;
                    }
                }
            }
            if w.out_at == w.out.len() {
                w.out.clear();
                w.out_at = 0;
                if w.retiring {
                    // The worker finishes what it has, sees end-of-file, exits 0.
                    close(&mut w.task_w);
                }
            }
        }
    }

    /// Sleeps in `poll` until a worker has results, has died, or has room
    /// in its task pipe; then handles what happened.
    fn wait<I: Iterator<Item = T>>(&mut self, run: &mut Run<I, R>) -> Result<(), Error> {
        let next_timeout = self.enforce_timeout();
        let mut ready = Vec::new();
        {
            let mut fds = Vec::with_capacity(self.workers.len() * 2);
            let mut owners = Vec::with_capacity(self.workers.len() * 2);
            for (wi, w) in self.workers.iter().enumerate() {
                if let Some(fd) = &w.result_r {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                    owners.push(wi);
                }
                if let (Some(fd), true) = (&w.task_w, w.out_at < w.out.len()) {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
                    owners.push(usize::MAX);
                }
            }
            // With a cancel flag, wake up now and then: a signal that lands
            // between the flag check and `poll` would otherwise wait for the
            // next result.
            if fds.is_empty() {
                return Err(Error::Io(io::Error::other("no worker left to wait for")));
            }
            let mut wake = self.cfg.cancel.map(|_| Duration::from_millis(100));
            if let Some(next) = next_timeout {
                wake = Some(wake.map_or(next, |w| w.min(next)));
            }
            let timeout = match wake {
                // Round up, so a deadline is not polled for again and again.
                Some(d) => PollTimeout::from(d.as_millis().min(60_000) as u16 + 1),
                None => PollTimeout::NONE,
            };
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(Errno::EINTR) => return Ok(()),
                Err(e) => return Err(Error::Io(e.into())),
            }
            for (fd, &wi) in fds.iter().zip(&owners) {
                if wi != usize::MAX && fd.revents().is_some_and(|r| !r.is_empty()) {
                    ready.push(wi);
                }
            }
        }
        for wi in ready {
            self.read_results(wi, run)?;
        }
        Ok(())
    }

    /// Kills workers whose current task has run past the task timeout;
    /// returns how long until the next running task would time out.
    fn enforce_timeout(&mut self) -> Option<Duration> {
        let limit = self.cfg.task_timeout?.as_nanos() as u64;
        let now = monotonic_ns();
        let mut next = None::<u64>;
        for (wi, w) in self.workers.iter_mut().enumerate() {
            if w.reaped || w.timed_out.is_some() || w.in_flight.is_empty() {
                continue;
            }
            let slot = self.slots.get(wi);
            let state = slot.state.load(Ordering::Acquire);
            let SlotState::Running(seq) = SlotState::from(state) else {
                // Between two tasks of its queue: the next one may start
                // right after this check, so look again within `limit`
                // (else `poll` could sleep forever beside a hung task).
                next = Some(next.map_or(limit, |n| n.min(limit)));
                continue;
            };
            let ran = now.saturating_sub(slot.started.load(Ordering::Relaxed));
            if ran < limit {
                next = Some(next.map_or(limit - ran, |n| n.min(limit - ran)));
            } else if slot.state.load(Ordering::Acquire) == state {
                // Still the same task: its end-of-file and reaping follow.
                let _ = signal::kill(w.pid, Signal::SIGKILL);
                w.timed_out = Some(seq);
            }
        }
        next.map(Duration::from_nanos)
    }

    fn read_results<I: Iterator<Item = T>>(
        &mut self,
        wi: usize,
        run: &mut Run<I, R>,
    ) -> Result<(), Error> {
        let w = &mut self.workers[wi];
        let Some(fd) = w.result_r.as_ref() else {
            return Ok(());
        };
        let mut ended = false;
        loop {
            let have = w.inbuf.len();
            w.inbuf.resize(have + (64 << 10), 0);
            let got = nix::unistd::read(fd, &mut w.inbuf[have..]);
            w.inbuf.truncate(have + got.unwrap_or(0));
            match got {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(n) if n == 64 << 10 => continue,
                Ok(_) | Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => continue,
                Err(_) => {
                    ended = true;
                    break;
                }
            }
        }
        let mut at = 0;
        let mut broken_protocol = false;
        while let Ok(Some((payload, used))) = frame::split(&self.workers[wi].inbuf[at..]) {
            let parsed: Result<ResultChunk<R>, _> = frame::decode(payload);
            at += used;
            if !parsed.is_ok_and(|chunk| self.deliver(wi, chunk, run)) {
                broken_protocol = true;
                break;
            }
        }
        let w = &mut self.workers[wi];
        if frame::split(&w.inbuf[at..]).is_err() {
            broken_protocol = true;
        }
        w.inbuf.drain(..at);
        if broken_protocol {
            // A worker that sends garbage cannot be trusted with more work.
            let _ = signal::kill(w.pid, Signal::SIGKILL);
            ended = true;
        }
        if ended {
            self.handle_death(wi, run)?;
        }
        Ok(())
    }

    /// Matches a result chunk with the oldest chunk in flight on worker
    /// `wi`; `false` if it does not match (a protocol error).
    fn deliver<I: Iterator<Item = T>>(
        &mut self,
        wi: usize,
        result: ResultChunk<R>,
        run: &mut Run<I, R>,
    ) -> bool {
        let w = &mut self.workers[wi];
        let Some(chunk) = w.in_flight.front() else {
            return false;
        };
        if chunk.first != result.first || chunk.count != result.results.len() {
            return false;
        }
        let chunk = w.in_flight.pop_front().expect("checked above");
        w.queued_bytes -= chunk.payload.len();
        let ns = result.ns.max(1);
        w.chunk_ns = if w.chunk_ns == 0 {
            ns
        } else {
            (3 * w.chunk_ns + ns) / 4
        };
        if chunk.run != run.id {
            return true; // left over from an abandoned imap_unordered
        }
        let pid = w.pid.as_raw();
        self.spread[wi] += chunk.count;
        for (k, outcome) in result.results.into_iter().enumerate() {
            let index = (chunk.first - run.base) as usize + k;
            let result = match outcome {
                Outcome::Ok(r) => {
                    self.deaths_in_a_row = 0;
                    Ok(r)
                }
                Outcome::Panicked(message) => Err(Error::Panicked {
                    index,
                    pid,
                    message,
                }),
                Outcome::EncodeFailed(message) => Err(Error::Encode { index, message }),
            };
            run.ready.push_back((index, result));
        }
        run.outstanding -= chunk.count;
        true
    }

    /// Reaps worker `wi`, fails the task it was running, re-queues its
    /// other tasks, and forks a replacement (or declares the pool broken).
    fn handle_death<I: Iterator<Item = T>>(
        &mut self,
        wi: usize,
        run: &mut Run<I, R>,
    ) -> Result<(), Error> {
        let w = &mut self.workers[wi];
        close(&mut w.task_w);
        close(&mut w.result_r);
        let pid = w.pid;
        let cause = reap(pid, Duration::from_secs(1));
        w.reaped = true;
        let in_flight = std::mem::take(&mut w.in_flight);
        let timed_out = w.timed_out;
        let retired = w.retiring && cause == Death::Exited(0) && in_flight.is_empty();
        let state = SlotState::from(self.slots.get(wi).state.load(Ordering::Acquire));
        let running = match state {
            SlotState::Running(seq) => Some(seq),
            _ => None,
        };
        let attributable = running.is_none_or(|seq| in_flight.iter().any(|c| c.contains(seq)));
        let mut lost = None;
        for chunk in in_flight.into_iter().filter(|c| c.run == run.id) {
            let hit = running.filter(|&seq| chunk.contains(seq) || !attributable);
            match hit {
                Some(seq) if attributable => {
                    let k = (seq - chunk.first) as usize;
                    let index = (seq - run.base) as usize;
                    let pid = pid.as_raw();
                    let error = match self.cfg.task_timeout {
                        Some(after) if timed_out == Some(seq) => {
                            Error::TimedOut { index, pid, after }
                        }
                        _ => Error::WorkerDied { index, pid, cause },
                    };
                    run.ready.push_back((index, Err(error)));
                    run.outstanding -= 1;
                    lost = Some(index);
                    let mut parts = split_chunk::<T>(&chunk, k);
                    if let Some(after) = parts.pop() {
                        let after = split_chunk::<T>(&after, 1).pop();
                        run.retry.extend(after.filter(|c| c.count > 0));
                    }
                    run.retry.extend(parts.into_iter().filter(|c| c.count > 0));
                }
                Some(_) => {
                    // The shared page names no task we sent: fail them all
                    // rather than guess.
                    for k in 0..chunk.count {
                        let index = (chunk.first - run.base) as usize + k;
                        run.ready.push_back((
                            index,
                            Err(Error::WorkerDied {
                                index,
                                pid: pid.as_raw(),
                                cause,
                            }),
                        ));
                    }
                    run.outstanding -= chunk.count;
                }
                None => run.retry.push_back(chunk),
            }
        }
        if !retired {
            self.deaths_in_a_row += 1;
        }
        let mut record = Replacement {
            old_pid: pid.as_raw(),
            new_pid: None,
            cause,
            task: lost,
            retired,
        };
        if self.deaths_in_a_row > self.cfg.max_restarts {
            self.replacements.push(record);
            self.broken = Some((self.deaths_in_a_row, cause));
            return Err(Error::Broken {
                restarts: self.deaths_in_a_row,
                last: cause,
            });
        }
        let chunk_ns = self.workers[wi].chunk_ns;
        match self.spawn(wi) {
            Ok(mut fresh) => {
                fresh.chunk_ns = chunk_ns;
                record.new_pid = Some(fresh.pid.as_raw());
                self.workers[wi] = fresh;
                self.replacements.push(record);
                Ok(())
            }
            Err(e) => {
                self.replacements.push(record);
                self.broken = Some((self.deaths_in_a_row, cause));
                Err(e)
            }
        }
    }

    /// Forks worker number `wi` with fresh pipes.
    fn spawn(&mut self, wi: usize) -> Result<Worker, Error> {
        if !self.cfg.allow_threads {
            let threads = crate::fork::thread_count()?;
            if threads > 1 {
                return Err(Error::ThreadsRunning { threads });
            }
        }
        let (task_r, task_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::Spawn(e.into()))?;
        let (result_r, result_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::Spawn(e.into()))?;
        register(&[task_w.as_raw_fd(), result_r.as_raw_fd()]);
        let mut task_w = Some(task_w);
        let mut result_r = Some(result_r);
        self.slots.get(wi).state.store(0, Ordering::Release);
        // Otherwise a worker that prints would also print our unflushed output.
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        let parent = getpid();
        // SAFETY: without allow_threads this process runs one thread
        // (checked above), so the child is a complete copy and may run
        // ordinary Rust code. With allow_threads the caller has accepted
        // that the worker code needs no lock another thread could hold.
        // The child never returns: `worker_main` ends in `_exit`.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => worker_main(
                &*self.cfg.job,
                self.cfg.init.as_deref(),
                task_r,
                result_w,
                self.slots.get(wi),
                self.cfg.task_timeout.is_some(),
                parent,
            ),
            Ok(ForkResult::Parent { child }) => {
                drop((task_r, result_w));
                for fd in [&task_w, &result_r].into_iter().flatten() {
                    fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
                        .map_err(|e| Error::Spawn(e.into()))?;
                }
                Ok(Worker {
                    pid: child,
                    task_w: task_w.take(),
                    result_r: result_r.take(),
                    out: Vec::new(),
                    out_at: 0,
                    inbuf: Vec::new(),
                    in_flight: VecDeque::new(),
                    sent: 0,
                    retiring: false,
                    chunk_ns: 0,
                    queued_bytes: 0,
                    timed_out: None,
                    reaped: false,
                })
            }
            Err(e) => {
                close(&mut task_w);
                close(&mut result_r);
                Err(Error::Spawn(e.into()))
            }
        }
    }
}

impl<T, R> Pool<T, R> {
    fn shutdown_inner(&mut self) -> ShutdownReport {
        let mut report = ShutdownReport::default();
        if self.shut {
            return report;
        }
        self.shut = true;
        // Closing the task pipe says "no more work"; closing the result pipe
        // makes a worker that is still busy fail its next write and exit.
        for w in &mut self.workers {
            close(&mut w.task_w);
            close(&mut w.result_r);
        }
        let deadline = Instant::now() + self.cfg.shutdown_timeout;
        let mut left: Vec<Pid> = self
            .workers
            .iter()
            .filter(|w| !w.reaped)
            .map(|w| w.pid)
            .collect();
        let mut nap = Duration::from_micros(50);
        while !left.is_empty() && Instant::now() < deadline {
            left.retain(|&pid| match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => true,
                _ => {
                    report.exited += 1;
                    false
                }
            });
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(10));
        }
        for pid in left {
            let _ = signal::kill(pid, Signal::SIGKILL);
            reap(pid, Duration::from_secs(5));
            report.killed += 1;
        }
        report
    }
}

impl<T, R> Drop for Pool<T, R> {
    fn drop(&mut self) {
        self.shutdown_inner();
    }
}

/// Iterator returned by [`Pool::imap_unordered`].
pub struct ImapUnordered<'p, T, R, I: Iterator<Item = T>> {
    pool: &'p mut Pool<T, R>,
    run: Run<I, R>,
    ended: bool,
}

impl<T, R, I> Iterator for ImapUnordered<'_, T, R, I>
where
    T: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned,
    I: Iterator<Item = T>,
{
    type Item = Result<(usize, R), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((index, result)) = self.run.ready.pop_front() {
                return Some(result.map(|r| (index, r)));
            }
            if self.ended || self.run.done() {
                return None;
            }
            if let Err(e) = self.pool.pump(&mut self.run, true) {
                self.ended = true;
                return Some(Err(e));
            }
        }
    }
}

/// One call's progress: input not yet pulled, chunks to send again, and
/// finished results not yet handed to the caller.
struct Run<I, R> {
    id: u64,
    base: u64,
    input: Option<I>,
    pulled: usize,
    retry: VecDeque<Chunk>,
    outstanding: usize,
    ready: VecDeque<(usize, Result<R, Error>)>,
}

impl<I, R> Run<I, R> {
    fn done(&self) -> bool {
        self.input.is_none() && self.outstanding == 0 && self.retry.is_empty()
    }
}

/// Pool-side state of one worker process.
struct Worker {
    pid: Pid,
    task_w: Option<OwnedFd>,
    result_r: Option<OwnedFd>,
    out: Vec<u8>,
    out_at: usize,
    inbuf: Vec<u8>,
    in_flight: VecDeque<Chunk>,
    sent: usize,
    retiring: bool,
    chunk_ns: u64,
    queued_bytes: usize,
    timed_out: Option<u64>,
    reaped: bool,
}

impl Worker {
    /// Whether the worker has enough queued: about `QUEUE_NS` (10 ms) of
    /// measured work in chunks, at least 2 (so it never waits for a round
    /// trip), at most `max`; and, past one chunk, no more bytes than a pipe
    /// holds (so the parent need not wake up to push the rest).
    fn full(&self, max: usize) -> bool {
        // No measurement yet (chunk_ns == 0): start with 2.
        let wanted = QUEUE_NS.checked_div(self.chunk_ns).unwrap_or(2);
        let window = (wanted.clamp(2, 1 << 20) as usize).min(max);
        self.in_flight.len() >= window
            || (!self.in_flight.is_empty() && self.queued_bytes >= QUEUE_BYTES)
    }
}

/// A chunk of tasks as sent: sequence number of its first task, how many,
/// and the encoded [`TaskChunk`] (kept to send again if its worker dies).
struct Chunk {
    run: u64,
    first: u64,
    count: usize,
    payload: Vec<u8>,
}

impl Chunk {
    fn contains(&self, seq: u64) -> bool {
        (self.first..self.first + self.count as u64).contains(&seq)
    }
}

/// What the parent sends: tasks `first..first + items.len()`.
#[derive(Serialize)]
struct TaskChunkRef<'a, T> {
    first: u64,
    items: &'a [T],
}

/// What the worker receives: the same bytes as [`TaskChunkRef`].
#[derive(Deserialize)]
struct TaskChunk<T> {
    first: u64,
    items: Vec<T>,
}

/// One task's outcome, as the worker reports it.
#[derive(Serialize, Deserialize)]
enum Outcome<R> {
    Ok(R),
    Panicked(String),
    EncodeFailed(String),
}

/// What the worker sends back: outcomes of tasks `first..`, and how long
/// the chunk took (the parent sizes its window from it).
#[derive(Serialize)]
struct ResultChunkRef<'a, R> {
    first: u64,
    ns: u64,
    results: &'a [Outcome<R>],
}

#[derive(Deserialize)]
struct ResultChunk<R> {
    first: u64,
    ns: u64,
    results: Vec<Outcome<R>>,
}

fn encode_chunk<T: Serialize>(first: u64, items: &[T]) -> Result<Chunk, String> {
    let mut payload = Vec::new();
    frame::append(&TaskChunkRef { first, items }, &mut payload)
        .map_err(|e| format!("cannot encode: {e}"))?;
    if payload.len() > frame::MAX_FRAME {
        return Err(format!(
            "task chunk of {} bytes exceeds the frame limit",
            payload.len()
        ));
    }
    Ok(Chunk {
        run: 0,
        first,
        count: items.len(),
        payload,
    })
}

/// Splits a chunk at task `at` into `[..at]` and `[at..]` (either may be
/// empty), re-encoding the tasks. Only used on the rare paths (a worker
/// died, a retry does not fit a worker's remaining quota).
fn split_chunk<T: Serialize + DeserializeOwned>(chunk: &Chunk, at: usize) -> Vec<Chunk> {
    let Ok(tasks) = postcard::from_bytes::<TaskChunk<T>>(&chunk.payload) else {
        return Vec::new();
    };
    let at = at.min(tasks.items.len());
    let (head, tail) = tasks.items.split_at(at);
    [(chunk.first, head), (chunk.first + at as u64, tail)]
        .into_iter()
        .filter_map(|(first, items)| encode_chunk(first, items).ok())
        .map(|c| Chunk {
            run: chunk.run,
            ..c
        })
        .collect()
}

/// What a worker's shared slot says: `0` before its first task,
/// `2 * seq + 1` while running task `seq`, `2 * seq + 2` after it.
#[derive(Debug, PartialEq, Eq)]
enum SlotState {
    Fresh,
    Running(u64),
    Finished(u64),
}

impl From<u64> for SlotState {
    fn from(v: u64) -> Self {
        match v {
            0 => SlotState::Fresh,
            v if v % 2 == 1 => SlotState::Running((v - 1) / 2),
            v => SlotState::Finished((v - 2) / 2),
        }
    }
}

/// One cache line per worker in an anonymous `MAP_SHARED` mapping made
/// before the first fork: a worker's stores are visible to the parent even
/// after the worker was killed. Unmapped on drop.
struct Slots {
    base: NonNull<libc::c_void>,
    len: NonZeroUsize,
    count: usize,
}

const SLOT_STRIDE: usize = 64;

/// One worker's words in [`Slots`].
#[derive(Clone, Copy)]
struct Slot<'a> {
    state: &'a AtomicU64,
    started: &'a AtomicU64,
}

/// Nanoseconds on `CLOCK_MONOTONIC`, the same clock in every process.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Slots {
    fn new(count: usize) -> Result<Self, Error> {
        let len = NonZeroUsize::new(count * SLOT_STRIDE).ok_or(Error::NoWorkers)?;
        // SAFETY: a fresh anonymous mapping aliases nothing; the kernel
        // zero-fills it and picks the address.
        let base = unsafe {
            mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }
        .map_err(|e| Error::Spawn(e.into()))?;
        Ok(Slots { base, len, count })
    }

    /// Worker `i`'s slot: its [`SlotState`] word, and when (on
    /// `CLOCK_MONOTONIC`, in ns) its current task started.
    fn get(&self, i: usize) -> Slot<'_> {
        assert!(i < self.count, "slot {i} out of range");
        let word = |k: usize| {
            // SAFETY: the mapping is page-aligned, `i * SLOT_STRIDE + 8 * k
            // + 8 <= len` for k < 2, it lives as long as `self`, and every
            // access from either process is atomic (no `&mut` or plain
            // reads of it exist).
            unsafe {
                AtomicU64::from_ptr(
                    self.base
                        .as_ptr()
                        .cast::<u8>()
                        .add(i * SLOT_STRIDE + 8 * k)
                        .cast::<u64>(),
                )
            }
        };
        Slot {
            state: word(0),
            started: word(1),
        }
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` came from `mmap_anonymous`; no reference from
        // `get` can outlive `self`.
        let _ = unsafe { munmap(self.base, self.len.get()) };
    }
}

/// Pids of this process's children that exist right now, running or
/// zombie, from `/proc/self/task/*/children`: after a pool shut down, none
/// of its workers may be among them.
pub fn live_children() -> io::Result<Vec<i32>> {
    let mut pids = Vec::new();
    for task in std::fs::read_dir("/proc/self/task")? {
        let text = std::fs::read_to_string(task?.path().join("children")).unwrap_or_default();
        pids.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    Ok(pids)
}

/// The open file descriptors of process `pid` (this process for `None`),
/// from `/proc/<pid>/fd`: a worker should hold stdio plus its own two pipe
/// ends, and a shut-down pool should leave this process's list as it was.
pub fn open_fds(pid: Option<i32>) -> io::Result<Vec<i32>> {
    let dir = pid.map_or("/proc/self/fd".to_string(), |p| format!("/proc/{p}/fd"));
    let mut fds: Vec<i32> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // Drop the descriptor `read_dir` itself used (closed by now).
    fds.retain(|fd| std::fs::read_link(format!("{dir}/{fd}")).is_ok());
    fds.sort_unstable();
    Ok(fds)
}

/// Pool-side pipe ends of every pool in this process. A new worker closes
/// all of them, so it holds no sibling's (or another pool's) ends.
static POOL_FDS: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

fn register(fds: &[RawFd]) {
    POOL_FDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend_from_slice(fds);
}

/// Unregisters and closes a pool-side pipe end.
fn close(fd: &mut Option<OwnedFd>) {
    if let Some(fd) = fd.take() {
        POOL_FDS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&f| f != fd.as_raw_fd());
        drop(fd);
    }
}

/// Waits for `pid` to end, at most `limit`, then kills and reaps it.
fn reap(pid: Pid, limit: Duration) -> Death {
    let deadline = Instant::now() + limit;
    let mut nap = Duration::from_micros(20);
    loop {
        let flags = if Instant::now() >= deadline {
            None
        } else {
            Some(WaitPidFlag::WNOHANG)
        };
        if flags.is_none() {
            let _ = signal::kill(pid, Signal::SIGKILL);
        }
        match waitpid(pid, flags) {
            Ok(WaitStatus::Exited(_, code)) => return Death::Exited(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Death::Signaled(sig),
            Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => {}
            Ok(_) => {} // stopped or continued: keep waiting
            Err(_) => return Death::Unknown,
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(5));
    }
}

/// Blocks `SIGPIPE` for the calling thread while the pool writes to task
/// pipes, so writing to a dead worker's pipe returns `EPIPE` instead of
/// killing the whole program (`lesson::args` restores the default action,
/// which is to die). Any `SIGPIPE` this caused is discarded on drop.
struct SigpipeBlocked {
    old: SigSet,
    was_pending: bool,
}

impl SigpipeBlocked {
    fn new() -> Self {
        let mut set = SigSet::empty();
        set.add(Signal::SIGPIPE);
        let mut old = SigSet::empty();
        let _ = signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old));
        SigpipeBlocked {
            old,
            was_pending: sigpipe_pending(),
        }
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        if !self.was_pending && !self.old.contains(Signal::SIGPIPE) && sigpipe_pending() {
            let mut set = SigSet::empty();
            set.add(Signal::SIGPIPE);
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `set` and `zero` are valid for the call; a null info
            // pointer is allowed. This dequeues the SIGPIPE our own write
            // raised while it was blocked.
            unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &zero) };
        }
        let _ = signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

fn sigpipe_pending() -> bool {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set it is given; we read it only on success.
    unsafe {
        if libc::sigpending(set.as_mut_ptr()) != 0 {
            return false;
        }
        libc::sigismember(set.as_ptr(), libc::SIGPIPE) == 1
    }
}

thread_local! {
    /// The last panic message in a worker, recorded by its panic hook.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The body of a worker process. Never returns: every path ends in `_exit`,
/// so the child never unwinds into the caller's stack or runs the parent's
/// destructors.
fn worker_main<T: DeserializeOwned, R: Serialize>(
    job: &dyn Fn(T) -> R,
    init: Option<&dyn Fn()>,
    task_r: OwnedFd,
    result_w: OwnedFd,
    slot: Slot<'_>,
    timed: bool,
    parent: Pid,
) -> ! {
    let code = catch_unwind(AssertUnwindSafe(|| {
        // Die with the parent; if it already died before prctl, we were
        // re-parented and getppid() no longer matches.
        if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() || getppid() != parent {
            return EXIT_PARENT_GONE;
        }
        // Ctrl-C goes to the whole foreground process group: leave it to the
        // parent. Handlers inherited from the parent would run the parent's
        // logic here, so SIGTERM and friends get their default action back.
        // SAFETY: installing SIG_IGN / SIG_DFL runs no code of ours.
        unsafe {
            let _ = signal::signal(Signal::SIGINT, SigHandler::SigIgn);
            let _ = signal::signal(Signal::SIGPIPE, SigHandler::SigIgn);
            for sig in [
                Signal::SIGTERM,
                Signal::SIGHUP,
                Signal::SIGQUIT,
                Signal::SIGALRM,
                Signal::SIGUSR1,
            ] {
                let _ = signal::signal(sig, SigHandler::SigDfl);
            }
        }
        let _ = signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
        if let Ok(fds) = POOL_FDS.try_lock() {
            for &fd in fds.iter() {
                // SAFETY: these are the pool-side pipe ends inherited from the
                // parent; this process never uses them, and nothing in it owns
                // them (the parent's `OwnedFd`s are never dropped here,
                // because the child ends in `_exit`).
                unsafe { libc::close(fd) };
            }
        }
        std::panic::set_hook(Box::new(|info| {
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
        }));
        if let Some(init) = init {
            if catch_unwind(AssertUnwindSafe(init)).is_err() {
                return EXIT_INIT_FAILED;
            }
        }
        serve(job, File::from(task_r), File::from(result_w), slot, timed)
    }))
    .unwrap_or(EXIT_PROTOCOL);
    // SAFETY: `_exit` ends the process at once: no destructors of the
    // parent's objects, no atexit handlers, no flushing of copied buffers.
    unsafe { libc::_exit(code) }
}

/// The worker loop: read chunks, run them, send results in batches.
fn serve<T: DeserializeOwned, R: Serialize>(
    job: &dyn Fn(T) -> R,
    mut input: File,
    mut output: File,
    slot: Slot<'_>,
    timed: bool,
) -> i32 {
    let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut start = 0;
    let mut out: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut oldest_unsent: Option<Instant> = None;
    loop {
        loop {
            let (chunk, used) = match frame::split(&buf[start..]) {
                Ok(Some((payload, used))) => match frame::decode::<TaskChunk<T>>(payload) {
                    Ok(chunk) => (chunk, used),
                    Err(_) => return EXIT_PROTOCOL,
                },
                Ok(None) => break,
                Err(_) => return EXIT_PROTOCOL,
            };
            start += used;
            let began = Instant::now();
            let mut outcomes = Vec::with_capacity(chunk.items.len());
            for (k, item) in chunk.items.into_iter().enumerate() {
                let seq = chunk.first + k as u64;
                if timed {
                    slot.started.store(monotonic_ns(), Ordering::Relaxed);
                }
                slot.state.store(2 * seq + 1, Ordering::Release);
                outcomes.push(match catch_unwind(AssertUnwindSafe(|| job(item))) {
                    Ok(r) => Outcome::Ok(r),
                    Err(payload) => Outcome::Panicked(panic_message(payload)),
                });
                slot.state.store(2 * seq + 2, Ordering::Release);
            }
            let now = Instant::now();
            let ns = now.duration_since(began).as_nanos().min(u64::MAX as u128) as u64;
            encode_results(chunk.first, ns, &mut outcomes, &mut out);
            // Flush once the oldest unsent result began FLUSH_NS ago: a long
            // task's result goes at once, tiny ones travel in batches.
            let oldest = *oldest_unsent.get_or_insert(began);
            if now.duration_since(oldest).as_nanos() >= FLUSH_NS || out.len() >= FLUSH_BYTES {
                if output.write_all(&out).is_err() {
                    return EXIT_PARENT_GONE;
                }
                out.clear();
                oldest_unsent = None;
            }
        }
        // About to block for more tasks: send what is finished first.
        if !out.is_empty() {
            if output.write_all(&out).is_err() {
                return EXIT_PARENT_GONE;
            }
            out.clear();
            oldest_unsent = None;
        }
        buf.drain(..start);
        start = 0;
        let have = buf.len();
        buf.resize(have + (64 << 10), 0);
        let got = loop {
            match input.read(&mut buf[have..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        buf.truncate(have + got.as_ref().map_or(0, |n| *n));
        match got {
            Ok(0) if have == 0 => return 0, // end of work
            Ok(0) => return EXIT_PROTOCOL,  // pipe closed inside a frame
            Ok(_) => {}
            Err(_) => return EXIT_PARENT_GONE,
        }
    }
}

/// Appends one result frame; a result that cannot be encoded becomes an
/// error for its task alone.
fn encode_results<R: Serialize>(
    first: u64,
    ns: u64,
    outcomes: &mut [Outcome<R>],
    out: &mut Vec<u8>,
) {
    if frame::encode(
        &ResultChunkRef {
            first,
            ns,
            results: outcomes,
        },
        out,
    )
    .is_ok()
    {
        return;
    }
    for outcome in outcomes.iter_mut() {
        if let Outcome::Ok(r) = outcome {
            match postcard::to_stdvec(r).map(|v| v.len()) {
                Err(e) => *outcome = Outcome::EncodeFailed(format!("cannot encode result: {e}")),
                Ok(n) if n > frame::MAX_FRAME / 2 => {
                    *outcome =
                        Outcome::EncodeFailed(format!("result of {n} bytes is too large to send"));
                }
                Ok(_) => {}
            }
        }
    }
    if frame::encode(
        &ResultChunkRef {
            first,
            ns,
            results: outcomes,
        },
        out,
    )
    .is_err()
    {
        for outcome in outcomes.iter_mut() {
            *outcome = Outcome::EncodeFailed("result chunk too large to send".into());
        }
        let _ = frame::encode(
            &ResultChunkRef {
                first,
                ns,
                results: outcomes,
            },
            out,
        );
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(message) = LAST_PANIC.with(|p| p.borrow_mut().take()) {
        return message.replace('\n', " ");
    }
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps a second thread alive, so that a `build` that got past its
    /// checks would refuse to fork instead of forking inside the test harness.
    fn with_second_thread(f: impl FnOnce()) {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let helper = std::thread::spawn(move || rx.recv());
        f();
        drop(tx);
        let _ = helper.join();
    }

    #[test]
    fn bad_settings_are_errors_not_panics() {
        with_second_thread(|| {
            let square = |x: u64| x * x;
            assert!(matches!(
                Pool::builder(0, square).build(),
                Err(Error::NoWorkers)
            ));
            let zero = Pool::builder(2, square).chunksize(0).build();
            assert!(matches!(zero, Err(Error::Zero("chunksize"))));
            let zero = Pool::builder(2, square).max_tasks_per_child(0).build();
            assert!(matches!(zero, Err(Error::Zero("max_tasks_per_child"))));
            let zero = Pool::builder(2, square).max_in_flight(0).build();
            assert!(matches!(zero, Err(Error::Zero("max_in_flight"))));
        });
    }

    #[test]
    fn a_threaded_process_is_refused_with_a_clear_error() {
        with_second_thread(|| {
            let refused = Pool::builder(2, |x: u64| x + 1).build();
            let Err(e @ Error::ThreadsRunning { threads }) = refused else {
                panic!("a pool was built in a threaded process");
            };
            assert!(threads >= 2);
            assert!(e.to_string().contains("allow_threads(true)"), "{e}");
        });
    }

    #[test]
    fn slot_states_round_trip() {
        assert_eq!(SlotState::from(0), SlotState::Fresh);
        assert_eq!(SlotState::from(2 * 41 + 1), SlotState::Running(41));
        assert_eq!(SlotState::from(2 * 41 + 2), SlotState::Finished(41));
        assert_eq!(SlotState::from(1), SlotState::Running(0));
    }

    #[test]
    fn the_borrowed_and_owned_wire_types_agree() {
        let items = vec![(1u32, "a".to_string()), (2, "bb".to_string())];
        let chunk = encode_chunk(40, &items).unwrap();
        let back: TaskChunk<(u32, String)> = postcard::from_bytes(&chunk.payload).unwrap();
        assert_eq!((back.first, back.items), (40, items));

        let mut wire = Vec::new();
        let mut outcomes = vec![Outcome::Ok(5u64), Outcome::Panicked("boom".into())];
        encode_results(7, 123, &mut outcomes, &mut wire);
        let (payload, used) = frame::split(&wire).unwrap().unwrap();
        assert_eq!(used, wire.len());
        let back: ResultChunk<u64> = frame::decode(payload).unwrap();
        assert_eq!((back.first, back.ns, back.results.len()), (7, 123, 2));
        assert!(matches!(back.results[0], Outcome::Ok(5)));
    }

    #[test]
    fn split_chunk_keeps_sequence_numbers() {
        let chunk = Chunk {
            run: 3,
            ..encode_chunk(10, &[1u8, 2, 3, 4]).unwrap()
        };
        let parts = split_chunk::<u8>(&chunk, 1);
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].first, parts[0].count, parts[0].run), (10, 1, 3));
        assert_eq!((parts[1].first, parts[1].count), (11, 3));
        assert!(parts[1].contains(13) && !parts[1].contains(14));
    }

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
        assert_eq!(e.task_index(), Some(17));
        assert_eq!(Error::Cancelled.task_index(), None);
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
