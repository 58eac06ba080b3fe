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

use clap::Parser;
use examples_threading::{bounded_buffer::BoundedBuffer, spawn::together, verdict::claim};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

#[derive(Parser)]
struct Args {
    /// Producer threads, and as many consumers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=64))]
    pairs: u8,
    /// Items per producer.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    items: u32,
    /// Buffer capacity.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    capacity: u32,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), lesson::Failure> {
    let a: Args = lesson::args();
    let (pairs, items, capacity) = (
        usize::from(a.pairs),
        u64::from(a.items),
        a.capacity as usize,
    );
    let buffer = BoundedBuffer::new(capacity);
    let (sum, count, producing) = (
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicUsize::new(pairs),
    );
    // Threads 0..pairs produce, the rest consume; all exist before any runs.
    together(
        2 * pairs,
        |t| {
            if t < pairs {
                for i in 0..items {
                    buffer.push(t as u64 * items + i);
                }
                if producing.fetch_sub(1, SeqCst) == 1 {
                    buffer.close(); // the last producer: consumers drain the rest, then pop() gives None
                }
            } else {
                while let Some(item) = buffer.pop() {
                    sum.fetch_add(item, SeqCst);
                    count.fetch_add(1, SeqCst);
                }
            }
        },
        || (),
    )?;
    let total = pairs as u64 * items;
    let want: u64 = (0..total).sum();
    let (count, sum) = (count.into_inner(), sum.into_inner());
    let stats = buffer.stats();
    let (max_len, full, empty) = (stats.max_len, stats.full_waits, stats.empty_waits);
    println!("items       {count} of {total} delivered, sum {sum} (want {want})");
    println!("buffer      at most {max_len} of {capacity} slots used");
    println!("waits       producers waited {full} times (full), consumers {empty} times (empty)");
    claim(
        count == total && sum == want,
        "an item was lost or duplicated",
    )?;
    claim(max_len <= capacity, "the buffer overflowed its capacity")?;
    println!(
        "lesson: wait in a loop on the condition, change state only under the lock, notify after"
    );
    Ok(())
}
