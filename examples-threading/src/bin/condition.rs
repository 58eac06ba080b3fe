//! A bounded buffer on one `Mutex` and two `Condvar`s: producers wait while
//! it is full, consumers wait while it is empty.
//!
//! Notice: every wait sits in a `while` loop that re-checks its condition
//! (wake-ups can be spurious, and another thread may take the slot first),
//! and every change happens under the lock. The buffer never holds more than
//! its capacity, the waits on each side are counted, and every item arrives
//! exactly once (sum and count checked). A bounded channel does this inside;
//! in real code use `crossbeam_channel::bounded`. Python:
//! `threading.Condition` with `wait_for`, `notify`.

use anyhow::{Result, ensure};
use clap::Parser;
use examples_threading::bounded_buffer::BoundedBuffer;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::thread;

#[derive(Parser)]
struct Args {
    /// Producer threads, and as many consumers (1 to 64).
    #[arg(long, default_value_t = 2, value_parser = lesson::at_least_one)]
    pairs: usize,
    /// Items per producer (1 to 100000).
    #[arg(long, default_value_t = 20_000, value_parser = lesson::at_least_one)]
    items: usize,
    /// Buffer capacity (1 to 100000).
    #[arg(long, default_value_t = 4, value_parser = lesson::at_least_one)]
    capacity: usize,
}

fn main() -> Result<()> {
    let args: Args = lesson::args();
    if args.pairs > 64 || args.items > 100_000 || args.capacity > 100_000 {
        lesson::usage_error("at most 64 pairs, 100000 items each, capacity 100000");
    }
    let buffer = BoundedBuffer::new(args.capacity);
    let (sum, count) = (AtomicU64::new(0), AtomicU64::new(0));
    thread::scope(|s| {
        let producers: Vec<_> = (0..args.pairs as u64)
            .map(|p| {
                let buffer = &buffer;
                s.spawn(move || {
                    for i in 0..args.items as u64 {
                        buffer.push(p * args.items as u64 + i);
                    }
                })
            })
            .collect();
        for _ in 0..args.pairs {
            s.spawn(|| {
                while let Some(item) = buffer.pop() {
                    sum.fetch_add(item, SeqCst);
                    count.fetch_add(1, SeqCst);
                }
            });
        }
        for p in producers {
            let _ = p.join();
        }
        buffer.close(); // consumers drain the rest, then pop() gives None
    });
    let total = (args.pairs * args.items) as u64;
    let want: u64 = (0..total).sum();
    let (count, sum, capacity) = (count.into_inner(), sum.into_inner(), args.capacity);
    let stats = buffer.stats();
    let (max_len, full, empty) = (stats.max_len, stats.full_waits, stats.empty_waits);
    println!("items       {count} of {total} delivered, sum {sum} (want {want})");
    println!("buffer      at most {max_len} of {capacity} slots used");
    println!("waits       producers waited {full} times (full), consumers {empty} times (empty)");
    ensure!(
        count == total && sum == want,
        "an item was lost or duplicated"
    );
    ensure!(max_len <= capacity, "the buffer overflowed its capacity");
    println!(
        "lesson: wait in a loop on the condition, change state only under the lock, notify after"
    );
    Ok(())
}
