//! Producers and consumers on a bounded channel: backpressure, `select!`
//! with a timeout, `JoinableQueue.join`, and shutdown by dropping senders.
//!
//! Notice: the producers start before any consumer, fill the channel to its
//! capacity and then block in `send` (backpressure) instead of piling up
//! memory. Consumers wait in `select!` with a timeout, so an idle consumer
//! wakes up to do housekeeping instead of blocking forever.
//! `Pending::join` returns once every item is *finished* while the consumers
//! are still alive; dropping the last sender then ends them. Every item
//! arrives exactly once (checked by sum and count). Reach for a bounded
//! channel whenever producers can outrun consumers. Python: `queue.Queue(
//! maxsize)`, `q.get(timeout=...)`, `q.task_done()` / `q.join()`.

use anyhow::{Result, ensure};
use clap::Parser;
use crossbeam_channel::{bounded, select};
use examples_threading::pending::Pending;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Producer threads (1 to 64).
    #[arg(long, default_value_t = 3, value_parser = lesson::at_least_one)]
    producers: usize,
    /// Consumer threads (1 to 64).
    #[arg(long, default_value_t = 2, value_parser = lesson::at_least_one)]
    consumers: usize,
    /// Items per producer (1 to 100000).
    #[arg(long, default_value_t = 2_000, value_parser = lesson::at_least_one)]
    items: usize,
    /// Channel capacity (1 to 100000).
    #[arg(long, default_value_t = 8, value_parser = lesson::at_least_one)]
    capacity: usize,
}

const IDLE: Duration = Duration::from_millis(50);
const DEADLINE: Duration = Duration::from_secs(20);

fn main() -> Result<()> {
    let a: Args = lesson::args();
    if a.producers > 64 || a.consumers > 64 || a.items > 100_000 || a.capacity > 100_000 {
        lesson::usage_error(
            "at most 64 producers and consumers, 100000 items each, capacity 100000",
        );
    }
    if a.producers * a.items <= a.capacity {
        lesson::usage_error("producers x items must exceed --capacity, or nothing ever waits");
    }
    let total = (a.producers * a.items) as u64;
    let (tx, rx) = bounded::<u64>(a.capacity);
    let pending = Pending::new();
    let (sum, received, idle) = (AtomicU64::new(0), AtomicU64::new(0), AtomicUsize::new(0));
    let start = Instant::now();
    let (filled, joined) = thread::scope(|s| -> Result<_> {
        let producers: Vec<_> = (0..a.producers as u64)
            .map(|p| {
                let (tx, pending) = (tx.clone(), &pending);
                s.spawn(move || {
                    for item in p * a.items as u64..(p + 1) * a.items as u64 {
                        pending.add(1);
                        let _ = tx.send(item); // blocks while the channel is full
                    }
                })
            })
            .collect();
        // No consumer yet: the producers fill the channel and then block.
        while !tx.is_full() && start.elapsed() < DEADLINE {
            thread::sleep(Duration::from_millis(1));
        }
        let filled = tx.len();
        for _ in 0..a.consumers {
            let (rx, pending, sum, received, idle) = (rx.clone(), &pending, &sum, &received, &idle);
            s.spawn(move || {
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
                        default(IDLE) => { idle.fetch_add(1, SeqCst); } // housekeeping would go here
                    }
                }
            });
        }
        // As with `queue.join()`, join only after every item was put: before
        // that the count can touch zero while producers are still running.
        producers.into_iter().for_each(|p| drop(p.join()));
        ensure!(
            pending.join_timeout(DEADLINE),
            "work still pending after {DEADLINE:?}"
        );
        let joined = received.load(SeqCst);
        // The consumers are alive and idle now: wait for a select! timeout.
        while idle.load(SeqCst) == 0 && start.elapsed() < DEADLINE {
            thread::sleep(Duration::from_millis(5));
        }
        drop(tx); // the last sender: consumers see Disconnected and return
        Ok((filled, joined))
    })?;
    let (sum, received, idle) = (sum.load(SeqCst), received.load(SeqCst), idle.load(SeqCst));
    let want: u64 = (0..total).sum();
    println!(
        "backpressure     channel filled to {filled} of {} before any consumer ran",
        a.capacity
    );
    println!(
        "pending.join()   returned with {joined} of {total} items finished, consumers still running"
    );
    println!(
        "select! timeout  idle consumers woke {idle} times (every {} ms)",
        IDLE.as_millis()
    );
    println!("senders dropped  consumers ended; {received} items, sum {sum} (want {want})");
    ensure!(
        filled == a.capacity,
        "the channel never filled: no backpressure"
    );
    ensure!(joined == total, "join returned before every item was done");
    ensure!(idle > 0, "no select! timeout fired");
    ensure!(
        sum == want && received == total,
        "an item was lost or duplicated"
    );
    println!(
        "lesson: a bounded channel makes fast producers wait; count finished work to know it is all done"
    );
    Ok(())
}
