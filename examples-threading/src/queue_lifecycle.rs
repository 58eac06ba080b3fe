//! The life of a work queue on a bounded crossbeam channel: backpressure,
//! `select!` with a timeout, `JoinableQueue.join`, and shutdown by dropping
//! the last sender.
//!
//! [`run`] starts the producers before any consumer, so they fill the
//! channel to its capacity and block in `send`; then consumers wait in
//! `select!` with a timeout (an idle consumer wakes up for housekeeping),
//! [`Pending::join_timeout`] returns once every item is *finished* while the
//! consumers are still alive, and dropping the last sender ends them.
//!
//! ```
//! use examples_threading::queue_lifecycle::{Config, run};
//! use std::time::Duration;
//!
//! let config = Config { producers: 2, consumers: 2, items: 50, capacity: 4,
//!                       idle: Duration::from_millis(5) };
//! let report = run(&config).unwrap();
//! assert_eq!(report.filled, 4);
//! assert_eq!(report.received, 100);
//! assert_eq!(report.sum, (0..100).sum::<u64>());
//! ```

use crate::pending::Pending;
use crate::spawn::refused;
use crossbeam_channel::{bounded, select};
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::{Duration, Instant};

/// How long any phase may take before [`run`] gives up.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The shape of one run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Producer threads.
    pub producers: usize,
    /// Consumer threads.
    pub consumers: usize,
    /// Items per producer; producer `p` sends `p * items .. (p + 1) * items`.
    pub items: usize,
    /// Channel capacity.
    pub capacity: usize,
    /// The `select!` timeout after which an idle consumer wakes up.
    pub idle: Duration,
}

/// What one run saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Items in the channel when it first filled, before any consumer ran.
    pub filled: usize,
    /// Items finished when `join` returned.
    pub joined: u64,
    /// `select!` timeouts that fired in idle consumers.
    pub idle_wakeups: usize,
    /// Items received in all.
    pub received: u64,
    /// Sum of the items received.
    pub sum: u64,
}

/// Why [`run`] stopped short.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The system refused a producer or consumer thread. The threads that
    /// started were not left blocked: dropping the queue's own ends lets
    /// the producers' `send` fail once no consumer is left.
    #[error(transparent)]
    Spawn(#[from] io::Error),
    /// `join` did not return within [`DEADLINE`].
    #[error("work still pending after {0:?}")]
    Stuck(Duration),
}

/// Runs the whole life of the queue once; errors if a thread was refused,
/// or `join` did not return within [`DEADLINE`].
pub fn run(c: &Config) -> Result<Report, QueueError> {
    let pending = Pending::new();
    let (sum, received, idle) = (AtomicU64::new(0), AtomicU64::new(0), AtomicUsize::new(0));
    let start = Instant::now();
    let threads = c.producers + c.consumers;
    let (filled, joined) = thread::scope(|s| -> Result<_, QueueError> {
        let (tx, rx) = bounded::<u64>(c.capacity);
        let mut producers = Vec::with_capacity(c.producers);
        for p in 0..c.producers as u64 {
            let (tx, pending, n) = (tx.clone(), &pending, c.items as u64);
            let produce = move || {
                for item in p * n..(p + 1) * n {
                    pending.add(1);
                    if tx.send(item).is_err() {
                        return; // no consumer left: a spawn was refused
                    }
                }
            };
            match thread::Builder::new().spawn_scoped(s, produce) {
                Ok(h) => producers.push(h),
                // Dropping `rx` (no consumer yet) makes every send fail.
                Err(e) => return Err(refused(p as usize + 1, threads, &e).into()),
            }
        }
        // No consumer yet: the producers fill the channel and then block.
        while !tx.is_full() && start.elapsed() < DEADLINE {
            thread::sleep(Duration::from_millis(1));
        }
        let filled = tx.len();
        for k in 0..c.consumers {
            let (rx, pending, sum, received, idle) = (rx.clone(), &pending, &sum, &received, &idle);
            let consume = move || {
                loop {
                    select! {
                        recv(rx) -> msg => match msg {
                            Ok(item) => {
                                sum.fetch_add(item, SeqCst);
                                received.fetch_add(1, SeqCst);
                                pending.done(); // after the work, not on receipt
                            }
                            Err(_) => break, // every sender dropped and the channel is empty
                        },
                        default(c.idle) => { idle.fetch_add(1, SeqCst); } // housekeeping would go here
                    }
                }
            };
            if let Err(e) = thread::Builder::new().spawn_scoped(s, consume) {
                // The consumers that started drain the channel; once the
                // producers end, dropping `tx` here ends the consumers.
                return Err(refused(c.producers + k + 1, threads, &e).into());
            }
        }
        drop(rx);
        // As with `queue.join()`, join only after every item was put: before
        // that the count can touch zero while producers are still running.
        producers.into_iter().for_each(|p| drop(p.join()));
        if !pending.join_timeout(DEADLINE) {
            return Err(QueueError::Stuck(DEADLINE));
        }
        let joined = received.load(SeqCst);
        // The consumers are alive and idle now: wait for a select! timeout.
        while idle.load(SeqCst) == 0 && start.elapsed() < DEADLINE {
            thread::sleep(Duration::from_millis(5));
        }
        drop(tx); // the last sender: consumers see Disconnected and return
        Ok((filled, joined))
    })?;
    Ok(Report {
        filled,
        joined,
        idle_wakeups: idle.load(SeqCst),
        received: received.load(SeqCst),
        sum: sum.load(SeqCst),
    })
}
