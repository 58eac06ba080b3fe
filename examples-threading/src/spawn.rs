//! Starting threads that depend on each other, so that a spawn the system
//! refuses ends in an error instead of a hang.
//!
//! `thread::spawn` panics when the OS refuses a thread (`EAGAIN` under a
//! process limit, `ENOMEM` for a stack); `thread::Builder::spawn` returns
//! the error. Returning it is not enough when the threads already running
//! wait for the one that never came: at a `Barrier`, or for a signal it
//! would have sent. [`together`] starts every thread first, each parked on
//! a [`Gate`]; only once all exist does it open the gate and let them run.
//! If a spawn fails, the gate opens with "stop": the threads already
//! started return without running, are joined, and the error comes back,
//! naming which thread of how many the system refused.
//!
//! ```
//! use std::sync::Barrier;
//! use examples_threading::spawn::together;
//!
//! let barrier = Barrier::new(3); // safe: all 3 exist before any waits
//! let (ids, main) = together(3, |i| { barrier.wait(); i }, || "main ran")?;
//! assert_eq!((ids, main), (vec![0, 1, 2], "main ran"));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::panic::resume_unwind;
use std::sync::{Condvar, Mutex, PoisonError};
use std::thread::{self, Builder};

/// A one-shot start signal: threads [`wait`](Gate::wait) until it is
/// opened, and learn whether to go on or to stop.
#[derive(Debug, Default)]
pub struct Gate {
    /// `None` while shut; `Some(true)` go, `Some(false)` stop.
    state: Mutex<Option<bool>>,
    opened: Condvar,
}

impl Gate {
    /// A shut gate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the gate for every waiter, now and later: `go` says whether
    /// they should run (`false`: a sibling was never started).
    pub fn open(&self, go: bool) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = Some(go);
        self.opened.notify_all();
    }

    /// Blocks until the gate is opened; returns its `go`.
    pub fn wait(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = self
            .opened
            .wait_while(state, |s| s.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        state.unwrap_or(false)
    }
}

/// The error of a refused spawn, saying which thread it was.
pub fn refused(which: usize, of: usize, err: &io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("the system refused thread {which} of {of}: {err}"),
    )
}

/// Runs `body(0)`, ..., `body(threads - 1)` on a thread each, all started
/// before any of them runs, and `alongside()` on the calling thread while
/// they run; returns what each returned (in order) and what `alongside`
/// returned. If the system refuses a thread, the started ones return
/// without running `body`, are joined, and the error comes back (see
/// [`refused`]). A `body` that panics panics the caller, after the others
/// are joined.
pub fn together<T: Send, R>(
    threads: usize,
    body: impl Fn(usize) -> T + Sync,
    alongside: impl FnOnce() -> R,
) -> io::Result<(Vec<T>, R)> {
    together_with(|_| Builder::new(), threads, body, alongside)
}

/// [`together`] with a [`Builder`] per thread (a name, a stack size).
///
/// ```
/// use std::thread::Builder;
/// use examples_threading::spawn::together_with;
///
/// // A stack no machine has: the third spawn fails, the other two are released.
/// let builder = |i| if i == 2 { Builder::new().stack_size(usize::MAX / 2) } else { Builder::new() };
/// let err = together_with(builder, 4, |i| i, || ()).unwrap_err();
/// assert!(err.to_string().starts_with("the system refused thread 3 of 4"), "{err}");
/// ```
pub fn together_with<T: Send, R>(
    builder: impl Fn(usize) -> Builder,
    threads: usize,
    body: impl Fn(usize) -> T + Sync,
    alongside: impl FnOnce() -> R,
) -> io::Result<(Vec<T>, R)> {
    let gate = Gate::new();
    let (gate, body) = (&gate, &body);
    thread::scope(|s| {
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let started = builder(i).spawn_scoped(s, move || gate.wait().then(|| body(i)));
            match started {
                Ok(h) => handles.push(h),
                Err(e) => {
                    gate.open(false);
                    for h in handles {
                        // They ran nothing, so there is no panic to see.
                        let _ = h.join();
                    }
                    return Err(refused(i + 1, threads, &e));
                }
            }
        }
        gate.open(true);
        let also = alongside();
        let results = handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(Some(t)) => t,
                Ok(None) => unreachable!("the gate opened with go"),
                Err(panic) => resume_unwind(panic),
            })
            .collect();
        Ok((results, also))
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_refused_spawn_releases_threads_at_a_barrier() {
        // Without the gate, threads 0 and 1 would wait at the barrier forever.
        let barrier = Barrier::new(3);
        let ran = AtomicUsize::new(0);
        let builder = |i| match i {
            2 => Builder::new().stack_size(usize::MAX / 2),
            _ => Builder::new(),
        };
        let body = |_| {
            barrier.wait();
            ran.fetch_add(1, Ordering::SeqCst);
        };
        let err = together_with(builder, 3, body, || ()).unwrap_err();
        assert!(err.to_string().contains("thread 3 of 3"), "{err}");
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn every_thread_runs_and_alongside_sees_them_started() {
        let started = AtomicUsize::new(0);
        let (ids, ()) = together(
            5,
            |i| {
                started.fetch_add(1, Ordering::SeqCst);
                i * 2
            },
            || (),
        )
        .unwrap();
        assert_eq!(ids, [0, 2, 4, 6, 8]);
        assert_eq!(started.load(Ordering::SeqCst), 5);
    }
}
