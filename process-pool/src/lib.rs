//! A process pool that survives crashed workers: Python's
//! `multiprocessing.Pool`, function per call, without its hangs.
//!
//! Take it home as a path or git dependency (`process-pool`, which needs
//! only `process-toolkit`, nix, libc, serde and thiserror), or copy
//! both folders.
//!
//! ```no_run
//! use process_pool::Pool;
//!
//! fn square(x: u64) -> u64 { x * x }
//!
//! let mut pool = Pool::new(2)?; // forks 2 workers, before any thread starts
//! let squares: Vec<u64> = pool.map(square, 0..1000u64)?.into_iter().collect::<Result<_, _>>()?;
//! assert_eq!(squares[999], 999 * 999);
//! for (i, r) in pool.imap(|x: u64| x + 1, 0..10u64)?.enumerate() {
//!     assert_eq!(r?, i as u64 + 1); // in input order, lazily
//! }
//! let sums = pool.starmap(|a: u64, b: u64| a + b, [(1, 2), (3, 4)])?;
//! assert_eq!(sums[1].as_ref().ok(), Some(&7));
//! pool.close();
//! let report = pool.join()?; // or just drop the pool
//! assert_eq!(report.killed, 0);
//! # Ok::<(), process_pool::Error>(())
//! ```
//!
//! | Python (`multiprocessing.Pool`, `concurrent.futures`) | here |
//! |---|---|
//! | `Pool(processes=2)` | [`Pool::new(2)`](Pool::new), [`Pool::builder(2)`](Pool::builder) |
//! | `Pool(initializer=f)` | [`PoolBuilder::initializer`] |
//! | `Pool(maxtasksperchild=n)` | [`PoolBuilder::max_tasks_per_child`] |
//! | `pool.map(f, items)` | [`Pool::try_map`] (the first task's error), [`Pool::map`] (a `Result` per task) |
//! | `pool.map(f, items, chunksize=64)` | [`pool.chunked(64).map(f, items)`](Pool::chunked) |
//! | `pool.imap(f, items)` | [`Pool::imap`] (ordered, lazy, bounded memory) |
//! | `pool.imap_unordered(f, items)` | [`Pool::imap_unordered`] (`(index, result)`) |
//! | `pool.starmap(f, [(a, b)])` | [`Pool::starmap`] |
//! | a lambda or a closure over state | a `fn` or non-capturing closure per call; state captured before the fork: [`PoolBuilder::job`] |
//! | `pool.close(); pool.join()` | [`Pool::close`] + [`Pool::join`] |
//! | `pool.terminate()` | [`Pool::terminate`] |
//! | `ProcessPoolExecutor.map(timeout=)` | [`PoolBuilder::task_timeout`] (per task) |
//! | `shutdown(cancel_futures=True)`, `Event` | [`CancelToken`] ([`PoolBuilder::cancel_token`]) |
//! | `pool.apply_async(f, (x,))`, `executor.submit(f, x)` | [`Pool::submit`] returns a [`TaskHandle`] |
//! | `AsyncResult.get()`, `Future.result()` | [`TaskHandle::wait`] |
//! | `get(timeout=)`, `result(timeout=)` | [`TaskHandle::wait_timeout`] (`None`: not yet) |
//! | `Future.cancel()` | [`TaskHandle::cancel`] (`true`: taken back before any worker had it) |
//! | `set_start_method("forkserver")` | always: workers fork from a server made at build |
//! | `BrokenProcessPool`, the hang of gh-96062 | only the task fails: [`Error::WorkerDied`] |
//!
//! **How a function travels.** A worker is forked from this program, so
//! it runs the parent's code image: a function is at the same address in
//! every worker. A call sends the address of a trampoline monomorphized
//! for the function's type, no registration and no pickling by name. That
//! is why the function must be a `fn` item or a closure that captures
//! nothing (zero-sized, checked at compile time): there are no bytes of
//! it to send. Data allocated after the fork does not exist in a worker,
//! so state goes along only through [`PoolBuilder::job`], captured before
//! the workers are forked.
//!
//! ```compile_fail
//! let mut pool = process_pool::Pool::new(1).unwrap();
//! let k = 3u64;
//! pool.map(move |x: u64| x * k, 0..4u64); // error: the closure captures `k`
//! ```
//!
//! **Crashes.** A worker publishes the task it is running in a shared
//! page. When a worker dies, exactly that task fails with
//! [`Error::WorkerDied`] naming the task, the pid and the signal; a
//! replacement is forked and the rest of the work completes. Tasks queued
//! behind it are sent again (so a task may run twice only when its worker
//! died right after it: keep tasks idempotent). A panicking task is
//! [`Error::Panicked`] for that task only; a task past
//! [`PoolBuilder::task_timeout`] gets its worker killed and is
//! [`Error::TimedOut`]. After [`PoolBuilder::max_restarts`] deaths in a
//! row the pool gives up with [`Error::Broken`] instead of forking forever.
//!
//! **Dying with the parent.** Workers arm `PR_SET_PDEATHSIG(SIGKILL)` and
//! re-check `getppid()` ([`process_toolkit::die_with_parent`]) against
//! the fork server, which does the same against the pool's process; both
//! ignore `SIGINT`, so Ctrl-C reaches only the parent, which decides.
//!
//! **Shutdown.** `Drop` (and [`Pool::join`]) closes the workers' lanes and pipes,
//! waits up to [`PoolBuilder::shutdown_timeout`], `SIGKILL`s stragglers,
//! waits for every worker's end, then stops the fork server and reaps it:
//! no zombies, no descriptors left.
//!
//! **Threads: a fork server.** `fork` copies only the calling thread, with
//! every lock other threads held at that moment still held. So `build`
//! forks one small process first, the fork server (Python's `forkserver`
//! start method), while the program is still single-threaded, and refuses
//! with [`Error::ThreadsRunning`] if it is not (unless
//! [`PoolBuilder::allow_threads`]). Every worker, the first ones and each
//! replacement, is a fork of that server, which never starts a thread; so
//! a worker that dies after the program started threads is still replaced.
//! The server reaps the workers and reports how each ended; a report it
//! cannot parse is an error, never a panic. See the `server` module.
//!
//! **Speed.** The parent keeps a window of chunks in flight per worker
//! (about 10 ms of measured work, at least 2 chunks), dealt round-robin;
//! workers batch results. Tasks and results cross through each worker's
//! two lanes, byte rings in memory shared with it (see the `lane` module):
//! a copy in and a copy out, no system call. A side that finds nothing
//! looks again for a little while, giving the CPU away in between, then
//! raises a flag and sleeps on a pipe, which the other side rings only
//! when it sees the flag; the parent sleeps in `poll(2)` on every result
//! pipe at once, and a worker's death shows as its pipe's end-of-file.
//! A chunk is encoded straight into its worker's outgoing buffer, and
//! stays there until its results arrive (to be sent again if the worker
//! dies); `map` decodes each result straight into its place in the output.
//! Items and results cross in the pool's own serde format ([`codec`]:
//! fixed-width integers, one load or store each); [`Pool::try_map`] keeps
//! only the values, not a whole `Result` per task.
//!
//! The pool is neither `Send` nor `Sync`: `PR_SET_PDEATHSIG` fires when the
//! *thread* that forked a worker exits, so a pool stays on its thread.
//!
//! ```compile_fail
//! let pool = process_pool::Pool::new(1).unwrap();
//! std::thread::spawn(move || drop(pool)); // error: `Pool` is not `Send`
//! ```

