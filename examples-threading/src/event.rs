//! A one-bit signal threads can wait on, the counterpart of Python's
//! `threading.Event`: [`Event::set`] wakes every waiter and keeps the flag up
//! for those that come later, [`Event::clear`] lowers it again,
//! [`Event::wait_timeout`] gives up after a while and says which happened.
//!
//! Reach for it for "start now", "stop now" or "ready" flags that several
//! threads wait on; for passing data, use a channel.
//!
//! The flag lives under the same mutex the condvar waits with. That is the
//! whole trick: a waiter checks the flag and starts waiting in one step, so a
//! `set` cannot slip in between and be lost (the lost wake-up that an
//! `AtomicBool` next to a separate condvar allows).
//!
//! ```
//! use examples_threading::event::Event;
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let ready = Arc::new(Event::new());
//! let waiter = {
//!     let ready = Arc::clone(&ready);
//!     std::thread::spawn(move || ready.wait_timeout(Duration::from_secs(10)))
//! };
//! ready.set();
//! assert!(waiter.join().unwrap(), "woken by set, not by the timeout");
//!
//! ready.clear();
//! assert!(!ready.wait_timeout(Duration::from_millis(10)), "timed out");
//! ```

use crate::sync::{Condvar, Mutex, lock, wait_timeout_while};
use std::time::Duration;

/// A flag that threads can wait to see raised.
#[derive(Debug, Default)]
pub struct Event {
    flag: Mutex<bool>,
    changed: Condvar,
}

impl Event {
    /// A new event, not set.
    pub fn new() -> Self {
        Self {
            flag: Mutex::new(false),
            changed: Condvar::new(),
        }
    }

    /// Raises the flag and wakes every waiter.
    pub fn set(&self) {
        *lock(&self.flag) = true;
        self.changed.notify_all();
    }

    /// Lowers the flag; later waiters block until the next `set`.
    pub fn clear(&self) {
        *lock(&self.flag) = false;
    }

    /// Whether the flag is up right now.
    pub fn is_set(&self) -> bool {
        *lock(&self.flag)
    }

    /// Blocks until the flag is up.
    pub fn wait(&self) {
        let mut flag = lock(&self.flag);
        while !*flag {
            flag = self.changed.wait(flag).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Blocks until the flag is up or `timeout` has passed; `true` when the
    /// flag was seen up (Python's `event.wait(timeout)` return value).
    ///
    /// Under loom a condvar wait never times out, so models only call this
    /// when a `set` will come.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        wait_timeout_while(&self.changed, lock(&self.flag), timeout, |flag| !*flag).1
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn set_before_wait_is_not_lost() {
        let event = Event::new();
        event.set();
        event.wait();
        assert!(event.wait_timeout(Duration::ZERO));
    }

    #[test]
    fn clear_lowers_the_flag() {
        let event = Event::new();
        event.set();
        event.clear();
        assert!(!event.is_set());
        assert!(!event.wait_timeout(Duration::from_millis(5)));
    }
}
