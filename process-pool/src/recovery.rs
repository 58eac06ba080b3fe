//! When workers end: timeouts, deaths, replacements, retirement, and
//! shutdown; and the registry of pool-side descriptors every new worker
//! closes.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{self, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, pipe2};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::dispatch::Run;
use crate::server::ForkServer;
use crate::submit::SUBMITTED;
use crate::wire::{Chunk, SlotState, monotonic_ns, split_chunk};
use crate::worker::{Ctx, Start, worker_main};
use crate::{Death, Error, Pool, PoolState, Replacement, ShutdownReport, Worker, WorkerState};

/// Pool-side pipe ends of every pool in this process. A new worker closes
/// all of them, so it holds no sibling's (or another pool's) ends. The
/// lock is held across `fork`, so the child reads a complete list (the
/// forking thread, the only one in the child, holds the guard).
pub(crate) static POOL_FDS: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

pub(crate) fn register(fds: &[RawFd]) {
    POOL_FDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend_from_slice(fds);
}

/// Unregisters and closes a pool-side pipe end.
pub(crate) fn close(fd: &mut Option<OwnedFd>) {
    if let Some(fd) = fd.take() {
        POOL_FDS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&f| f != fd.as_raw_fd());
        drop(fd);
    }
}

/// Waits for child `pid` to end, at most `limit`, then kills and reaps it.
pub(crate) fn reap(pid: Pid, limit: Duration) -> Death {
    let deadline = Instant::now() + limit;
    let mut nap = Duration::from_micros(20);
    loop {
        let late = Instant::now() >= deadline;
        if late {
            let _ = signal::kill(pid, Signal::SIGKILL);
        }
        match waitpid(pid, (!late).then_some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return Death::Exited(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Death::Signaled(sig),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return Death::Unknown,
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(5));
    }
}

impl Pool {
    /// Kills workers whose current task has run past the task timeout;
    /// returns how long until the next running task would time out.
    pub(crate) fn enforce_timeout(&mut self) -> Option<Duration> {
        let limit = self.task_timeout?.as_nanos() as u64;
        let now = monotonic_ns();
        let mut next = None::<u64>;
        for (wi, w) in self.workers.iter_mut().enumerate() {
            if !matches!(w.state, WorkerState::Serving | WorkerState::Retiring)
                || w.in_flight.is_empty()
            {
                continue;
            }
            let slot = self.slots.get(wi);
            let state = slot.state.load(Ordering::Acquire);
            let SlotState::Running(seq) = SlotState::from(state) else {
                // Between two tasks: the next one may start right after
                // this check, so look again within `limit`.
                next = Some(next.map_or(limit, |n| n.min(limit)));
                continue;
            };
            let ran = now.saturating_sub(slot.started.load(Ordering::Relaxed));
            if ran < limit {
                next = Some(next.map_or(limit - ran, |n| n.min(limit - ran)));
            } else if slot.state.load(Ordering::Acquire) == state {
                // Still the same task: its end-of-file and reaping follow.
                let _ = signal::kill(w.pid, Signal::SIGKILL);
                w.state = WorkerState::TimedOut(seq);
            }
        }
        next.map(Duration::from_nanos)
    }

    /// Reaps worker `wi`, fails the task it was running, re-queues its
    /// other tasks, and forks a replacement (or declares the pool broken).
    pub(crate) fn handle_death<T, R, I>(
        &mut self,
        wi: usize,
        run: &mut Run<I, R>,
    ) -> Result<(), Error>
    where
        T: Serialize + DeserializeOwned,
        I: Iterator<Item = T>,
    {
        let w = &mut self.workers[wi];
        close(&mut w.task_w);
        close(&mut w.result_r);
        let pid = w.pid;
        let cause = match self.server.as_mut() {
            Some(server) => server.ended(pid, Duration::from_secs(1)),
            None => Death::Unknown,
        };
        let before = std::mem::replace(&mut w.state, WorkerState::Reaped);
        let in_flight = w.take_in_flight();
        let timed_out = match before {
            WorkerState::TimedOut(seq) => Some(seq),
            _ => None,
        };
        let retired =
            before == WorkerState::Retiring && cause == Death::Exited(0) && in_flight.is_empty();
        let running = match self.slots.state(wi) {
            SlotState::Running(seq) => Some(seq),
            _ => None,
        };
        let attributable = running.is_none_or(|seq| in_flight.iter().any(|c| c.contains(seq)));
        let mut lost = None;
        let pid_raw = pid.as_raw();
        let (submitted, in_flight): (Vec<Chunk>, Vec<Chunk>) =
            in_flight.into_iter().partition(|c| c.run == SUBMITTED);
        for chunk in submitted {
            let error = match running {
                Some(seq) if chunk.contains(seq) || !attributable => {
                    Some(match self.task_timeout {
                        Some(after) if timed_out == Some(seq) => Error::TimedOut {
                            index: 0,
                            pid: pid_raw,
                            after,
                        },
                        _ => Error::WorkerDied {
                            index: 0,
                            pid: pid_raw,
                            cause,
                        },
                    })
                }
                _ => None,
            };
            self.lost_submitted(chunk, error);
        }
        let run_id = run.id;
        for chunk in in_flight.into_iter().filter(|c| c.run == run_id) {
            match running.filter(|&seq| chunk.contains(seq) || !attributable) {
                Some(seq) if attributable => {
                    let k = (seq - chunk.first) as usize;
                    let index = (seq - run.base) as usize;
                    let error = match self.task_timeout {
                        Some(after) if timed_out == Some(seq) => Error::TimedOut {
                            index,
                            pid: pid_raw,
                            after,
                        },
                        _ => Error::WorkerDied {
                            index,
                            pid: pid_raw,
                            cause,
                        },
                    };
                    run.put(index, Err(error));
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
                        let error = Error::WorkerDied {
                            index,
                            pid: pid_raw,
                            cause,
                        };
                        run.put(index, Err(error));
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
            old_pid: pid_raw,
            new_pid: None,
            cause,
            task: lost,
            retired,
        };
        if self.deaths_in_a_row > self.max_restarts {
            self.replacements.push(record);
            let (restarts, last) = (self.deaths_in_a_row, cause);
            self.state = PoolState::Broken { restarts, last };
            return Err(Error::Broken { restarts, last });
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
                let (restarts, last) = (self.deaths_in_a_row, cause);
                self.state = PoolState::Broken { restarts, last };
                Err(e)
            }
        }
    }

    /// Forks the fork server, from this (checked) single-threaded process.
    pub(crate) fn start_server(&mut self, workers: usize) -> Result<(), Error> {
        if !self.allow_threads {
            let threads = process_toolkit::thread_count().map_err(Error::Spawn)?;
            if threads > 1 {
                return Err(Error::ThreadsRunning { threads });
            }
        }
        // Otherwise a worker that prints would also print our unflushed output.
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        let pool = &*self;
        let body = |wi: usize, task_r: OwnedFd, result_w: OwnedFd, close: &[RawFd], parent| {
            let start = Start {
                init: pool.init.as_deref(),
                ctx: Ctx {
                    slot: pool.slots.get(wi),
                    tasks: pool.lanes.tasks(wi),
                    results: pool.lanes.results(wi),
                    timed: pool.task_timeout.is_some(),
                    closures: &pool.closures,
                },
                parent,
                close,
            };
            worker_main(start, task_r, result_w)
        };
        let server = ForkServer::start(workers, &body).map_err(Error::Spawn)?;
        self.server = Some(server);
        Ok(())
    }

    /// Has the fork server fork worker number `wi` with fresh pipes.
    pub(crate) fn spawn(&mut self, wi: usize) -> Result<Worker, Error> {
        let spawn_err = |e: Errno| Error::Spawn(e.into());
        let (task_r, task_w) = pipe2(OFlag::O_CLOEXEC).map_err(spawn_err)?;
        let (result_r, result_w) = pipe2(OFlag::O_CLOEXEC).map_err(spawn_err)?;
        register(&[task_w.as_raw_fd(), result_r.as_raw_fd()]);
        let mut task_w = Some(task_w);
        let mut result_r = Some(result_r);
        self.slots.get(wi).state.store(0, Ordering::Release);
        // The worker that had these lanes is reaped (or there was none).
        self.lanes.tasks(wi).reset();
        self.lanes.results(wi).reset();
        let forked = match self.server.as_mut() {
            Some(server) => server.spawn(wi, task_r, result_w).map_err(Error::Spawn),
            None => Err(Error::Spawn(io::Error::other("the pool is shut down"))),
        };
        let pid = match forked {
            Ok(pid) => pid,
            Err(e) => {
                close(&mut task_w);
                close(&mut result_r);
                return Err(e);
            }
        };
        for fd in [&task_w, &result_r].into_iter().flatten() {
            fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(spawn_err)?;
        }
        Ok(Worker {
            pid,
            task_w: task_w.take(),
            result_r: result_r.take(),
            out: Vec::new(),
            out_done: 0,
            out_at: 0,
            inbuf: Vec::new(),
            in_len: 0,
            in_flight: VecDeque::new(),
            sent: 0,
            chunk_ns: 0,
            unmeasured: 0,
            queued_bytes: 0,
            state: WorkerState::Serving,
        })
    }

    /// Closes every pipe, waits up to `limit` for the workers to exit,
    /// kills the rest and reaps all. `limit` zero kills at once.
    pub(crate) fn shut_down(&mut self, limit: Duration) -> ShutdownReport {
        let mut report = ShutdownReport::default();
        let mut left: Vec<Pid> = Vec::new();
        for (wi, w) in self.workers.iter_mut().enumerate() {
            // Closing the task pipe says "no more work"; closing the result
            // lane and pipe makes a busy worker fail its next send and exit.
            self.lanes.results(wi).close();
            close(&mut w.task_w);
            close(&mut w.result_r);
            if w.state != WorkerState::Reaped {
                w.state = WorkerState::Reaped;
                left.push(w.pid);
            }
        }
        let Some(server) = self.server.as_mut() else {
            return report;
        };
        // Each worker's end, as the server reports it (it reaps them).
        let deadline = Instant::now() + limit;
        let mut stragglers = Vec::new();
        for pid in left {
            match server.wait_end(pid, deadline) {
                Some(_) => report.exited += 1,
                None => stragglers.push(pid),
            }
        }
        for pid in stragglers {
            let _ = signal::kill(pid, Signal::SIGKILL);
            server.wait_end(pid, Instant::now() + Duration::from_secs(5));
            report.killed += 1;
        }
        server.stop();
        self.server = None;
        report
    }
}
