//! A fixed pool of worker threads fed by one channel, the counterpart of
//! Python's `concurrent.futures.ThreadPoolExecutor`.
//!
//! - [`ThreadPool::submit`] queues a closure and returns a [`TaskHandle`];
//!   [`TaskHandle::join`] yields the value, or the task's panic as a
//!   [`TaskError`] (Python: `future.result()` re-raises the exception).
//! - A panicking task does not take its worker down: the panic is caught on
//!   the worker and sent back to whoever joins the handle.
//! - [`ThreadPool::map`] runs a function over items in chunks of `chunksize`
//!   and returns the results in input order (`executor.map(fn, items,
//!   chunksize=...)`, which Python only honours for process pools). It does
//!   not submit a task per item: the workers claim chunks of indices from
//!   one counter and write results in place, so a tiny task costs tens of
//!   nanoseconds, not the microsecond of a boxed closure and a reply channel.
//! - [`ThreadPool::shutdown`] (and `Drop`) closes the queue and waits: every
//!   task already submitted still runs (`shutdown(wait=True)`).
//!
//! Reach for it when tasks arrive one by one and you want results back per
//! task; for data-parallel loops over a slice, rayon is simpler and faster.
//!
//! ```
//! use examples_threading::thread_pool::{TaskError, ThreadPool};
//!
//! let pool = ThreadPool::new(2)?;
//! let answer = pool.submit(|| 6 * 7);
//! let broken = pool.submit(|| -> u32 { panic!("bad input") });
//! assert_eq!(answer.join(), Ok(42));
//! assert_eq!(broken.join(), Err(TaskError::Panicked("bad input".into())));
//!
//! // The pool survived the panic.
//! let squares = pool.map(1..=5u64, 2, |x| x * x)?;
//! assert_eq!(squares, [1, 4, 9, 16, 25]);
//! pool.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod batch;

use crate::sync::channel::{Receiver, Sender, bounded, unbounded};
use crate::sync::{Arc, thread};
use batch::Batch;
#[cfg(not(loom))]
use process_toolkit::linger::{LINGER, linger};
use std::panic::{AssertUnwindSafe, catch_unwind};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of worker threads taking jobs from one shared queue.
pub struct ThreadPool {
    queue: Option<Sender<Job>>,
    workers: Vec<thread::JoinHandle<()>>,
}

/// Why a task produced no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// The task panicked; the panic's message.
    #[error("task panicked: {0}")]
    Panicked(String),
    /// The task was dropped without running (its reply channel closed).
    #[error("task was dropped before it ran")]
    Lost,
}

/// The pending result of one submitted task (Python's `Future`).
#[must_use = "join the handle to see the task's value or panic"]
pub struct TaskHandle<T> {
    reply: Receiver<Result<T, TaskError>>,
}

impl<T> TaskHandle<T> {
    /// Waits for the task and returns its value or its panic.
    pub fn join(self) -> Result<T, TaskError> {
        self.reply.recv().unwrap_or(Err(TaskError::Lost))
    }
}

/// Joins every handle in order, like `concurrent.futures.wait`: the values
/// of the tasks that succeeded, and each failure with its handle's key.
///
/// ```
/// use examples_threading::thread_pool::{ThreadPool, join_all};
///
/// let pool = ThreadPool::new(2).unwrap();
/// let handles = pool.submit_each(0..4, |i| if i == 2 { panic!("no") } else { i });
/// let (values, errors) = join_all((0..4).zip(handles));
/// assert_eq!(values, [0, 1, 3]);
/// assert_eq!(errors.len(), 1);
/// assert_eq!(errors[0].0, 2);
/// ```
pub fn join_all<K, T>(
    handles: impl IntoIterator<Item = (K, TaskHandle<T>)>,
) -> (Vec<T>, Vec<(K, TaskError)>) {
    let (mut values, mut errors) = (Vec::new(), Vec::new());
    for (key, handle) in handles {
        match handle.join() {
            Ok(value) => values.push(value),
            Err(e) => errors.push((key, e)),
        }
    }
    (values, errors)
}

