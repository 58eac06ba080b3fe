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

use clap::Parser;
use examples_threading::{spawn::Gate, verdict::claim};
use lesson::Failure;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread::{self, Builder};

#[derive(Parser)]
struct Args {
    /// Threads.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=64))]
    threads: u8,
    /// Numbers to process.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(1..=2_000_000))]
    len: u32,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let (threads, len) = (usize::from(args.threads), args.len as usize);
    let data: Vec<u64> = (0..len as u64).collect();
    let want: u64 = data.iter().map(|x| x * x).sum();
    let chunk = len.div_ceil(threads);

    // Scoped: borrow `data`, write into `out` in place. A refused spawn
    // returns early; the scope still joins the threads that started.
    let mut out = vec![0u64; len];
    thread::scope(|s| {
        for (input, output) in data.chunks(chunk).zip(out.chunks_mut(chunk)) {
            Builder::new().spawn_scoped(s, move || {
                input.iter().zip(output).for_each(|(x, o)| *o = x * x);
            })?;
        }
        Ok::<_, std::io::Error>(())
    })?; // every thread has been joined here, so `out` is ours again
    let scoped: u64 = out.iter().sum();
    println!("thread::scope     &data, &mut out chunks   sum {scoped}   (no Arc, no lock)");

    // 'static: the threads may outlive `main`'s frame, so they must own what
    // they use. They wait at a gate, holding their clone, until all exist.
    let (shared, gate) = (Arc::new(data), Arc::new(Gate::new()));
    let (mut handles, mut refused) = (Vec::with_capacity(threads), None);
    for t in 0..threads {
        let (shared, gate) = (Arc::clone(&shared), Arc::clone(&gate));
        let sum_mine = move || {
            let go = gate.wait(); // all clones alive at once
            let mine = shared.chunks(chunk).nth(t).unwrap_or(&[]);
            go.then(|| mine.iter().map(|x| x * x).sum::<u64>())
        };
        match Builder::new().spawn(sum_mine) {
            Ok(h) => handles.push(h),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let peak = Arc::strong_count(&shared);
    gate.open(refused.is_none()); // if one was refused, the others stop now
    let mut spawned = 0;
    for handle in handles {
        let sum = handle
            .join()
            .map_err(|_| Failure::claim("a worker panicked"))?;
        spawned += sum.unwrap_or(0);
    }
    if let Some(e) = refused {
        return Err(e.into());
    }
    let after = Arc::strong_count(&shared);
    println!(
        "thread::spawn     Arc<Vec<u64>> per thread sum {spawned}   Arc count while running: {peak}, after join: {after}"
    );
    claim(
        scoped == want && spawned == want,
        format_args!("a version got the wrong sum (want {want})"),
    )?;
    let owners = threads + 1; // one per thread, and `main`'s
    claim(
        peak == owners,
        format_args!("expected {owners} Arc owners while running, saw {peak}"),
    )?;
    println!(
        "lesson: scoped threads borrow (even &mut) because the scope joins them; 'static threads need Arc"
    );
    Ok(())
}
