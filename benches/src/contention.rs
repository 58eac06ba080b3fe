//! One shared counter hammered by several threads, four ways, and false
//! sharing: per-thread counters that share a cache line against padded ones.
//!
//! Notice: a `Mutex` or `RwLock` serialises every increment and bounces its
//! cache line between cores; one `fetch_add` still bounces the line;
//! per-thread shards in their own cache line ([`CachePadded`]) scale, and
//! the same shards packed next to each other lose most of that again.
//! Python: `with lock: counter += 1` under threads is the `Mutex` row.
//!
//! ```
//! use benches::contention::{Counter, Layout, count, false_sharing};
//! assert_eq!(count(Counter::Mutex, 2, 1000), 2000);
//! assert_eq!(false_sharing(Layout::Packed, 2, 1000), 2000);
//! ```

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use crossbeam_utils::CachePadded;

/// How the threads share one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// `Mutex<u64>`, locked for each increment.
    Mutex,
    /// `RwLock<u64>`, write-locked for each increment.
    RwLock,
    /// One `AtomicU64`, `fetch_add(1, Relaxed)`.
    FetchAdd,
    /// One `CachePadded<AtomicU64>` per thread, summed at the end.
    Sharded,
}

impl Counter {
    /// Every way, slowest first as a rule.
    pub const ALL: [Counter; 4] = [
        Counter::Mutex,
        Counter::RwLock,
        Counter::FetchAdd,
        Counter::Sharded,
    ];

    /// A short label for tables and benchmark ids.
    pub fn label(self) -> &'static str {
        match self {
            Counter::Mutex => "Mutex",
            Counter::RwLock => "RwLock",
            Counter::FetchAdd => "fetch_add",
            Counter::Sharded => "CachePadded shards",
        }
    }
}

/// Where per-thread counters live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Adjacent `AtomicU64`s: several in one 64-byte cache line.
    Packed,
    /// Each in its own cache line (`CachePadded`).
    Padded,
}

impl Layout {
    /// A short label for tables and benchmark ids.
    pub fn label(self) -> &'static str {
        match self {
            Layout::Packed => "packed (false sharing)",
            Layout::Padded => "padded",
        }
    }
}

/// `threads` threads each add 1 to a shared counter `per_thread` times;
/// returns the final count (always `threads * per_thread`).
pub fn count(how: Counter, threads: usize, per_thread: u64) -> u64 {
    match how {
        Counter::Mutex => {
            let c = Mutex::new(0u64);
            run(threads, |_| {
                for _ in 0..per_thread {
                    *c.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                }
            });
            c.into_inner().unwrap_or_else(|e| e.into_inner())
        }
        Counter::RwLock => {
            let c = RwLock::new(0u64);
            run(threads, |_| {
                for _ in 0..per_thread {
                    *c.write().unwrap_or_else(|e| e.into_inner()) += 1;
                }
            });
            c.into_inner().unwrap_or_else(|e| e.into_inner())
        }
        Counter::FetchAdd => {
            let c = AtomicU64::new(0);
            run(threads, |_| {
                for _ in 0..per_thread {
                    c.fetch_add(black_box(1), Ordering::Relaxed);
                }
            });
            c.into_inner()
        }
        Counter::Sharded => false_sharing(Layout::Padded, threads, per_thread),
    }
}

/// Each thread adds 1 to its own counter `per_thread` times; the counters
/// sit packed or padded. Returns their sum.
pub fn false_sharing(layout: Layout, threads: usize, per_thread: u64) -> u64 {
    let work = |slot: &AtomicU64| {
        for _ in 0..per_thread {
            slot.fetch_add(black_box(1), Ordering::Relaxed);
        }
    };
    match layout {
        Layout::Packed => {
            let slots: Vec<AtomicU64> = (0..threads).map(|_| AtomicU64::new(0)).collect();
            run(threads, |i| work(&slots[i]));
            slots.iter().map(|s| s.load(Ordering::Relaxed)).sum()
        }
        Layout::Padded => {
            let slots: Vec<CachePadded<AtomicU64>> = (0..threads)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect();
            run(threads, |i| work(&slots[i]));
            slots.iter().map(|s| s.load(Ordering::Relaxed)).sum()
        }
    }
}

fn run(threads: usize, f: impl Fn(usize) + Sync) {
    std::thread::scope(|s| {
        for i in 0..threads {
            let f = &f;
            s.spawn(move || f(i));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_counts_everything() {
        for how in Counter::ALL {
            assert_eq!(count(how, 3, 500), 1500, "{how:?}");
        }
        for layout in [Layout::Packed, Layout::Padded] {
            assert_eq!(false_sharing(layout, 4, 500), 2000, "{layout:?}");
        }
    }
}
