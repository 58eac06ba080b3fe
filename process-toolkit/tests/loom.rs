#![cfg(loom)]
//! loom model of the sleep/wake handshake (`src/handshake.rs`, the
//! library's own file, compiled here over loom's atomics), as the process
//! pool's lanes use it:
//! `RUSTFLAGS="--cfg loom" cargo test --release -p process-toolkit --test loom`
//!
//! One thread publishes progress (a lane's head, once or twice) and after
//! each step takes the sleeper's flag, ringing the doorbell (the pipe) if
//! it was up; the other waits for all of it, sleeping on the doorbell when
//! the handshake lets it. With the fences the sleeper always wakes;
//! without them loom finds the interleaving where the sleeper misses the
//! progress and the writer misses the flag: a lost wake-up.

use std::sync::atomic::Ordering;

use loom::sync::atomic::{AtomicU32, AtomicU64, fence};
use loom::sync::{Arc, Mutex};

#[allow(dead_code)] // the model uses both halves; nothing else of the file
#[path = "../src/handshake.rs"]
mod handshake;

use handshake::{Flag, may_sleep, take_flag};

/// A flag over loom's atomics; `FENCE` false leaves the fences out.
struct LoomFlag<const FENCE: bool>(AtomicU32);

impl<const FENCE: bool> Flag for LoomFlag<FENCE> {
    fn load(&self, order: Ordering) -> u32 {
        self.0.load(order)
    }
    fn store(&self, value: u32, order: Ordering) {
        self.0.store(value, order)
    }
    fn swap(&self, value: u32, order: Ordering) -> u32 {
        self.0.swap(value, order)
    }
    fn fence(order: Ordering) {
        if FENCE {
            fence(order)
        }
    }
}

/// The writer publishes `steps` times; the reader waits for them all.
fn handshake<const FENCE: bool>(steps: u64) {
    loom::model(move || {
        let head = Arc::new(AtomicU64::new(0));
        let flag = Arc::new(LoomFlag::<FENCE>(AtomicU32::new(0)));
        // The pipe, a kernel object (so a lock here, which orders what each
        // side did before, as a pipe's write and read do): doorbell bytes
        // waiting in it, and whether the writer is gone (then a sleep with
        // no byte waiting would last for ever).
        let pipe = Arc::new(Mutex::new((0u32, false)));
        let writer = {
            let (head, flag, pipe) = (Arc::clone(&head), Arc::clone(&flag), Arc::clone(&pipe));
            loom::thread::spawn(move || {
                for step in 1..=steps {
                    head.store(step, Ordering::Release);
                    if take_flag(&*flag) {
                        pipe.lock().unwrap().0 += 1;
                    }
                }
                pipe.lock().unwrap().1 = true;
            })
        };
        // The reader takes what is published (its tail), and sleeps only
        // when the handshake finds nothing past it.
        let mut tail = 0;
        while tail < steps {
            let published = head.load(Ordering::Acquire);
            if published > tail {
                tail = published;
                continue;
            }
            if !may_sleep(&*flag, || head.load(Ordering::Acquire) == tail) {
                continue;
            }
            // Asleep in `read` on the pipe until a doorbell byte is there.
            loop {
                let mut pipe = pipe.lock().unwrap();
                if pipe.0 > 0 {
                    pipe.0 -= 1;
                    break;
                }
                assert!(
                    !pipe.1,
                    "lost wake-up: asleep on the pipe with nobody left to ring"
                );
                drop(pipe);
                loom::thread::yield_now();
            }
            flag.store(0, Ordering::SeqCst); // awake: the flag goes down
        }
        writer.join().unwrap();
    });
}

#[test]
fn one_step_always_wakes_the_sleeper() {
    handshake::<true>(1);
}

#[test]
fn two_steps_always_wake_the_sleeper() {
    handshake::<true>(2);
}

#[test]
#[should_panic(expected = "lost wake-up")]
fn without_the_fences_a_wake_up_is_lost() {
    handshake::<false>(1);
}
