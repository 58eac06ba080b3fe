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
//! "spawn" | "forkserver")`. Each child also reads its own resident memory
//! at start: only the forked one holds the parent's pages. The claim (exit 0, else 1): fork at the
//! largest size costs at least 2x fork at 16 MiB, and grows at least 2x
//! more than spawn does; the expected growth is far larger, so the margin
//! holds on a loaded 2-core machine.

use std::time::Duration;

use anyhow::{Result, ensure};
use clap::Parser;
use examples_multiprocessing::forkserver::ForkServer;
use examples_multiprocessing::start::{
    Ballast, ChildMemory, INHERITS, Timings, forkserver_task, mib_text, resident_bytes,
};

/// fork, fork + exec, spawn and a forkserver, timed as the parent grows to --max-mib. Exits 0 when the claim held, 1 when not, 2 on a bad flag.
#[derive(Parser)]
struct Args {
    /// Largest parent in MiB (64-1024); sizes run 16, 64, 256, 1024 up to it.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(64..=1024))]
    max_mib: u64,
    /// Runs per measurement (1-100); the fastest is shown.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..=100))]
    reps: u64,
    /// Exit at once: the program that fork + exec and spawn start.
    #[arg(long, hide = true)]
    noop: bool,
    /// Print this process's resident MiB and exit (measures what spawn inherits).
    #[arg(long, hide = true)]
    report_rss: bool,
}

fn main() -> std::process::ExitCode {
    examples_multiprocessing::fork::exit_code(run())
}

fn run() -> Result<()> {
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
    println!(
        "{:>12} {:>11} {:>11} {:>11} {:>11}",
        "parent RSS", "fork", "fork+exec", "spawn", "forkserver"
    );
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    let (mut rows, mut inherits_ok) = (Vec::new(), false);
    for mib in [16_u64, 64, 256, 1024]
        .into_iter()
        .filter(|&m| m <= args.max_mib)
    {
        let _ballast = Ballast::new((mib << 20) as usize)?;
        let t = Timings::measure(&mut server, &exe, &["--noop"], args.reps as usize)?;
        let rss = resident_bytes()? >> 20;
        println!(
            "{rss:>8} MiB {:>11} {:>11} {:>11} {:>11}",
            ms(t.fork),
            ms(t.fork_exec),
            ms(t.spawn),
            ms(t.forkserver)
        );
        rows.push((mib, t));
        if mib * 4 > args.max_mib {
            // The largest parent: what does a child started each way hold?
            let m = ChildMemory::measure(&mut server, &exe, &["--report-rss"])?;
            println!(
                "a child's own resident memory at start: fork {} (shared copy-on-write), spawn {}, forkserver {}",
                mib_text(m.fork),
                mib_text(m.spawn),
                mib_text(m.forkserver)
            );
            inherits_ok = m.fork >= mib * 3 / 4 && m.spawn < mib / 2 && m.forkserver < mib / 2;
        }
    }
    let ((small, first), (big, last)) = (rows[0], rows[rows.len() - 1]);
    let growth = |new: Duration, old: Duration| new.as_secs_f64() / old.as_secs_f64();
    let (fork_growth, spawn_growth) = (
        growth(last.fork, first.fork),
        growth(last.spawn, first.spawn),
    );
    println!("from {small} to {big} MiB: fork {fork_growth:.1}x slower, spawn {spawn_growth:.1}x");
    ensure!(
        fork_growth >= 2.0 && fork_growth >= 2.0 * spawn_growth,
        "fork did not grow clearly faster than spawn with the parent's memory"
    );
    ensure!(
        inherits_ok,
        "only the forked child should hold the parent's memory"
    );
    println!(
        "lesson: fork costs grow with the parent's memory; fork early (a forkserver) or spawn fresh programs from a big parent"
    );
    Ok(())
}