use std::any::Any;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::time::Duration;

use nix::unistd::Pid;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub mod codec;
mod dispatch;
mod error;
pub mod frame;
mod lane;
mod options;
mod places;
mod recovery;
mod server;
mod submit;
#[cfg(feature = "testing")]
pub mod testing;
mod wire;
mod worker;

pub use error::{Death, Error, Replacement, ShutdownReport};
pub use options::{
    CancelToken, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_RESTARTS, DEFAULT_SHUTDOWN_TIMEOUT,
    EXIT_INIT_FAILED, EXIT_PROTOCOL, Job, PoolBuilder,
};
pub use process_toolkit::EXIT_PARENT_GONE;
pub use submit::TaskHandle;

use dispatch::{Out, Run};
use lane::Lanes;
use places::Places;
#[doc(hidden)]
pub use wire::Call;
use wire::{Chunk, Slots};
use worker::{Closure, Plain, Star, call_of};

/// A function a call can run: a `fn` item or a non-capturing closure
/// (sent by address), or a [`Job`] made at build.
pub trait Task<T, R>: Copy {
    /// What the worker runs.
    #[doc(hidden)]
    fn call(&self) -> Call;
}

impl<F, T, R> Task<T, R> for F
where
    F: Fn(T) -> R + Copy + 'static,
    T: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    fn call(&self) -> Call {
        const {
            assert!(
                size_of::<F>() == 0,
                "a pool function must capture nothing: use a fn, or PoolBuilder::job for state"
            )
        };
        call_of::<Plain<F, T, R>>(0)
    }
}

