//! Lost wake-up: a condition variable does not remember a notification.
//!
//! [`NaiveSignal`] keeps its "ready" flag outside the mutex and checks it
//! once, with `if`, before waiting. If the notifier sets the flag and calls
//! `notify_one` in the gap between that check and the wait, nobody is
//! waiting yet, the notification is dropped, and the waiter sleeps until its
//! timeout (forever, without one). [`Signal`] keeps the flag under the
//! mutex and waits in a predicate loop: the notifier cannot slip into a gap
//! because checking and starting to wait happen under the same lock, and a
//! notification sent before the wait is seen as `ready == true`.
//!
//! ```
//! use examples_race_conditions::lost_wakeup::{Signal, Woke};
//! use std::time::Duration;
//! let signal = Signal::default();
//! signal.notify(); // before anyone waits: still not lost
//! assert_eq!(signal.wait(Duration::from_secs(5)), Woke::Signalled);
//! ```

use crate::sync::{AtomicBool, Condvar, Mutex, Ordering, lock};
use crate::team::Gate;
use std::time::{Duration, Instant};

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woke {
    /// The waiter saw the signal.
    Signalled,
    /// The timeout passed without it.
    TimedOut,
}

/// The broken pattern: flag outside the lock, checked once with `if`.
#[derive(Debug, Default)]
pub struct NaiveSignal {
    ready: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

impl NaiveSignal {
    /// Sets the flag and wakes a waiter, if one is waiting right now.
    pub fn notify(&self) {
        self.ready.store(true, Ordering::SeqCst);
        self.cv.notify_one();
    }

    /// Waits for the signal (or `timeout`); `gap` runs between the check
    /// and the wait, where a notification gets lost.
    pub fn wait_with(&self, timeout: Duration, gap: impl FnOnce()) -> Woke {
        if !self.ready.load(Ordering::SeqCst) {
            gap();
            let guard = lock(&self.lock);
            let (_guard, result) = self
                .cv
                .wait_timeout(guard, timeout)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if result.timed_out() {
                return Woke::TimedOut;
            }
        }
        Woke::Signalled
    }
}

/// The fix: the flag lives under the mutex; the wait is a predicate loop.
#[derive(Debug, Default)]
pub struct Signal {
    ready: Mutex<bool>,
    cv: Condvar,
}

impl Signal {
    /// Sets the flag under the lock and wakes a waiter.
    pub fn notify(&self) {
        *lock(&self.ready) = true;
        self.cv.notify_one();
    }

    /// Waits until the flag is set or `timeout` passes.
    ///
    /// This loop is what `Condvar::wait_timeout_while(guard, timeout,
    /// |ready| !*ready)` does in std; it is spelled out because loom's
    /// `Condvar` lacks `wait_while`, and the loom model checks this code.
    pub fn wait(&self, timeout: Duration) -> Woke {
        self.wait_with(timeout, || {})
    }

    /// [`wait`](Self::wait), running `gap` before taking the lock, at the
    /// same point where [`NaiveSignal`] loses its notification.
    pub fn wait_with(&self, timeout: Duration, gap: impl FnOnce()) -> Woke {
        gap();
        let deadline = Instant::now() + timeout;
        let mut ready = lock(&self.ready);
        while !*ready {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Woke::TimedOut;
            }
            ready = self
                .cv
                .wait_timeout(ready, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        Woke::Signalled
    }
}

/// The forced schedule for the naive waiter: it checks the flag, a
/// notifier thread sets it and notifies (and finishes), then it waits. An
/// error if the system refuses the notifier thread.
pub fn forced_naive(timeout: Duration) -> std::io::Result<Woke> {
    let signal = NaiveSignal::default();
    forced(|gap| signal.wait_with(timeout, gap), || signal.notify())
}

/// The same schedule for the fixed waiter: the notifier runs to completion
/// before the waiter takes the lock.
pub fn forced_fixed(timeout: Duration) -> std::io::Result<Woke> {
    let signal = Signal::default();
    forced(|gap| signal.wait_with(timeout, gap), || signal.notify())
}

/// Starts the notifier first, held at a gate (so a refused thread is an
/// error before anything waits), then lets the waiter run `notify` to
/// completion in its gap.
fn forced(
    wait_with: impl FnOnce(&mut dyn FnMut()) -> Woke,
    notify: impl FnOnce() + Send,
) -> std::io::Result<Woke> {
    let gate = Gate::new();
    std::thread::scope(|s| {
        let notifier = std::thread::Builder::new()
            .spawn_scoped(s, || {
                if gate.pass() {
                    notify();
                }
            })
            .map_err(|e| {
                let line = format!("out of threads: could not start the notifier ({e})");
                std::io::Error::new(e.kind(), line)
            })?;
        let mut notifier = Some(notifier);
        Ok(wait_with(&mut || {
            gate.open();
            if let Some(n) = notifier.take() {
                let _ = n.join();
            }
        }))
    })
}
