//! A one-shot timer that can be cancelled, the counterpart of Python's
//! `threading.Timer`: a thread waits in `crossbeam_channel::select!` on two
//! things at once, the deadline (`after(delay)`) and a cancel channel, and
//! whichever comes first decides whether the action runs.
//!
//! Reach for it for a timeout that must fire unless something happens first
//! (a watchdog, a debounce). Cancelling wakes the timer thread at once, so
//! `cancel` returns in microseconds however long the delay was; a
//! `thread::sleep(delay)` in its place could not be interrupted.
//!
//! ```
//! use examples_threading::timer::Timer;
//! use std::time::Duration;
//!
//! let fired = Timer::start(Duration::from_millis(1), || println!("ring"))?;
//! assert!(fired.join(), "ran its action");
//!
//! let slow = Timer::start(Duration::from_secs(3600), || unreachable!())?;
//! assert!(slow.cancel(), "cancelled before it fired, returns at once");
//! # Ok::<(), std::io::Error>(())
//! ```

use crossbeam_channel::{Sender, after, bounded, select};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A pending action on its own thread; dropping the timer cancels it.
#[must_use = "dropping a Timer cancels it"]
#[derive(Debug)]
pub struct Timer {
    cancel: Option<Sender<()>>,
    thread: Option<JoinHandle<bool>>,
}

impl Timer {
    /// Runs `action` on a new thread after `delay`, unless cancelled first.
    /// Fails if the system refuses the thread.
    pub fn start<F>(delay: Duration, action: F) -> std::io::Result<Self>
    where
        F: FnOnce() + Send + 'static,
    {
        let (cancel, cancelled) = bounded::<()>(1);
        let thread = thread::Builder::new().spawn(move || {
            let deadline = after(delay);
            select! {
                // A message or the sender dropping: either way, cancelled.
                recv(cancelled) -> _ => false,
                recv(deadline) -> _ => {
                    action();
                    true
                }
            }
        })?;
        Ok(Self {
            cancel: Some(cancel),
            thread: Some(thread),
        })
    }

    /// Cancels the timer and waits for its thread; `true` if the action had
    /// not started (a timer that already fired cannot be called back).
    pub fn cancel(mut self) -> bool {
        !self.stop()
    }

    /// Waits for the timer to fire; `true` if the action ran (`false` only
    /// if the action panicked).
    pub fn join(mut self) -> bool {
        self.thread
            .take()
            .is_some_and(|thread| thread.join().unwrap_or(false))
    }

    /// Cancels and joins; whether the action ran.
    fn stop(&mut self) -> bool {
        drop(self.cancel.take());
        self.thread
            .take()
            .is_some_and(|thread| thread.join().unwrap_or(false))
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.stop();
    }
}