impl<T, R> Task<T, R> for Job<T, R>
where
    T: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    fn call(&self) -> Call {
        call_of::<Closure<T, R>>(self.index)
    }
}

/// Where the pool stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PoolState {
    /// Takes calls.
    Open,
    /// [`Pool::close`]d: no new calls; [`Pool::join`] may follow.
    Closed,
    /// The cancellation token was set: every call is [`Error::Cancelled`].
    Cancelled,
    /// Too many deaths in a row: every call is [`Error::Broken`].
    Broken { restarts: usize, last: Death },
}

/// What a worker is doing, as the parent sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorkerState {
    /// Takes chunks.
    Serving,
    /// Was sent its last tasks (`max_tasks_per_child`): its task pipe
    /// closes once they are in its lane, and it exits 0 when done.
    Retiring,
    /// Killed for running task `seq` past the timeout; not reaped yet.
    TimedOut(u64),
    /// Reaped: its slot waits for a replacement (or the pool is shut).
    Reaped,
}

/// Pool-side state of one worker process.
struct Worker {
    pid: Pid,
    task_w: Option<OwnedFd>,
    result_r: Option<OwnedFd>,
    /// The frames of the chunks in flight, oldest first, from `out_done`
    /// on (the bytes before it are finished chunks', dropped now and
    /// then); copied into the task lane up to `out_at`.
    out: Vec<u8>,
    out_done: usize,
    out_at: usize,
    /// `inbuf[..in_len]`: result bytes read but not yet a whole frame.
    /// `inbuf` never shrinks, so reading into it costs no zeroing.
    inbuf: Vec<u8>,
    in_len: usize,
    in_flight: VecDeque<Chunk>,
    /// Tasks sent to this process (for `max_tasks_per_child`).
    sent: usize,
    /// Smoothed nanoseconds per chunk, 0 before the first result.
    chunk_ns: u64,
    /// Chunks finished since the last one the worker timed.
    unmeasured: u32,
    queued_bytes: usize,
    state: WorkerState,
}

/// A pool of forked worker processes; see the [crate docs](crate).
pub struct Pool {
    workers: Vec<Worker>,
    slots: Slots,
    /// Each worker's tasks and results, in memory shared with it.
    lanes: Lanes,
    closures: Vec<Box<dyn Any>>,
    init: Option<Box<dyn Fn()>>,
    max_tasks_per_child: Option<usize>,
    max_restarts: usize,
    max_in_flight: usize,
    allow_threads: bool,
    shutdown_timeout: Duration,
    cancel: Option<CancelToken>,
    task_timeout: Option<Duration>,
    next_seq: u64,
    next_run: u64,
    deaths_in_a_row: usize,
    replacements: Vec<Replacement>,
    spread: Vec<usize>,
    submits: submit::Submits,
    /// Forks every worker; `None` once shut down.
    server: Option<server::ForkServer>,
    state: PoolState,
    /// Not `Send`: the workers' death signal is tied to this thread.
    _here: PhantomData<*const ()>,
}

impl Pool {
    /// Starts configuring a pool of `workers` processes.
    ///
    /// ```no_run
    /// let pool = process_pool::Pool::builder(4).max_tasks_per_child(1000).build()?;
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn builder(workers: usize) -> PoolBuilder {
        PoolBuilder::new(workers)
    }

    /// A pool with the default settings: `Pool::builder(workers).build()`.
    ///
    /// ```no_run
    /// let pool = process_pool::Pool::new(2)?;
    /// assert_eq!(pool.pids().len(), 2);
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn new(workers: usize) -> Result<Self, Error> {
        Self::builder(workers).build()
    }