impl ThreadPool {
    /// Starts `workers` threads named `pool-worker-N`.
    ///
    /// # Panics
    /// If `workers` is 0: a pool with no workers would never run anything.
    pub fn new(workers: usize) -> std::io::Result<Self> {
        assert!(workers > 0, "a thread pool needs at least one worker");
        let (queue, jobs) = unbounded::<Job>();
        let mut pool = Self {
            queue: Some(queue),
            workers: Vec::with_capacity(workers),
        };
        for n in 0..workers {
            let jobs = jobs.clone();
            let worker = thread::Builder::new()
                .name(format!("pool-worker-{n}"))
                .spawn(move || work(&jobs))?;
            // If a later spawn fails, `pool` drops here and joins these.
            pool.workers.push(worker);
        }
        Ok(pool)
    }

    /// A pool with one worker per CPU the process may use
    /// (`std::thread::available_parallelism`, 1 if unknown).
    pub fn with_default_size() -> std::io::Result<Self> {
        Self::new(default_size())
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Queues `task`; it runs on some worker as soon as one is free.
    pub fn submit<T, F>(&self, task: F) -> TaskHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (reply, handle) = bounded(1);
        let job: Job = Box::new(move || {
            let result = catch_unwind(AssertUnwindSafe(task))
                .map_err(|payload| TaskError::Panicked(panic_message(payload.as_ref())));
            // The caller may have dropped its handle; then nobody wants it.
            let _ = reply.send(result);
        });
        if let Some(queue) = &self.queue {
            // Cannot fail: the workers hold the receiving end until the
            // queue is closed, which only `shutdown`/`Drop` does.
            let _ = queue.send(job);
        }
        TaskHandle { reply: handle }
    }

    /// Submits one task per item, `f(item)`, and returns their handles in
    /// input order (Python: `[executor.submit(f, x) for x in items]`).
    pub fn submit_each<I, T, F>(
        &self,
        items: impl IntoIterator<Item = I>,
        f: F,
    ) -> Vec<TaskHandle<T>>
    where
        I: Send + 'static,
        F: Fn(I) -> T + Clone + Send + 'static,
        T: Send + 'static,
    {
        items
            .into_iter()
            .map(|item| {
                let f = f.clone();
                self.submit(move || f(item))
            })
            .collect()
    }

    /// Applies `f` to every item and returns the results in input order, or
    /// the first panic in input order (a panic ends the rest of its chunk).
    ///
    /// The items go into one shared batch, and one job per worker (fewer if
    /// there are fewer chunks) claims `chunksize` items at a time from a
    /// shared counter and writes each result back into the item's slot (see
    /// `batch.rs`): no box, no channel message and no handle per item, so a
    /// tiny task costs tens of nanoseconds even at chunksize 1. Bigger chunks
    /// mean fewer claims on the counter. An idle worker looks for the next
    /// job for 50 µs before it sleeps, and `map` looks for its jobs' replies
    /// as long before it does: `map`s in a loop find each other awake and
    /// pay no wake-up. Do not call it from inside a task of the same pool:
    /// it waits for jobs queued behind that task.
    ///
    /// # Panics
    /// If `chunksize` is 0.
    pub fn map<I, T, F>(
        &self,
        items: impl IntoIterator<Item = I>,
        chunksize: usize,
        f: F,
    ) -> Result<Vec<T>, TaskError>
    where
        I: Send + 'static,
        T: Send + 'static,
        F: Fn(I) -> T + Send + Sync + 'static,
    {
        assert!(chunksize > 0, "chunksize must be at least 1");
        let batch = Arc::new(Batch::new(items, chunksize, f));
        let jobs = batch.chunks().min(self.workers());
        let handles: Vec<_> = (0..jobs)
            .map(|_| {
                let batch = Arc::clone(&batch);
                self.submit(move || {
                    batch.work();
                    // Let go before the reply is sent, so that once every
                    // handle is joined the caller owns the batch again.
                    drop(batch);
                })
            })
            .collect();
        for handle in handles {
            // The jobs take about as long as a wake-up: look first.
            #[cfg(not(loom))]
            linger(|| !handle.reply.is_empty(), LINGER);
            // `work` catches the tasks' panics, so this fails only if a job
            // was lost.
            handle.join()?;
        }
        Arc::try_unwrap(batch)
            .map_err(|_| TaskError::Lost)?
            .into_results()
    }

