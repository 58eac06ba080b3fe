#![cfg(loom)]
//! loom models of the ring's sleep/wake handshake (`ring::wait::Waiter`,
//! the library code itself, over loom atomics):
//! `RUSTFLAGS="--cfg loom" cargo test --release -p examples-shared-memory --test loom`
//!
//! One thread publishes progress and calls `wake` (once, or after each of
//! two steps); the other waits for all of it: at once on the sleeping path
//! (no spin, no yield), after one yield as a side on one CPU does
//! (`Spin::yields`), or after one spin as a side on more CPUs does. The
//! progress may land before, during or after the yield or the spin, so the
//! sleeping path runs after each. With the SeqCst fences the sleeper is
//! always woken; without them loom finds the interleaving where the sleeper
//! misses the progress and the waker misses the flag: a lost wake-up.

use std::sync::atomic::Ordering;
use std::time::Duration;

use examples_shared_memory::ring::wait::{FutexWord, Waiter};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, fence};
use process_toolkit::handshake::Flag;

/// A futex word for loom. `FUTEX_WAIT` is modelled as "yield until the
/// word changes", which is exact for the ring: its wakers always change the
/// word before `FUTEX_WAKE`. If the word can no longer change because the
/// waker has finished, the real sleep would last forever; that lost wake-up
/// is reported as a panic (a real deadlock would make loom abort).
struct Word<const FENCE: bool> {
    value: AtomicU32,
    waker_done: Arc<AtomicBool>,
}

impl<const FENCE: bool> Word<FENCE> {
    fn new(waker_done: &Arc<AtomicBool>) -> Self {
        Self {
            value: AtomicU32::new(0),
            waker_done: Arc::clone(waker_done),
        }
    }
}

impl<const FENCE: bool> Flag for Word<FENCE> {
    fn load(&self, order: Ordering) -> u32 {
        self.value.load(order)
    }
    fn store(&self, value: u32, order: Ordering) {
        self.value.store(value, order)
    }
    fn swap(&self, value: u32, order: Ordering) -> u32 {
        self.value.swap(value, order)
    }
    fn fence(order: Ordering) {
        if FENCE {
            fence(order)
        }
    }
}

impl<const FENCE: bool> FutexWord for Word<FENCE> {
    fn fetch_add(&self, value: u32, order: Ordering) -> u32 {
        self.value.fetch_add(value, order)
    }
    fn yield_now() {
        loom::thread::yield_now()
    }
    fn wait(&self, expected: u32, _timeout: Option<Duration>) {
        loop {
            if self.value.load(Ordering::SeqCst) != expected {
                return;
            }
            if self.waker_done.load(Ordering::SeqCst) {
                assert_ne!(
                    self.value.load(Ordering::SeqCst),
                    expected,
                    "lost wake-up: asleep on the futex with nobody left to wake us"
                );
                return;
            }
            loom::thread::yield_now();
        }
    }
    fn wake(&self) {}
}

struct Shared<const FENCE: bool> {
    /// The ring's `head`: the progress the sleeper waits for.
    progress: AtomicU64,
    seq: Word<FENCE>,
    sleeping: Word<FENCE>,
}

/// How the sleeper waits before it takes the sleeping path.
#[derive(Clone, Copy)]
enum Before {
    /// Nothing: it sleeps at once.
    Nothing,
    /// One `yield_now` and a check, as on one CPU.
    Yield,
    /// One spin and a check, as on more CPUs.
    Spin,
}

/// The waker makes `steps` steps of progress, waking after each; the
/// sleeper waits for all of them (as a producer that needs more space than
/// one freed record), doing `before` first.
fn handshake<const FENCE: bool>(steps: u64, before: Before) {
    loom::model(move || {
        let done = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared::<FENCE> {
            progress: AtomicU64::new(0),
            seq: Word::new(&done),
            sleeping: Word::new(&done),
        });
        let waker = {
            let shared = Arc::clone(&shared);
            loom::thread::spawn(move || {
                for step in 1..=steps {
                    shared.progress.store(step, Ordering::Release);
                    Waiter::new(&shared.seq, &shared.sleeping)
                        .with_spins(0)
                        .wake();
                }
                done.store(true, Ordering::SeqCst);
            })
        };
        let (spins, yields) = match before {
            Before::Nothing => (0, 0),
            Before::Yield => (0, 1),
            Before::Spin => (1, 0),
        };
        let waiter = Waiter::new(&shared.seq, &shared.sleeping)
            .with_spins(spins)
            .with_yields(yields);
        let ready = || shared.progress.load(Ordering::Acquire) == steps;
        assert!(waiter.wait(ready, None));
        waker.join().unwrap();
    });
}

#[test]
fn the_sleeper_is_always_woken() {
    for before in [Before::Nothing, Before::Yield, Before::Spin] {
        handshake::<true>(1, before);
    }
}

/// The first wake can land after the sleeper raised its flag but before it
/// checked, and be spent on a check that still fails; the sleeper must not
/// then sleep with its flag lowered by that wake (which it once did: a
/// threaded ring test hung with the ring empty and the producer asleep).
#[test]
fn a_wake_spent_on_too_little_progress_is_not_lost() {
    for before in [Before::Nothing, Before::Yield, Before::Spin] {
        handshake::<true>(2, before);
    }
}

#[test]
#[should_panic(expected = "lost wake-up")]
fn without_the_fences_a_wake_up_is_lost() {
    handshake::<false>(1, Before::Nothing);
}

/// The yield changes nothing there: the progress may still come after it.
#[test]
#[should_panic(expected = "lost wake-up")]
fn without_the_fences_a_wake_up_is_lost_after_a_yield_too() {
    handshake::<false>(1, Before::Yield);
}
