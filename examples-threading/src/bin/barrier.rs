//! A barrier splits work into phases: no thread starts phase k+1 until every
//! thread has finished phase k.
//!
//! Notice: each thread smooths its own slice of a shared array, but reads
//! its neighbours' edges, so it needs the whole previous phase to be done.
//! The result is compared with the same computation done on one thread:
//! equal in every run. One thread per phase is the barrier's "leader"
//! (Python's `action=` callback runs once per phase, too).
//! Reach for a barrier for iterative, phased algorithms (stencils,
//! simulations, rounds of a game). Python: `threading.Barrier(n,
//! action=...)`.

use anyhow::{Result, ensure};
use clap::Parser;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::thread;

#[derive(Parser)]
struct Args {
    /// Threads (1 to 16).
    #[arg(long, default_value_t = 4, value_parser = lesson::at_least_one)]
    threads: usize,
    /// Phases (1 to 1000).
    #[arg(long, default_value_t = 200, value_parser = lesson::at_least_one)]
    phases: usize,
}

const CELLS_PER_THREAD: usize = 256;

/// One phase of smoothing: each cell becomes the sum of itself and its
/// neighbours (wrapping), mod a prime so the numbers stay small.
fn step(old: &[u64], i: usize) -> u64 {
    let n = old.len();
    (old[(i + n - 1) % n] + old[i] + old[(i + 1) % n]) % 1_000_003
}

fn main() -> Result<()> {
    let args: Args = lesson::args();
    if args.threads > 16 || args.phases > 1_000 {
        lesson::usage_error("--threads must be at most 16 and --phases at most 1000");
    }
    let n = args.threads * CELLS_PER_THREAD;
    let init = |i: usize| (i as u64 * 7919) % 1_000_003;
    let mut serial: Vec<u64> = (0..n).map(init).collect();
    for _ in 0..args.phases {
        let old = serial.clone();
        serial = (0..n).map(|i| step(&old, i)).collect();
    }

    // Two buffers: phase k reads `bufs[k % 2]` and writes `bufs[(k + 1) % 2]`.
    let bufs: [Vec<AtomicU64>; 2] = [
        (0..n).map(|i| AtomicU64::new(init(i))).collect(),
        (0..n).map(|_| AtomicU64::new(0)).collect(),
    ];
    let (barrier, leaders) = (Barrier::new(args.threads), AtomicUsize::new(0));
    thread::scope(|s| {
        for t in 0..args.threads {
            let (bufs, barrier, leaders) = (&bufs, &barrier, &leaders);
            s.spawn(move || {
                let mut old = vec![0; n];
                for k in 0..args.phases {
                    for (o, cell) in old.iter_mut().zip(&bufs[k % 2]) {
                        *o = cell.load(SeqCst);
                    }
                    let mine = bufs[(k + 1) % 2]
                        .iter()
                        .enumerate()
                        .skip(t * CELLS_PER_THREAD);
                    for (i, cell) in mine.take(CELLS_PER_THREAD) {
                        cell.store(step(&old, i), SeqCst);
                    }
                    if barrier.wait().is_leader() {
                        leaders.fetch_add(1, SeqCst);
                    }
                }
            });
        }
    });
    let parallel: Vec<u64> = bufs[args.phases % 2]
        .iter()
        .map(|c| c.load(SeqCst))
        .collect();
    let same = parallel == serial;
    println!(
        "threads {:>3}   phases {:>5}   cells {n}",
        args.threads, args.phases
    );
    println!("leaders       {} (one per phase)", leaders.load(SeqCst));
    println!(
        "result        {} the one-thread result",
        if same { "equals" } else { "DIFFERS from" }
    );
    ensure!(
        same,
        "a thread ran ahead of a phase: result differs from the serial one"
    );
    ensure!(
        leaders.load(SeqCst) == args.phases,
        "not one leader per phase"
    );
    println!(
        "lesson: a barrier per phase lets threads read each other's results without running ahead"
    );
    Ok(())
}
