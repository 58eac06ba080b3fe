//! loom models of the semaphore, the event and the pool's shutdown.
//!
//! The library is written against `examples_threading::sync`, which is loom
//! under `--cfg loom`, so these models explore every interleaving of the
//! library's own code. Each racy variant (written here, next to the model
//! that checks it) is `#[should_panic]`; the library version passes.
//!
//! One honest limit: loom cannot look inside crossbeam, so under `cfg(loom)`
//! the pool's channel is the small Mutex + Condvar channel in
//! `sync::channel`. The models check the pool's protocol (submit, worker
//! loop, caught panics, close-then-join shutdown) over a channel with
//! crossbeam's semantics, not crossbeam itself.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release -p examples-threading --test loom`
#![cfg(loom)]

use examples_threading::event::Event;
use examples_threading::semaphore::Semaphore;
use examples_threading::sync::channel::{Receiver, unbounded};
use examples_threading::thread_pool::{TaskError, ThreadPool};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

/// Every interleaving: the primitive models are small enough.
fn model(f: impl Fn() + Sync + Send + 'static) {
    loom::model::Builder::new().check(f);
}

/// The pool models (three threads around a Mutex + Condvar channel) do not
/// finish in minutes with every interleaving; bound the preemptions, as the
/// loom docs suggest (bugs rarely need more than two or three).
fn model_bounded(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

// ---- semaphore -----------------------------------------------------------

/// A semaphore as a bare counter: check, then take, in two steps.
struct NaiveSemaphore {
    available: AtomicUsize,
}

impl NaiveSemaphore {
    fn acquire(&self) {
        loop {
            let n = self.available.load(Ordering::SeqCst);
            if n > 0 {
                // Bug: another thread may take the same permit between the
                // load above and this store.
                self.available.store(n - 1, Ordering::SeqCst);
                return;
            }
            thread::yield_now();
        }
    }
    fn release(&self) {
        self.available.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
#[should_panic(expected = "more holders than permits")]
fn naive_semaphore_lets_two_in() {
    model(|| {
        let sem = Arc::new(NaiveSemaphore {
            available: AtomicUsize::new(1),
        });
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (sem, inside) = (sem.clone(), inside.clone());
                thread::spawn(move || {
                    sem.acquire();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(now <= 1, "more holders than permits");
                    inside.fetch_sub(1, Ordering::SeqCst);
                    sem.release();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn semaphore_never_lets_more_than_limit_in() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (sem, inside) = (sem.clone(), inside.clone());
                thread::spawn(move || {
                    let _permit = sem.acquire();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(now <= 1, "more holders than permits");
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.available(), 1);
    });
}

#[test]
fn semaphore_refuses_exactly_one_of_two_racing_releases() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        sem.acquire().forget(); // one permit out, one release owed
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let sem = sem.clone();
                thread::spawn(move || sem.release().is_ok())
            })
            .collect();
        let ok = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|&ok| ok)
            .count();
        assert_eq!(ok, 1, "exactly one release fits under the limit");
        assert_eq!(sem.available(), 1);
    });
}

// ---- event ---------------------------------------------------------------

#[test]
fn event_set_wakes_every_waiter_whenever_it_lands() {
    model(|| {
        let event = Arc::new(Event::new());
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let event = event.clone();
                thread::spawn(move || event.wait())
            })
            .collect();
        event.set();
        for w in waiters {
            w.join().unwrap(); // a lost wake-up would be a loom deadlock
        }
        assert!(event.is_set());
    });
}

#[test]
fn event_wait_timeout_sees_a_set_that_is_cleared_later() {
    model(|| {
        let event = Arc::new(Event::new());
        let seen = Arc::new(AtomicBool::new(false));
        let setter = {
            let (event, seen) = (event.clone(), seen.clone());
            thread::spawn(move || {
                event.set();
                seen.store(true, Ordering::SeqCst);
            })
        };
        // Under loom the timeout never fires; the model checks that the
        // flag check and the wait are one step, so `set` is never missed.
        assert!(event.wait_timeout(std::time::Duration::from_secs(1)));
        setter.join().unwrap();
        event.clear();
        assert!(!event.is_set());
        assert!(seen.load(Ordering::SeqCst));
    });
}

