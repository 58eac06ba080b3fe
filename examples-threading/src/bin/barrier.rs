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
use examples_threading::stencil;

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

fn main() -> Result<()> {
    let args: Args = lesson::args();
    if args.threads > 16 || args.phases > 1_000 {
        lesson::usage_error("--threads must be at most 16 and --phases at most 1000");
    }
    let (threads, phases) = (args.threads, args.phases);
    let n = threads * CELLS_PER_THREAD;
    let serial = stencil::serial(n, phases);
    let (parallel, leaders) = stencil::with_barrier(threads, CELLS_PER_THREAD, phases);
    let same = parallel == serial;
    println!("threads {threads:>3}   phases {phases:>5}   cells {n}");
    println!("leaders       {leaders} (one per phase)");
    let verdict = if same { "equals" } else { "DIFFERS from" };
    println!("result        {verdict} the one-thread result");
    ensure!(
        same,
        "a thread ran ahead of a phase: result differs from the serial one"
    );
    ensure!(leaders == phases, "not one leader per phase");
    println!(
        "lesson: a barrier per phase lets threads read each other's results without running ahead"
    );
    Ok(())
}
