//! The synchronisation types the library is written against: `std`'s in a
//! normal build, loom's under `--cfg loom`, so the loom models in
//! `tests/loom.rs` check the library's own code, not a copy of it.
//!
//! [`channel`] is the exception worth knowing about: in a normal build it is
//! `crossbeam_channel`; loom cannot see inside crossbeam, so under
//! `cfg(loom)` it is a small unbounded channel on loom's `Mutex` + `Condvar`
//! with the same semantics the pool relies on (`recv` blocks until a message
//! arrives or every `Sender` is gone). The loom models therefore check the
//! pool's protocol on top of the channel, not crossbeam itself.

#[cfg(loom)]
pub use loom::sync::{Arc, Condvar, Mutex, MutexGuard, atomic};
#[cfg(loom)]
pub use loom::thread;

#[cfg(not(loom))]
pub use std::sync::{Arc, Condvar, Mutex, MutexGuard, atomic};
#[cfg(not(loom))]
pub use std::thread;

/// Locks `mutex`, ignoring poisoning: the types in this crate keep their
/// invariants across a panic (they never panic while holding their lock), so
/// a poisoned lock still guards consistent data.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits on `condvar` while `blocked(&guard)` holds, giving up once
/// `timeout` has passed; returns the guard and `true` when the condition
/// cleared, `false` on timeout. The deadline loop of std's
/// `Condvar::wait_timeout_while`, written out so loom's `Condvar` (which
/// lacks it) runs the same code. Under loom a wait never times out, so
/// models only call it when a wake-up will come.
pub fn wait_timeout_while<'a, T>(
    condvar: &Condvar,
    mut guard: MutexGuard<'a, T>,
    timeout: std::time::Duration,
    mut blocked: impl FnMut(&T) -> bool,
) -> (MutexGuard<'a, T>, bool) {
    let deadline = std::time::Instant::now() + timeout;
    while blocked(&guard) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return (guard, false);
        }
        guard = condvar
            .wait_timeout(guard, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    (guard, true)
}

/// Multi-producer multi-consumer channels: `crossbeam_channel` normally, a
/// loom-visible stand-in under `cfg(loom)`.
pub mod channel {
    #[cfg(not(loom))]
    pub use crossbeam_channel::{Receiver, RecvError, Sender, TryRecvError, bounded, unbounded};

    #[cfg(loom)]
    pub use self::model::{Receiver, RecvError, Sender, bounded, unbounded};

    #[cfg(loom)]
    mod model {
        use super::super::{Arc, Condvar, Mutex, lock};
        use std::collections::VecDeque;

        struct State<T> {
            queue: VecDeque<T>,
            senders: usize,
        }

        struct Shared<T> {
            state: Mutex<State<T>>,
            ready: Condvar,
        }

        /// The sending half; the channel disconnects when the last clone drops.
        pub struct Sender<T>(Arc<Shared<T>>);
        /// The receiving half.
        pub struct Receiver<T>(Arc<Shared<T>>);
        /// Every sender is gone and the queue is empty.
        #[derive(Debug, PartialEq, Eq)]
        pub struct RecvError;
        /// The message could not be sent (never happens in this model: the
        /// pool keeps its receivers alive while it holds senders).
        #[derive(Debug)]
        pub struct SendError<T>(pub T);

        /// An unbounded channel.
        pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
            let shared = Arc::new(Shared {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    senders: 1,
                }),
                ready: Condvar::new(),
            });
            (Sender(shared.clone()), Receiver(shared))
        }

        /// In the model the capacity is not enforced; the pool only uses
        /// `bounded(1)` for one-shot replies.
        pub fn bounded<T>(_capacity: usize) -> (Sender<T>, Receiver<T>) {
            unbounded()
        }

        impl<T> Sender<T> {
            pub fn send(&self, value: T) -> Result<(), SendError<T>> {
                lock(&self.0.state).queue.push_back(value);
                self.0.ready.notify_one();
                Ok(())
            }
        }

        impl<T> Clone for Sender<T> {
            fn clone(&self) -> Self {
                lock(&self.0.state).senders += 1;
                Sender(self.0.clone())
            }
        }

        impl<T> Drop for Sender<T> {
            fn drop(&mut self) {
                let last = {
                    let mut state = lock(&self.0.state);
                    state.senders -= 1;
                    state.senders == 0
                };
                if last {
                    self.0.ready.notify_all();
                }
            }
        }

        impl<T> Receiver<T> {
            pub fn recv(&self) -> Result<T, RecvError> {
                let mut state = lock(&self.0.state);
                loop {
                    if let Some(value) = state.queue.pop_front() {
                        return Ok(value);
                    }
                    if state.senders == 0 {
                        return Err(RecvError);
                    }
                    state = self.0.ready.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            }
        }

        impl<T> Clone for Receiver<T> {
            fn clone(&self) -> Self {
                Receiver(self.0.clone())
            }
        }
    }
}

/// A cell written through a raw pointer: loom's `UnsafeCell` under
/// `cfg(loom)`, which reports two threads touching one cell at once, and a
/// zero-cost wrapper over std's with the same `with_mut` API otherwise.
pub mod cell {
    #[cfg(loom)]
    pub use loom::cell::UnsafeCell;

    /// std's `UnsafeCell` behind loom's API.
    #[cfg(not(loom))]
    #[derive(Debug)]
    pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    #[cfg(not(loom))]
    impl<T> UnsafeCell<T> {
        /// A cell holding `value`.
        pub const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        /// Calls `f` with a pointer to the value; the caller of `f`'s
        /// dereference makes sure nobody else touches the value meanwhile.
        pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }

        /// The value, out of a cell nobody else can reach any more.
        pub fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }
}
