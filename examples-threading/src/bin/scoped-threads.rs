//! `thread::scope` lets threads borrow the caller's stack data, even mutably,
//! because the scope joins them before the data can go away; a plain
//! `thread::spawn` needs `'static` data, so shared input goes into an `Arc`.
//!
//! Notice: the scoped threads read `&data` and write disjoint `&mut` chunks
//! of `out` in place: no `Arc`, no lock, no copy, and the borrow checker
//! proves the chunks disjoint. The `'static` version must move an `Arc`
//! clone into every thread (the reference count is printed while they run)
//! and can only hand results back through `join`. Both agree with the
//! one-thread answer (checked). Reach for `scope` whenever the threads end
//! before the function returns; `spawn` + `Arc` for threads that outlive it.
//! Python has no borrow checker: every thread may touch every object.

use anyhow::{Result, anyhow, ensure};
use clap::Parser;
use std::sync::{Arc, Barrier};
use std::thread;

#[derive(Parser)]
struct Args {
    /// Threads (1 to 64).
    #[arg(long, default_value_t = 4, value_parser = lesson::at_least_one)]
    threads: usize,
    /// Numbers to process (1 to 2000000).
    #[arg(long, default_value_t = 1_000_000, value_parser = lesson::at_least_one)]
    len: usize,
}

fn main() -> Result<()> {
    let args: Args = lesson::args();
    if args.threads > 64 || args.len > 2_000_000 {
        lesson::usage_error("--threads must be at most 64 and --len at most 2000000");
    }
    let data: Vec<u64> = (0..args.len as u64).collect();
    let want: u64 = data.iter().map(|x| x * x).sum();
    let chunk = args.len.div_ceil(args.threads);

    // Scoped: borrow `data`, write into `out` in place.
    let mut out = vec![0u64; args.len];
    thread::scope(|s| {
        for (input, output) in data.chunks(chunk).zip(out.chunks_mut(chunk)) {
            s.spawn(move || {
                for (x, o) in input.iter().zip(output) {
                    *o = x * x;
                }
            });
        }
    }); // every thread has been joined here, so `out` is ours again
    let scoped: u64 = out.iter().sum();
    println!("thread::scope     &data, &mut out chunks   sum {scoped}   (no Arc, no lock)");

    // 'static: the threads may outlive `main`'s frame, so they must own
    // what they use. The Arc is shared, the results come back via join.
    let shared = Arc::new(data);
    let running = Arc::new(Barrier::new(args.threads + 1));
    let handles: Vec<_> = (0..args.threads)
        .map(|t| {
            let (shared, running) = (Arc::clone(&shared), Arc::clone(&running));
            thread::spawn(move || {
                running.wait(); // all clones alive at once
                let mine = shared.chunks(chunk).nth(t).unwrap_or(&[]);
                mine.iter().map(|x| x * x).sum::<u64>()
            })
        })
        .collect();
    let peak = Arc::strong_count(&shared);
    running.wait();
    let mut spawned = 0;
    for handle in handles {
        spawned += handle.join().map_err(|_| anyhow!("a worker panicked"))?;
    }
    let after = Arc::strong_count(&shared);
    println!(
        "thread::spawn     Arc<Vec<u64>> per thread sum {spawned}   Arc count while running: {peak}, after join: {after}"
    );
    ensure!(
        scoped == want && spawned == want,
        "a version got the wrong sum (want {want})"
    );
    let owners = args.threads + 1; // one per thread, and `main`'s
    ensure!(
        peak == owners,
        "expected {owners} Arc owners while running, saw {peak}"
    );
    println!(
        "lesson: scoped threads borrow (even &mut) because the scope joins them; 'static threads need Arc"
    );
    Ok(())
}
