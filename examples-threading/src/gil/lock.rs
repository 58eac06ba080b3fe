//! The model lock itself: CPython's "new GIL" (`Python/ceval_gil.c`), with
//! its switch interval, drop request and forced switching.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// CPython's default switch interval, `sys.getswitchinterval()`: 5 ms.
pub const DEFAULT_SWITCH_INTERVAL: Duration = Duration::from_millis(5);

/// The model GIL. Share it by reference (`thread::scope`) or in an `Arc`.
///
/// ```
/// use std::time::Duration;
/// use examples_threading::gil::Gil;
///
/// let gil = Gil::new(Duration::from_millis(5));
/// let mut guard = gil.acquire();
/// guard.check(); // nobody waits: keeps the lock
/// guard.allow_threads(|| std::thread::sleep(Duration::from_millis(1)));
/// drop(guard);
/// assert_eq!(gil.stats().forced_switches, 0);
/// ```
#[derive(Debug)]
pub struct Gil {
    interval: Duration,
    state: Mutex<State>,
    /// Signalled when the lock is released (waiters wait here).
    released: Condvar,
    /// Signalled when the lock changes hands (a forced holder waits here).
    switched: Condvar,
    /// Set by a waiter that waited a whole interval; read by the holder at
    /// every check without taking the mutex, as CPython's eval breaker.
    drop_request: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    locked: bool,
    /// Which guard took the lock last (0: nobody yet).
    last_holder: u64,
    /// Bumped on every acquisition; a waiter whose interval passed while
    /// this stayed the same knows the holder never let go.
    switch_number: u64,
    /// Threads waiting in `take`, in arrival order.
    waiting: Vec<u64>,
    /// The waiter a release woke: the only one that may take the lock
    /// next (CPython's `COND_SIGNAL` wakes one waiter, and which one is up
    /// to glibc and the scheduler, not to who asked).
    woken: Option<u64>,
    next_id: u64,
    stats: GilStats,
}

/// Counters of what the lock did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GilStats {
    /// How many times a thread took the lock.
    pub acquisitions: u64,
    /// How many times a holder gave it up because a waiter asked (drop
    /// requests honoured).
    pub forced_switches: u64,
}

impl Default for Gil {
    fn default() -> Self {
        Self::new(DEFAULT_SWITCH_INTERVAL)
    }
}

impl Gil {
    /// A free lock whose waiters ask for it after `switch_interval`.
    pub fn new(switch_interval: Duration) -> Self {
        Self {
            interval: switch_interval,
            state: Mutex::new(State::default()),
            released: Condvar::new(),
            switched: Condvar::new(),
            drop_request: AtomicBool::new(false),
        }
    }

    /// The switch interval this lock was made with.
    pub fn switch_interval(&self) -> Duration {
        self.interval
    }

    /// What the lock has done so far.
    pub fn stats(&self) -> GilStats {
        self.lock_state().stats
    }