    fn start(b: PoolBuilder) -> Result<Self, Error> {
        let mut pool = Pool {
            workers: Vec::with_capacity(b.workers),
            slots: Slots::new(b.workers).map_err(Error::Spawn)?,
            lanes: Lanes::new(b.workers).map_err(Error::Spawn)?,
            closures: b.closures,
            init: b.init,
            max_tasks_per_child: b.max_tasks_per_child,
            max_restarts: b.max_restarts,
            max_in_flight: b.max_in_flight,
            allow_threads: b.allow_threads,
            shutdown_timeout: b.shutdown_timeout,
            cancel: b.cancel,
            task_timeout: b.task_timeout,
            next_seq: 0,
            next_run: 0,
            deaths_in_a_row: 0,
            replacements: Vec::new(),
            spread: Vec::new(),
            submits: submit::Submits::default(),
            server: None,
            state: PoolState::Open,
            _here: PhantomData,
        };
        pool.start_server(b.workers)?;
        for i in 0..b.workers {
            let worker = pool.spawn(i)?;
            pool.workers.push(worker);
        }
        Ok(pool)
    }

    /// The pids of the current workers.
    ///
    /// ```no_run
    /// assert_eq!(process_pool::Pool::new(3)?.pids().len(), 3);
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn pids(&self) -> Vec<i32> {
        self.workers
            .iter()
            .filter(|w| w.state != WorkerState::Reaped)
            .map(|w| w.pid.as_raw())
            .collect()
    }

    /// Every worker that ended while the pool ran, and its replacement.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::builder(1).max_tasks_per_child(2).build()?;
    /// pool.map(|x: u8| x, [1u8, 2, 3])?;
    /// assert!(pool.replacements().iter().any(|r| r.retired));
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn replacements(&self) -> &[Replacement] {
        &self.replacements
    }

    /// How many tasks of the latest call each worker finished, by worker
    /// position. A small job should reach every worker.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(4)?;
    /// pool.map(|x: u64| x + 1, 0..4u64)?;
    /// assert_eq!(pool.tasks_per_worker(), [1, 1, 1, 1]); // dealt out, not [2, 2, 0, 0]
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn tasks_per_worker(&self) -> &[usize] {
        &self.spread
    }

    /// Per-call settings: `pool.chunked(64).map(f, items)` sends 64 tasks
    /// per message (Python's `chunksize=`). Larger chunks amortize the
    /// per-message cost; smaller ones balance uneven tasks better.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(2)?;
    /// let out = pool.chunked(100).map(|x: u32| x * 2, 0..10_000u32)?;
    /// assert_eq!(out.len(), 10_000);
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn chunked(&mut self, chunksize: usize) -> Chunked<'_> {
        Chunked {
            pool: self,
            chunksize,
        }
    }

    /// Runs `f` on every item; results in input order. The outer error is
    /// for the whole call (cancelled, broken, closed); the inner ones for
    /// single tasks (a crashed worker, a panic).
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(2)?;
    /// let out = pool.map(|s: String| s.len(), ["a".to_string(), "bcd".into()])?;
    /// assert_eq!(out[1].as_ref().ok(), Some(&3));
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn map<T, R, F: Task<T, R>>(
        &mut self,
        f: F,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<Result<R, Error>>, Error>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.chunked(1).map(f, items)
    }

    /// Runs `f` on every item; the results in input order, or the first
    /// task's error (in input order) once all have run: Python's
    /// `Pool.map`, which raises the first exception. Cheaper per task
    /// than [`map`](Self::map), whose output holds a whole `Result` per
    /// task.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(2)?;
    /// let squares = pool.chunked(64).try_map(|x: u64| x * x, 0..1000u64)?;
    /// assert_eq!(squares[999], 999 * 999);
    /// let err = pool.try_map(|x: u64| 10 / x, [5, 0, 2, 0]).unwrap_err();
    /// assert!(matches!(err, process_pool::Error::Panicked { index: 1, .. }));
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn try_map<T, R, F: Task<T, R>>(
        &mut self,
        f: F,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<R>, Error>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.chunked(1).try_map(f, items)
    }

    /// Runs `f` on every item lazily, yielding results in input order. It
    /// holds results only for the window in flight: no input is pulled
    /// more than a bounded distance ahead of the result the consumer waits
    /// for, so memory stays bounded on an endless input.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(2)?;
    /// let first: Vec<u64> = pool.imap(|x: u64| x * 2, 0..)?.take(3).collect::<Result<_, _>>()?;
    /// assert_eq!(first, [0, 2, 4]);
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn imap<T, R, F: Task<T, R>, I: IntoIterator<Item = T>>(
        &mut self,
        f: F,
        items: I,
    ) -> Result<Imap<'_, R, I::IntoIter>, Error>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.chunked(1).imap(f, items)
    }

    /// Runs `f` on every item lazily, yielding `(input position, result)`
    /// as tasks finish. After a whole-pool error (cancelled, broken) the
    /// iterator yields that error once and ends.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(2)?;
    /// for r in pool.imap_unordered(|x: u64| x * x, 0..10u64)? {
    ///     let (i, sq) = r?;
    ///     assert_eq!(sq, (i * i) as u64);
    /// }
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn imap_unordered<T, R, F: Task<T, R>, I: IntoIterator<Item = T>>(
        &mut self,
        f: F,
        items: I,
    ) -> Result<ImapUnordered<'_, R, I::IntoIter>, Error>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.chunked(1).imap_unordered(f, items)
    }

    /// Runs `f(a, b)` for every `(a, b)`; results in input order.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(2)?;
    /// let out = pool.starmap(|a: u32, b: u32| a.pow(b), [(2, 3), (3, 2)])?;
    /// assert_eq!(out[0].as_ref().ok(), Some(&8));
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn starmap<A, B, R, F>(
        &mut self,
        f: F,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<Vec<Result<R, Error>>, Error>
    where
        F: Fn(A, B) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        B: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        self.chunked(1).starmap(f, items)
    }

    /// Takes no more calls (they return [`Error::Closed`]); the workers
    /// stay until [`join`](Self::join) or drop. Python's `close`.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(1)?;
    /// pool.close();
    /// assert!(matches!(pool.map(|x: u8| x, [1u8]), Err(process_pool::Error::Closed)));
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn close(&mut self) {
        if self.state == PoolState::Open {
            self.state = PoolState::Closed;
        }
    }

    /// After [`close`](Self::close): lets every worker finish and exit,
    /// waits up to the shutdown timeout, kills stragglers, reaps all.
    /// [`Error::StillOpen`] without `close` first (Python's `ValueError`).
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(2)?;
    /// pool.close();
    /// assert_eq!(pool.join()?.exited, 2);
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn join(mut self) -> Result<ShutdownReport, Error> {
        if self.state == PoolState::Open {
            return Err(Error::StillOpen);
        }
        Ok(self.shut_down(self.shutdown_timeout))
    }

    /// Stops at once: `SIGKILL`s every worker, work in flight or not, and
    /// reaps them. Python's `terminate`.
    ///
    /// ```no_run
    /// let pool = process_pool::Pool::new(2)?;
    /// assert_eq!(pool.terminate().killed, 2);
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn terminate(mut self) -> ShutdownReport {
        self.shut_down(Duration::ZERO)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shut_down(self.shutdown_timeout);
    }
}

