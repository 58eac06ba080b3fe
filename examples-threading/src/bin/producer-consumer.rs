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

use clap::Parser;
use examples_threading::queue_lifecycle::{self, Config, QueueError};
use examples_threading::verdict::claim;
use lesson::Failure;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
struct Args {
    /// Producer threads.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=64))]
    producers: u8,
    /// Consumer threads.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=64))]
    consumers: u8,
    /// Items per producer.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    items: u32,
    /// Channel capacity; producers x items must exceed it, or nothing ever waits.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    capacity: u32,
}

const IDLE: Duration = Duration::from_millis(50);

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let a: Args = lesson::args();
    let (producers, consumers) = (usize::from(a.producers), usize::from(a.consumers));
    let (items, capacity) = (a.items as usize, a.capacity as usize);
    if producers * items <= capacity {
        return Err(Failure::usage(
            "producers x items must exceed --capacity, or nothing ever waits",
        ));
    }
    let config = Config {
        producers,
        consumers,
        items,
        capacity,
        idle: IDLE,
    };
    let r = queue_lifecycle::run(&config).map_err(|e| match e {
        QueueError::Spawn(e) => Failure::from(e),
        stuck @ QueueError::Stuck(_) => Failure::claim(stuck),
    })?;
    let total = (producers * items) as u64;
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
    claim(
        filled == capacity,
        "the channel never filled: no backpressure",
    )?;
    claim(joined == total, "join returned before every item was done")?;
    claim(idle > 0, "no select! timeout fired")?;
    claim(
        sum == want && received == total,
        "an item was lost or duplicated",
    )?;
    println!(
        "lesson: a bounded channel makes fast producers wait; count finished work to know it is all done"
    );
    Ok(())
}
