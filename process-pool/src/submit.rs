//! `submit`: one task and a handle to wait for it (Python's `apply_async`
//! and `concurrent.futures.Future`).
//!
//! A submitted task waits in the parent until a worker has nothing in
//! flight, then goes to that worker alone. So [`TaskHandle::cancel`] is
//! exact: a task still in the parent is taken back and never runs; one that
//! was sent runs to the end. Results wait in the pool as bytes, decoded
//! when the handle asks; a dropped handle's result is thrown away.

use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::dispatch::{Run, SigpipeBlocked};
use crate::wire::{Chunk, Outcome, Outcomes};
use crate::{Error, Pool, PoolState, WorkerState};

/// The run id of submitted tasks (calls count from 1).
pub(crate) const SUBMITTED: u64 = 0;

/// Submitted tasks: those not yet sent, and every live handle's entry.
#[derive(Default)]
pub(crate) struct Submits {
    pub queue: VecDeque<Chunk>,
    pub entries: HashMap<u64, Entry>,
}

/// One submitted task, by sequence number.
pub(crate) struct Entry {
    /// Dead once the handle is dropped.
    pub handle: Weak<()>,
    /// The worker that ran it.
    pub pid: i32,
    /// The encoded `Vec<Outcome<R>>` of one, or why there is none.
    pub done: Option<Result<Vec<u8>, Error>>,
}

/// A submitted task: wait for its result, or cancel it. Made by
/// [`Pool::submit`]; Python's `AsyncResult` / `Future`. Every method takes
/// the pool, which does the work while you wait.
pub struct TaskHandle<R> {
    seq: u64,
    alive: Rc<()>,
    _r: PhantomData<fn() -> R>,
}

impl<R: DeserializeOwned> TaskHandle<R> {
    /// Waits for the result (Python's `get()` / `result()`).
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(2)?;
    /// let h = pool.submit(|x: u64| x * x, 12)?;
    /// assert_eq!(h.wait(&mut pool)?, 144);
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn wait(self, pool: &mut Pool) -> Result<R, Error> {
        self.take(pool, None)
            .unwrap_or(Err(Error::Missing { index: 0 }))
    }

    /// Waits at most `limit`: `None` if the task has not finished by then
    /// (it goes on; wait again later). Python's `get(timeout)`.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(1)?;
    /// let h = pool.submit(|ms: u64| std::thread::sleep(std::time::Duration::from_millis(ms)), 500)?;
    /// assert!(h.wait_timeout(&mut pool, std::time::Duration::from_millis(10)).is_none());
    /// assert!(h.wait(&mut pool).is_ok());
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn wait_timeout(&self, pool: &mut Pool, limit: Duration) -> Option<Result<R, Error>> {
        self.take(pool, Some(Instant::now() + limit))
    }

    /// Takes the task back if no worker has it yet: `true` means it will
    /// never run (waiting then gives [`Error::Cancelled`]); `false` means
    /// it is running or done. Python's `Future.cancel()`.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(1)?;
    /// let slow = |ms: u64| std::thread::sleep(std::time::Duration::from_millis(ms));
    /// let first = pool.submit(slow, 200)?; // sent at once
    /// let second = pool.submit(slow, 200)?; // waits for the worker
    /// assert!(!first.cancel(&mut pool));
    /// assert!(second.cancel(&mut pool));
    /// assert!(matches!(second.wait(&mut pool), Err(process_pool::Error::Cancelled)));
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn cancel(&self, pool: &mut Pool) -> bool {
        let submits = &mut pool.submits;
        let Some(at) = submits.queue.iter().position(|c| c.first == self.seq) else {
            return false;
        };
        submits.queue.remove(at);
        if let Some(entry) = submits.entries.get_mut(&self.seq) {
            entry.done = Some(Err(Error::Cancelled));
        }
        true
    }

    /// Drives the pool until this task's outcome is known or `deadline`
    /// passes, then takes the outcome.
    fn take(&self, pool: &mut Pool, deadline: Option<Instant>) -> Option<Result<R, Error>> {
        let mine = |e: &Entry| Weak::ptr_eq(&e.handle, &Rc::downgrade(&self.alive));
        if !pool.submits.entries.get(&self.seq).is_some_and(mine) {
            return Some(Err(Error::Missing { index: 0 })); // another pool's, or taken
        }
        if let Err(e) = pool.drive(self.seq, deadline) {
            return Some(Err(e));
        }
        let entry = pool.submits.entries.get_mut(&self.seq)?;
        let done = entry.done.take()?;
        let pid = entry.pid;
        pool.submits.entries.remove(&self.seq);
        Some(done.and_then(|bytes| decode(&bytes, pid)))
    }
}

/// A submitted task's outcome from the worker's bytes (its chunk's
/// [`Outcomes`], one); bytes that do not decode are an error for this
/// task, not a panic.
fn decode<R: DeserializeOwned>(bytes: &[u8], pid: i32) -> Result<R, Error> {
    let outcome = Outcomes::read(bytes).and_then(|mut o| match (o.count, o.oks) {
        (1, 1) => o.value::<R>().map(Outcome::Ok),
        (1, 0) => o.tagged::<R>(),
        _ => None,
    });
    match outcome {
        Some(outcome) => outcome.into_result(0, pid),
        None => Err(Error::Encode {
            index: 0,
            message: format!("cannot decode the result from worker {pid}"),
        }),
    }
}