    /// Blocks until the calling thread holds the lock ("may run bytecode").
    pub fn acquire(&self) -> GilGuard<'_> {
        let id = {
            let mut st = self.lock_state();
            st.next_id += 1;
            st.next_id
        };
        self.take(id);
        GilGuard {
            gil: self,
            id,
            _not_send: PhantomData,
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        // The state is consistent at every unlock; a panic elsewhere does not
        // make it unusable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// CPython's `take_gil`.
    fn take(&self, id: u64) {
        let mut st = self.lock_state();
        st.waiting.push(id);
        while st.locked || st.woken.is_some_and(|w| w != id) {
            let seen = st.switch_number;
            let (next, timeout) = self
                .released
                .wait_timeout(st, self.interval)
                .unwrap_or_else(PoisonError::into_inner);
            st = next;
            if timeout.timed_out() && st.locked && st.switch_number == seen {
                // A whole interval passed and the holder never let go.
                self.drop_request.store(true, Ordering::Release);
            }
        }
        st.waiting.retain(|&w| w != id);
        st.woken = None;
        st.locked = true;
        if st.last_holder != id {
            st.last_holder = id;
            st.switch_number += 1;
        }
        st.stats.acquisitions += 1;
        // Whoever asked for a switch got one (this thread or another).
        self.drop_request.store(false, Ordering::Release);
        // A holder forced to drop waits for exactly this.
        self.switched.notify_all();
    }

    /// CPython's `drop_gil`; `forced` when dropping on a drop request.
    fn release(&self, id: u64, forced: bool) {
        let mut st = self.lock_state();
        st.locked = false;
        // Wake one waiter, any one: measured in CPython 3.11 on 2 cores, a
        // thread back from I/O wins about one hand-off in two between two
        // CPU-bound threads, whether or not it asked (`real-convoy`).
        if !st.waiting.is_empty() {
            let pick = rand::random_range(0..st.waiting.len());
            st.woken = Some(st.waiting[pick]);
        }
        self.released.notify_all();
        if forced {
            st.stats.forced_switches += 1;
            // FORCE_SWITCHING: do not grab the lock straight back; wait until
            // another thread has had it. A waiter exists (it asked), so this
            // ends.
            while st.last_holder == id {
                st = self
                    .switched
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }
}

/// Proof that this thread holds the [`Gil`]; releases it when dropped.
///
/// Not `Send`: like a Python thread state, it belongs to the thread that
/// acquired it.
#[derive(Debug)]
pub struct GilGuard<'g> {
    gil: &'g Gil,
    id: u64,
    _not_send: PhantomData<*const ()>,
}

impl GilGuard<'_> {
    /// The eval breaker: call it every so often while computing. If a waiter
    /// has asked for the lock, hands it over, waits until the other thread
    /// has it, and queues up to get it back. Costs one atomic load otherwise.
    pub fn check(&mut self) {
        if self.gil.drop_request.load(Ordering::Acquire) {
            self.gil.release(self.id, true);
            self.gil.take(self.id);
        }
    }

    /// Runs `blocking` without the lock (`Py_BEGIN_ALLOW_THREADS`): other
    /// threads compute while this one waits for I/O; takes the lock back
    /// afterwards, waiting for it like any other thread.
    pub fn allow_threads<R>(&mut self, blocking: impl FnOnce() -> R) -> R {
        self.gil.release(self.id, false);
        // Reacquire even if `blocking` panics, so Drop's release is valid.
        struct Retake<'a, 'g>(&'a GilGuard<'g>);
        impl Drop for Retake<'_, '_> {
            fn drop(&mut self) {
                self.0.gil.take(self.0.id);
            }
        }
        let _retake = Retake(self);
        blocking()
    }
}

impl Drop for GilGuard<'_> {
    fn drop(&mut self) {
        self.gil.release(self.id, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_job::count_primes;
    use std::sync::atomic::AtomicUsize;
    use std::thread;
    use std::time::Instant;

    #[test]
    fn only_one_thread_holds_the_gil() {
        let gil = Gil::new(Duration::from_micros(200));
        let inside = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let mut g = gil.acquire();
                    for i in 0..2_000 {
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        std::hint::black_box(count_primes(i..i + 50));
                        inside.fetch_sub(1, Ordering::SeqCst);
                        g.check();
                    }
                });
            }
        });
        assert!(gil.stats().acquisitions >= 4);
    }

    #[test]
    fn a_waiter_gets_the_lock_from_a_busy_holder() {
        // The holder never blocks: only the drop request can hand it over.
        let gil = Gil::new(Duration::from_millis(1));
        let waiter_ran = AtomicBool::new(false);
        thread::scope(|s| {
            let mut g = gil.acquire();
            s.spawn(|| {
                let _g = gil.acquire();
                waiter_ran.store(true, Ordering::SeqCst);
            });
            while !waiter_ran.load(Ordering::SeqCst) {
                g.check();
                thread::yield_now();
            }
        });
        assert!(gil.stats().forced_switches >= 1);
    }

    #[test]
    fn a_waiter_asks_only_after_a_switch_interval() {
        // A lower bound, not a timing race: the holder never lets go unless
        // asked, and the waiter asks only after one whole interval.
        let interval = Duration::from_millis(20);
        let gil = Gil::new(interval);
        let (holding, stop) = (AtomicBool::new(false), AtomicBool::new(false));
        thread::scope(|s| {
            s.spawn(|| {
                let mut g = gil.acquire();
                holding.store(true, Ordering::SeqCst);
                while !stop.load(Ordering::SeqCst) {
                    g.check();
                    std::hint::spin_loop();
                }
            });
            while !holding.load(Ordering::SeqCst) {
                thread::yield_now();
            }
            let asked = Instant::now();
            let g = gil.acquire();
            let waited = asked.elapsed();
            stop.store(true, Ordering::SeqCst);
            drop(g);
            assert!(waited >= interval, "got the lock after {waited:?}");
        });
        assert_eq!(gil.stats().forced_switches, 1);
    }

    #[test]
    fn allow_threads_lets_another_thread_in() {
        let gil = Gil::new(Duration::from_secs(60));
        let mut g = gil.acquire();
        g.allow_threads(|| {
            thread::scope(|s| {
                s.spawn(|| drop(gil.acquire()));
            })
        });
        assert_eq!(gil.stats().forced_switches, 0);
        assert_eq!(gil.stats().acquisitions, 3);
    }
}