/// A pool with per-call settings; made by [`Pool::chunked`].
pub struct Chunked<'p> {
    pool: &'p mut Pool,
    chunksize: usize,
}

impl<'p> Chunked<'p> {
    /// [`Pool::map`] with this chunksize.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(2)?;
    /// assert_eq!(pool.chunked(8).map(|x: u8| x, 0..100u8)?.len(), 100);
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn map<T, R, F: Task<T, R>>(
        self,
        f: F,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<Result<R, Error>>, Error>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        self.collect(f.call(), items.into_iter())
    }

    /// [`Pool::starmap`] with this chunksize.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(2)?;
    /// assert_eq!(pool.chunked(8).starmap(|a: u8, b: u8| a ^ b, [(1u8, 3u8)])?.len(), 1);
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn starmap<A, B, R, F>(
        self,
        _f: F,
        items: impl IntoIterator<Item = (A, B)>,
    ) -> Result<Vec<Result<R, Error>>, Error>
    where
        F: Fn(A, B) -> R + Copy + 'static,
        A: Serialize + DeserializeOwned + 'static,
        B: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        const { assert!(size_of::<F>() == 0, "a pool function must capture nothing") };
        self.collect(call_of::<Star<F, A, B, R>>(0), items.into_iter())
    }

    fn collect<T, R, I>(self, call: Call, items: I) -> Result<Vec<Result<R, Error>>, Error>
    where
        T: Serialize + DeserializeOwned,
        R: DeserializeOwned,
        I: Iterator<Item = T>,
    {
        let mut run = self.run_to_end(call, items, |hint| Out::Each(Vec::with_capacity(hint)))?;
        Ok(run.take_each())
    }

    /// Runs every item of `items` to its result, each decoded straight
    /// into its place in `out(hint)` (`hint`: the expected number).
    fn run_to_end<T, R, I>(
        self,
        call: Call,
        items: I,
        out: impl FnOnce(usize) -> Out<R>,
    ) -> Result<Run<I, R>, Error>
    where
        T: Serialize + DeserializeOwned,
        R: DeserializeOwned,
        I: Iterator<Item = T>,
    {
        let pool = self.pool;
        let hint = items.size_hint().0.min(1 << 20); // `0..` says usize::MAX
        let mut run = pool.start_run(call, self.chunksize, items)?;
        run.out = out(hint);
        pool.pump(&mut run, false)?;
        Ok(run)
    }

    /// [`Pool::try_map`] with this chunksize.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(2)?;
    /// assert_eq!(pool.chunked(8).try_map(|x: u8| x, 0..100u8)?.len(), 100);
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn try_map<T, R, F: Task<T, R>>(
        self,
        f: F,
        items: impl IntoIterator<Item = T>,
    ) -> Result<Vec<R>, Error>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let values = |hint| Out::Values {
            values: Places::with_capacity(hint),
            failed: Vec::new(),
        };
        self.run_to_end(f.call(), items.into_iter(), values)?
            .take_values()
    }

    /// [`Pool::imap`] with this chunksize.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(2)?;
    /// assert_eq!(pool.chunked(4).imap(|x: u8| x, 0..10u8)?.count(), 10);
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn imap<T, R, F: Task<T, R>, I: IntoIterator<Item = T>>(
        self,
        f: F,
        items: I,
    ) -> Result<Imap<'p, R, I::IntoIter>, Error>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let pool = self.pool;
        let mut run = pool.start_run(f.call(), self.chunksize, items.into_iter())?;
        // Enough to keep every worker's window busy, and no more.
        run.ahead = (pool.workers.len() * self.chunksize * 64).max(256);
        Ok(Imap {
            pool,
            run,
            held: VecDeque::new(),
            ended: false,
            _t: PhantomData,
        })
    }

    /// [`Pool::imap_unordered`] with this chunksize.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(2)?;
    /// assert_eq!(pool.chunked(4).imap_unordered(|x: u8| x, 0..10u8)?.count(), 10);
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn imap_unordered<T, R, F: Task<T, R>, I: IntoIterator<Item = T>>(
        self,
        f: F,
        items: I,
    ) -> Result<ImapUnordered<'p, R, I::IntoIter>, Error>
    where
        T: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned,
    {
        let pool = self.pool;
        let run = pool.start_run(f.call(), self.chunksize, items.into_iter())?;
        Ok(ImapUnordered {
            pool,
            run,
            ended: false,
        })
    }
}

