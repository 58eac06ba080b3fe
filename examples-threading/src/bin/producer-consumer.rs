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
use examples_threading::queue_lifecycle::{self, Config};
use std::time::Duration;

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
    let (producers, consumers, items, capacity) = (a.producers, a.consumers, a.items, a.capacity);
    let config = Config {
        producers,
        consumers,
        items,
        capacity,
        idle: IDLE,
    };
    let r = queue_lifecycle::run(&config)?;
    let total = (a.producers * a.items) as u64;
    let want: u64 = (0..total).sum();
    let (filled, joined, idle) = (r.filled, r.joined, r.idle_wakeups);
    println!("backpressure     channel filled to {filled} of {capacity} before any consumer ran");
    println!(
        "pending.join()   returned with {joined} of {total} items finished, consumers still running"
    );
    let every = IDLE.as_millis();
    println!("select! timeout  idle consumers woke {idle} times (every {every} ms)");
    let (received, sum) = (r.received, r.sum);
    println!("senders dropped  consumers ended; {received} items, sum {sum} (want {want})");
    ensure!(
        filled == capacity,
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