    /// Closes the queue and waits for the workers to finish every task that
    /// was submitted (`executor.shutdown(wait=True)`).
    pub fn shutdown(mut self) {
        self.close_and_join();
    }

    fn close_and_join(&mut self) {
        // Dropping the only sender disconnects the channel; each worker's
        // `recv` keeps returning queued jobs and fails only once the queue
        // is empty, so nothing submitted is skipped.
        drop(self.queue.take());
        for worker in self.workers.drain(..) {
            // Workers catch task panics, so a join error is not expected;
            // there is nothing more useful to do with one during shutdown.
            let _ = worker.join();
        }
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.close_and_join();
    }
}

fn work(jobs: &Receiver<Job>) {
    while let Some(job) = next_job(jobs) {
        job();
    }
}

/// The next job, or `None` once the queue is closed and empty. Looks
/// again for [`LINGER`] before sleeping in `recv` (not under loom, whose
/// models would explore every look).
fn next_job(jobs: &Receiver<Job>) -> Option<Job> {
    #[cfg(not(loom))]
    {
        use crate::sync::channel::TryRecvError;
        let mut next = Err(TryRecvError::Empty);
        let looked = || {
            next = jobs.try_recv();
            !matches!(next, Err(TryRecvError::Empty))
        };
        if linger(looked, LINGER) {
            return next.ok();
        }
    }
    jobs.recv().ok()
}

/// The number of CPUs this process may use, 1 if that is unknown.
pub fn default_size() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The message of a panic payload (one home: the process toolkit's).
pub use process_toolkit::panic_message;

/// Replaces the default panic report for the pool's workers (threads named
/// `pool-worker-N`) with one line on stdout, written without panicking:
/// `thread 'pool-worker-0' panicked: <message> (caught by the pool)`, and
/// no backtrace, whatever `RUST_BACKTRACE` says. For a program whose tasks
/// panic on purpose; other threads' panics go to the hook installed before.
pub fn report_worker_panics_in_one_line() {
    use std::io::Write;
    let before = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| match std::thread::current().name() {
        Some(worker) if worker.starts_with("pool-worker-") => {
            let message = panic_message(info.payload());
            let line = format!("thread '{worker}' panicked: {message} (caught by the pool)");
            let _ = writeln!(std::io::stdout(), "{line}");
        }
        _ => before(info),
    }));
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn shutdown_runs_every_queued_task() {
        let done = std::sync::Arc::new(AtomicUsize::new(0));
        let pool = ThreadPool::new(2).unwrap();
        for _ in 0..100 {
            let done = done.clone();
            let _ = pool.submit(move || done.fetch_add(1, Ordering::SeqCst));
        }
        pool.shutdown();
        assert_eq!(done.load(Ordering::SeqCst), 100);
    }

    #[test]
    fn map_keeps_order_for_every_chunksize() {
        let pool = ThreadPool::new(3).unwrap();
        let want: Vec<u64> = (0..100).map(|x| x * 3).collect();
        for chunksize in [1, 7, 64, 512] {
            assert_eq!(pool.map(0..100u64, chunksize, |x| x * 3).unwrap(), want);
        }
    }

    #[test]
    fn map_reports_the_first_panic() {
        let pool = ThreadPool::new(2).unwrap();
        let err = pool
            .map(0..10u32, 3, |x| if x == 4 { panic!("four") } else { x })
            .unwrap_err();
        assert_eq!(err, TaskError::Panicked("four".into()));
    }
}
