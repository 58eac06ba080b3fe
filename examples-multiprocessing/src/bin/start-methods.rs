//! Python's start methods in Rust: fork, fork + exec, spawn (a fresh run of
//! this executable) and a forkserver, each timed as the parent grows.
//!
//! Notice: fork copies the parent's page tables, so its cost grows with the
//! parent's resident memory (fork + exec pays that fork first); spawning a
//! fresh program (`Command`, via `posix_spawn`) and asking a forkserver
//! (forked at startup, while the parent was small) stay flat. Forking per
//! task from a big parent can be slower than not forking at all. Reach for
//! fork for a cheap snapshot of a small parent, spawn or a forkserver when
//! the parent is big or threaded. Python: `set_start_method("fork" |
//! "spawn" | "forkserver")`; since 3.14 the default on Linux is
//! `forkserver` (for `ProcessPoolExecutor` too), and code that needs fork
//! must ask for it (`get_context("fork")`). Each child also reads its own
//! resident memory at start: only the forked one holds the parent's pages.
//! The claim (exit 0, else 1; 71 when the system refuses a process): fork
//! at the largest size costs at least 2x fork at 16 MiB, and grows at least
//! 2x more than spawn does; a miss is measured again, up to 3 rounds.

use clap::Parser;
use examples_multiprocessing::forkserver::ForkServer;
use examples_multiprocessing::start::{
    ChildMemory, INHERITS, ROUNDS, Timings, forkserver_task, growth_with_retries,
    measure_with_parent_of, resident_bytes, sizes_mib,
};
use lesson::Failure;

/// fork, fork + exec, spawn and a forkserver, timed as the parent grows to --max-mib.
#[derive(Parser)]
struct Args {
    /// Largest parent in MiB; sizes run 16, 64, 256, 1024 up to it.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(64..=1024))]
    max_mib: u64,
    /// Runs per measurement; the fastest is shown.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..=30))]
    reps: u64,
    /// Exit at once: the program that fork + exec and spawn start.
    #[arg(long, hide = true)]
    noop: bool,
    /// Print this process's resident MiB and exit (measures what spawn inherits).
    #[arg(long, hide = true)]
    report_rss: bool,
}

fn main() -> std::process::ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    if args.report_rss {
        println!("{}", resident_bytes()? >> 20);
    }
    if args.noop || args.report_rss {
        return Ok(());
    }
    // First, while this process is small and single-threaded.
    let mut server = ForkServer::start(forkserver_task)?;
    let exe = std::env::current_exe()?;
    for (method, inherits) in INHERITS {
        println!("{method:<11} inherits {inherits}");
    }
    println!("forkserver pid {}", server.pid());
    println!("{}", Timings::header());
    let (sizes, reps) = (sizes_mib(args.max_mib), args.reps as usize);
    let (small, big) = (sizes[0], sizes[sizes.len() - 1]);
    let (mut timed, mut inherits_ok) = (Vec::new(), false);
    for &mib in &sizes {
        let (t, _ballast) = measure_with_parent_of(mib, &mut server, &exe, &["--noop"], reps)?;
        println!("{}", t.row(resident_bytes()? >> 20));
        timed.push(t);
        if mib == big {
            // The largest parent: what does a child started each way hold?
            let m = ChildMemory::measure(&mut server, &exe, &["--report-rss"])?;
            println!("a child's own resident memory at start: {m}");
            inherits_ok = m.only_fork_inherits(mib);
        }
    }
    let ends = (timed[0], timed[timed.len() - 1]);
    let g = growth_with_retries(ends, (small, big), &mut server, &exe, &["--noop"], reps)?;
    println!(
        "from {small} to {big} MiB: fork {:.1}x slower, spawn {:.1}x (fastest of every round)",
        g.fork, g.spawn
    );
    if !g.holds() {
        return Err(Failure::claim(format!(
            "fork did not grow clearly faster than spawn with the parent's memory, in {ROUNDS} rounds"
        )));
    }
    if !inherits_ok {
        return Err(Failure::claim(
            "only the forked child should hold the parent's memory",
        ));
    }
    println!(
        "lesson: fork costs grow with the parent's memory; fork early (a forkserver) or spawn fresh programs from a big parent"
    );
    Ok(())
}