impl Pool {
    /// Queues one task and returns its handle at once (Python's
    /// `apply_async`, `executor.submit`). The task goes to the first idle
    /// worker; results come back while any handle waits or any call runs.
    ///
    /// ```no_run
    /// let mut pool = process_pool::Pool::new(2)?;
    /// let handles: Vec<_> = (0..4u64).map(|x| pool.submit(|x: u64| x + 1, x)).collect::<Result<_, _>>()?;
    /// let sum: u64 = handles.into_iter().map(|h| h.wait(&mut pool)).sum::<Result<_, _>>()?;
    /// assert_eq!(sum, 10);
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn submit<T, R, F>(&mut self, f: F, arg: T) -> Result<TaskHandle<R>, Error>
    where
        F: crate::Task<T, R>,
        T: serde::Serialize + DeserializeOwned,
        R: serde::Serialize + DeserializeOwned,
    {
        self.check_open()?;
        let seq = self.next_seq;
        let chunk = crate::wire::encode_chunk(SUBMITTED, f.call(), seq, std::slice::from_ref(&arg))
            .map_err(|message| Error::Encode { index: 0, message })?;
        self.next_seq += 1;
        let alive = Rc::new(());
        if self.submits.entries.len() % 256 == 255 {
            self.submits
                .entries
                .retain(|_, e| e.handle.strong_count() > 0);
        }
        let entry = Entry {
            handle: Rc::downgrade(&alive),
            pid: 0,
            done: None,
        };
        self.submits.entries.insert(seq, entry);
        self.submits.queue.push_back(chunk);
        let _guard = SigpipeBlocked::new();
        self.fill_submits();
        self.write_out();
        Ok(TaskHandle {
            seq,
            alive,
            _r: PhantomData,
        })
    }

    /// Gives each worker with nothing in flight one submitted task.
    pub(crate) fn fill_submits(&mut self) {
        for w in &mut self.workers {
            if self.submits.queue.is_empty() {
                return;
            }
            if w.task_w.is_none() || w.state != WorkerState::Serving || !w.in_flight.is_empty() {
                continue;
            }
            while let Some(chunk) = self.submits.queue.pop_front() {
                match self.submits.entries.get_mut(&chunk.first) {
                    Some(e) if e.handle.strong_count() > 0 => e.pid = w.pid.as_raw(),
                    _ => {
                        // Its handle was dropped: nobody wants it.
                        self.submits.entries.remove(&chunk.first);
                        continue;
                    }
                }
                let chunk = chunk.into_out(&mut w.out);
                w.sent += 1;
                w.queued_bytes += chunk.bytes;
                if self.max_tasks_per_child.is_some_and(|m| w.sent >= m) {
                    w.state = WorkerState::Retiring;
                }
                w.in_flight.push_back(chunk);
                break;
            }
        }
    }

    /// Runs the pool until submitted task `seq` has an outcome, or until
    /// `deadline`.
    fn drive(&mut self, seq: u64, deadline: Option<Instant>) -> Result<(), Error> {
        let _guard = SigpipeBlocked::new();
        let mut idle: Run<std::iter::Empty<()>, ()> = Run::idle();
        loop {
            match self.state {
                PoolState::Cancelled => return Err(Error::Cancelled),
                PoolState::Broken { restarts, last } => {
                    return Err(Error::Broken { restarts, last });
                }
                _ => {}
            }
            if self.cancel.as_ref().is_some_and(|t| t.is_cancelled()) {
                self.state = PoolState::Cancelled;
                return Err(Error::Cancelled);
            }
            self.fill_submits();
            self.write_out();
            if self
                .submits
                .entries
                .get(&seq)
                .is_none_or(|e| e.done.is_some())
            {
                return Ok(());
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(()),
                },
                None => None,
            };
            self.wait(&mut idle, left)?;
        }
    }

    /// Records the result frame of submitted task `first` (from worker
    /// `pid`); `ok` says whether it completed.
    pub(crate) fn deliver_submitted(&mut self, first: u64, bytes: &[u8], ok: bool) {
        if ok {
            self.deaths_in_a_row = 0;
        }
        match self.submits.entries.get_mut(&first) {
            Some(e) if e.handle.strong_count() > 0 => e.done = Some(Ok(bytes.to_vec())),
            _ => {
                self.submits.entries.remove(&first);
            }
        }
    }

    /// A worker died holding submitted task `chunk`: fail it with `error`
    /// if it was running, or queue it again.
    pub(crate) fn lost_submitted(&mut self, chunk: Chunk, error: Option<Error>) {
        match error {
            Some(error) => {
                if let Some(e) = self.submits.entries.get_mut(&chunk.first) {
                    e.done = Some(Err(error));
                }
            }
            None => self.submits.queue.push_front(chunk),
        }
    }
}