// ---- pool shutdown ------------------------------------------------------

#[test]
fn pool_shutdown_runs_every_submitted_task() {
    model_bounded(|| {
        let done = Arc::new(AtomicUsize::new(0));
        let pool = ThreadPool::new(2).unwrap();
        let handles: Vec<_> = (0..2)
            .map(|n| {
                let done = done.clone();
                pool.submit(move || {
                    done.fetch_add(1, Ordering::SeqCst);
                    n
                })
            })
            .collect();
        pool.shutdown();
        assert_eq!(done.load(Ordering::SeqCst), 2, "lost a task at shutdown");
        let values: Vec<Result<i32, TaskError>> = handles.into_iter().map(|h| h.join()).collect();
        assert_eq!(values, [Ok(0), Ok(1)]);
    });
}

#[test]
fn pool_worker_survives_a_panicking_task() {
    // Keep the expected panic out of the output of every explored run.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !format!("{info}").contains("on purpose") {
            default_hook(info);
        }
    }));
    model_bounded(|| {
        let pool = ThreadPool::new(1).unwrap();
        let broken = pool.submit(|| -> u32 { panic!("on purpose") });
        let fine = pool.submit(|| 7);
        pool.shutdown();
        assert_eq!(broken.join(), Err(TaskError::Panicked("on purpose".into())));
        assert_eq!(fine.join(), Ok(7), "the worker died with the first task");
    });
}

type Job = Box<dyn FnOnce() + Send>;

/// The shutdown many hand-written pools get wrong: a stop flag that workers
/// check before taking the next job, so jobs still queued are dropped.
fn naive_worker(jobs: Receiver<Job>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        match jobs.recv() {
            Ok(job) => job(),
            Err(_) => break,
        }
    }
}

#[test]
#[should_panic(expected = "lost a task at shutdown")]
fn stop_flag_shutdown_loses_queued_tasks() {
    model_bounded(|| {
        let done = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (queue, jobs) = unbounded::<Job>();
        let worker = {
            let stop = stop.clone();
            thread::spawn(move || naive_worker(jobs, stop))
        };
        for _ in 0..2 {
            let done = done.clone();
            let _ = queue.send(Box::new(move || {
                done.fetch_add(1, Ordering::SeqCst);
            }));
        }
        stop.store(true, Ordering::SeqCst);
        drop(queue);
        worker.join().unwrap();
        assert_eq!(done.load(Ordering::SeqCst), 2, "lost a task at shutdown");
    });
}

// ---- pending (JoinableQueue.join) and the bounded buffer ------------------

#[test]
fn pending_join_returns_only_after_every_item_is_done() {
    use examples_threading::pending::Pending;
    model(|| {
        let pending = Arc::new(Pending::new());
        let finished = Arc::new(AtomicUsize::new(0));
        pending.add(2);
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (pending, finished) = (pending.clone(), finished.clone());
                thread::spawn(move || {
                    finished.fetch_add(1, Ordering::SeqCst);
                    pending.done();
                })
            })
            .collect();
        pending.join();
        assert_eq!(finished.load(Ordering::SeqCst), 2, "join returned early");
        for w in workers {
            w.join().unwrap();
        }
    });
}

#[test]
fn bounded_buffer_hands_over_every_item_in_order() {
    use examples_threading::bounded_buffer::BoundedBuffer;
    model(|| {
        let buffer = Arc::new(BoundedBuffer::new(1));
        let producer = {
            let buffer = buffer.clone();
            thread::spawn(move || {
                buffer.push(1);
                buffer.push(2);
                buffer.close();
            })
        };
        let mut got = Vec::new();
        while let Some(item) = buffer.pop() {
            got.push(item);
        }
        producer.join().unwrap();
        assert_eq!(got, [1, 2]);
        assert!(buffer.stats().max_len <= 1);
    });
}