/// Iterator returned by [`Pool::imap_unordered`].
pub struct ImapUnordered<'p, R, I: Iterator> {
    pool: &'p mut Pool,
    run: Run<I, R>,
    ended: bool,
}

impl<T, R, I> Iterator for ImapUnordered<'_, R, I>
where
    T: Serialize + DeserializeOwned,
    R: DeserializeOwned,
    I: Iterator<Item = T>,
{
    type Item = Result<(usize, R), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((index, result)) = self.run.ready.pop_front() {
                self.run.yielded += 1;
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

/// Iterator returned by [`Pool::imap`]: results in input order.
pub struct Imap<'p, R, I: Iterator> {
    pool: &'p mut Pool,
    run: Run<I, R>,
    /// Results that arrived before an earlier one, by distance from the
    /// next to yield.
    held: VecDeque<Option<Result<R, Error>>>,
    ended: bool,
    _t: PhantomData<fn() -> R>,
}

impl<T, R, I> Iterator for Imap<'_, R, I>
where
    T: Serialize + DeserializeOwned,
    R: DeserializeOwned,
    I: Iterator<Item = T>,
{
    type Item = Result<R, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            for (index, result) in self.run.ready.drain(..) {
                let at = index - self.run.yielded;
                if self.held.len() <= at {
                    self.held.resize_with(at + 1, || None);
                }
                self.held[at] = Some(result);
            }
            if let Some(Some(_)) = self.held.front() {
                self.run.yielded += 1;
                return self.held.pop_front().flatten();
            }
            if self.ended {
                return None;
            }
            if self.run.done() {
                self.ended = true;
                let index = self.run.yielded;
                return (index < self.run.pulled).then_some(Err(Error::Missing { index }));
            }
            if let Err(e) = self.pool.pump(&mut self.run, true) {
                self.ended = true;
                return Some(Err(e));
            }
        }
    }
}
