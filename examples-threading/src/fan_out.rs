//! Running N independent calls one by one, on a thread each, or on a pool
//! of K threads ([`Fanout`]), to compare how they overlap their waiting
//! (`io-bound-threads`) or oversubscribe the cores (`oversubscription`).
//! Python: a loop, a `Thread` per call, `ThreadPoolExecutor(k).map`.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use crate::spawn::refused;

/// How [`fan_out`] runs its calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fanout {
    /// One after another on the calling thread.
    Sequential,
    /// A new OS thread for every call, all started at once.
    ThreadPerTask,
    /// This many threads (at least 1), each taking the next call when done
    /// with one (`ThreadPoolExecutor(max_workers=k).map`).
    Pool(usize),
}

impl Fanout {
    /// How many calls can run at once out of `calls`.
    ///
    /// ```
    /// use examples_threading::fan_out::Fanout;
    /// assert_eq!(Fanout::Pool(4).concurrency(16), 4);
    /// assert_eq!(Fanout::ThreadPerTask.concurrency(16), 16);
    /// ```
    pub fn concurrency(self, calls: usize) -> usize {
        match self {
            Fanout::Sequential => 1,
            Fanout::ThreadPerTask => calls,
            Fanout::Pool(k) => k.clamp(1, calls.max(1)),
        }
    }

    /// The best speedup over [`Fanout::Sequential`] for `calls` calls that
    /// each wait the same time: calls run in rounds of
    /// [`concurrency`](Self::concurrency).
    ///
    /// ```
    /// use examples_threading::fan_out::Fanout;
    /// assert_eq!(Fanout::Pool(4).ideal_speedup(16), 4.0);
    /// assert_eq!(Fanout::Pool(5).ideal_speedup(16), 4.0);
    /// ```
    pub fn ideal_speedup(self, calls: usize) -> f64 {
        let rounds = calls.div_ceil(self.concurrency(calls)).max(1);
        calls as f64 / rounds as f64
    }
}

/// Runs `call(0)`, ..., `call(calls - 1)` as `how` says and returns the
/// results in call order. A call that panics panics the caller, after the
/// other threads finished. Fails only if the OS refuses a thread (too many
/// threads, no memory), after joining the threads it did start.
///
/// ```
/// use examples_threading::fan_out::{fan_out, Fanout};
/// let squares = fan_out(5, Fanout::Pool(2), |i| i * i)?;
/// assert_eq!(squares, vec![0, 1, 4, 9, 16]);
/// assert_eq!(fan_out(5, Fanout::ThreadPerTask, |i| i * i)?, squares);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn fan_out<T: Send>(
    calls: usize,
    how: Fanout,
    call: impl Fn(usize) -> T + Sync,
) -> io::Result<Vec<T>> {
    if how == Fanout::Sequential {
        return Ok((0..calls).map(call).collect());
    }
    let next = AtomicUsize::new(0);
    let (call, next) = (&call, &next);
    let workers = how.concurrency(calls);
    let mut done: Vec<(usize, T)> = thread::scope(|s| {
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let worker = move || {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= calls {
                        return mine;
                    }
                    mine.push((i, call(i)));
                }
            };
            // The workers do not wait for each other: on a refused spawn
            // the scope joins those that started (they finish the calls).
            let h = thread::Builder::new().spawn_scoped(s, worker);
            handles.push(h.map_err(|e| refused(w + 1, workers, &e))?);
        }
        Ok::<_, io::Error>(
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect(),
        )
    })?;
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, t)| t).collect())
}
