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

use clap::Parser;
use examples_threading::{stencil, verdict::claim};
use std::process::ExitCode;

#[derive(Parser)]
struct Args {
    /// Threads.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=16))]
    threads: u8,
    /// Phases.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(1..=1000))]
    phases: u16,
}

const CELLS_PER_THREAD: usize = 256;

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), lesson::Failure> {
    let args: Args = lesson::args();
    let (threads, phases) = (usize::from(args.threads), usize::from(args.phases));
    let n = threads * CELLS_PER_THREAD;
    let serial = stencil::serial(n, phases);
    let (parallel, leaders) = stencil::with_barrier(threads, CELLS_PER_THREAD, phases)?;
    let same = parallel == serial;
    println!("threads {threads:>3}   phases {phases:>5}   cells {n}");
    println!("leaders       {leaders} (one per phase)");
    let verdict = if same { "equals" } else { "DIFFERS from" };
    println!("result        {verdict} the one-thread result");
    claim(
        same,
        "a thread ran ahead of a phase: result differs from the serial one",
    )?;
    claim(leaders == phases, "not one leader per phase")?;
    println!(
        "lesson: a barrier per phase lets threads read each other's results without running ahead"
    );
    Ok(())
}
