//! Producers and consumers on a bounded channel: backpressure, `select!`
//! with a timeout, `JoinableQueue.join`, and shutdown by dropping senders.
//!
//! Notice: the producers start before any consumer, fill the channel to its
//! capacity and then block (backpressure: they are counted as they hit a
//! full channel). Consumers wait in `select!` with a timeout, so an idle
//! consumer wakes up to do housekeeping instead of blocking forever.
//! `Pending::join` returns once every item is *finished* while the consumers
//! are still alive; dropping the last sender then ends them. Every item
//! arrives exactly once (checked by sum and count). Reach for a bounded
//! channel whenever producers can outrun consumers. Python: `queue.Queue(
//! maxsize)`, `q.get(timeout=...)`, `q.task_done()` / `q.join()`.

use anyhow::{Result, bail, ensure};
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
    /// Items per producer (1 to 1000000).
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
    if a.producers > 64 || a.consumers > 64 || a.items > 1_000_000 || a.capacity > 100_000 {
        lesson::usage_error("at most 64 producers and consumers, 1000000 items, capacity 100000");
    }
    if a.producers * a.items <= a.capacity {
        lesson::usage_error("producers x items must exceed --capacity, or nothing ever waits");
    }
    let (tx, rx) = bounded::<u64>(a.capacity);
    let pending = Pending::new();
    let (full_hits, sum, received, idle_ticks) = (
        AtomicUsize::new(0),
        AtomicU64::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let total = (a.producers * a.items) as u64;
    thread::scope(|s| -> Result<()> {
        let mut producers = Vec::new();
        for p in 0..a.producers as u64 {
            let (tx, pending, full_hits) = (tx.clone(), &pending, &full_hits);
            producers.push(s.spawn(move || {
                for i in 0..a.items as u64 {
                    pending.add(1);
                    if tx.is_full() {
                        full_hits.fetch_add(1, SeqCst);
                    }
                    let _ = tx.send(p * a.items as u64 + i); // blocks while full
                }
            }));
        }
        let start = Instant::now();
        while !tx.is_full() {
            if start.elapsed() > DEADLINE {
                bail!("the channel never filled up");
            }
            thread::sleep(Duration::from_millis(1));
        }
        let filled = tx.len();
        for _ in 0..a.consumers {
            let (rx, pending, sum, received, idle) =
                (rx.clone(), &pending, &sum, &received, &idle_ticks);
            s.spawn(move || loop {
                select! {
                    recv(rx) -> msg => match msg {
                        Ok(item) => { sum.fetch_add(item, SeqCst); received.fetch_add(1, SeqCst); pending.done(); }
                        Err(_) => break, // every sender dropped and the channel is empty
                    },
                    default(IDLE) => { idle.fetch_add(1, SeqCst); }
                }
            });
        }
        // As with `queue.join()`, wait only once every item has been put:
        // before that, the count can touch zero while producers still run.
        for producer in producers {
            let _ = producer.join();
        }
        ensure!(
            pending.join_timeout(DEADLINE),
            "JoinableQueue.join: work still pending after {DEADLINE:?}"
        );
        let joined = received.load(SeqCst) as u64;
        // Consumers are still alive and now idle; wait for a select! timeout.
        while idle_ticks.load(SeqCst) == 0 && start.elapsed() < DEADLINE {
            thread::sleep(Duration::from_millis(5));
        }
        drop(tx); // the producers' clones are gone too: consumers see Disconnected
        println!(
            "backpressure    channel filled to {filled} of {}; producers found it full {} times",
            a.capacity,
            full_hits.load(SeqCst)
        );
        println!(
            "pending.join()  returned with {joined} of {total} items finished, consumers still running"
        );
        println!(
            "select! timeout idle consumers woke {} times (every {} ms)",
            idle_ticks.load(SeqCst),
            IDLE.as_millis()
        );
        ensure!(
            filled == a.capacity && full_hits.load(SeqCst) > 0,
            "no backpressure observed"
        );
        ensure!(joined == total, "join returned before every item was done");
        ensure!(idle_ticks.load(SeqCst) > 0, "no select! timeout fired");
        Ok(())
    })?;
    let want: u64 = (0..total).sum();
    println!(
        "shutdown        consumers ended when the senders dropped; {} items, sum {} (want {want})",
        received.load(SeqCst),
        sum.load(SeqCst)
    );
    ensure!(
        sum.load(SeqCst) == want && received.load(SeqCst) as u64 == total,
        "an item was lost or duplicated"
    );
    println!(
        "lesson: a bounded channel makes fast producers wait; count finished work to know when it is all done"
    );
    Ok(())
}
