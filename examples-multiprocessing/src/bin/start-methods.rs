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

use anyhow::{Result, bail, ensure};
use clap::Parser;
use examples_multiprocessing::forkserver::ForkServer;
use examples_multiprocessing::start::{
    Ballast, INHERITS, best_of, resident_bytes, resident_mib_in_fork_child,
    resident_mib_in_spawned, time_fork, time_fork_exec, time_spawn,
};
use nix::sys::wait::WaitStatus;

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
    // Request 1 makes a worker exit with its resident MiB (capped at 255).
    let mut server = ForkServer::start(|probe| match probe {
        1 => resident_bytes().map_or(255, |b| (b >> 20).min(255) as i32),
        _ => 0,
    })?;
    let exe = std::env::current_exe()?;
    let reps = args.reps as usize;
    for (method, inherits) in INHERITS {
        println!("{method:<11} inherits {inherits}");
    }
    println!("forkserver pid {}", server.pid());
    println!(
        "{:>12} {:>11} {:>11} {:>11} {:>11}",
        "parent RSS", "fork", "fork+exec", "spawn", "forkserver"
    );
    let ms = |d: std::time::Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    let (mut rows, mut inherits_ok) = (Vec::new(), false);
    for mib in [16_u64, 64, 256, 1024]
        .into_iter()
        .filter(|&m| m <= args.max_mib)
    {
        let ballast = Ballast::new((mib << 20) as usize)?;
        let rss = resident_bytes()? >> 20;
        let fork = time_fork(reps)?;
        let fork_exec = time_fork_exec(&exe, &["--noop"], reps)?;
        let spawn = time_spawn(&exe, &["--noop"], reps)?;
        let forkserver = best_of(reps, || match server.run(0)? {
            (pid, status) if status == WaitStatus::Exited(pid, 0) => Ok(()),
            (_, status) => bail!("forkserver worker: {status:?}"),
        })?;
        println!(
            "{:>8} MiB {:>11} {:>11} {:>11} {:>11}",
            rss,
            ms(fork),
            ms(fork_exec),
            ms(spawn),
            ms(forkserver)
        );
        rows.push((ballast.len() >> 20, fork.as_secs_f64(), spawn.as_secs_f64()));
        if mib * 4 > args.max_mib {
            // The largest parent: what does a child started each way hold?
            let forked = resident_mib_in_fork_child()?;
            let spawned = resident_mib_in_spawned(&exe, &["--report-rss"])?;
            let (pid, served) = server.run(1)?;
            let WaitStatus::Exited(_, served) = served else {
                bail!("forkserver worker {pid}: {served:?}")
            };
            let below_1 = |mib: u64| {
                if mib == 0 {
                    "<1".to_string()
                } else {
                    mib.to_string()
                }
            };
            println!(
                "a child's own resident memory at start: fork {} MiB (shared copy-on-write), spawn {} MiB, forkserver {} MiB",
                below_1(forked),
                below_1(spawned),
                below_1(served as u64)
            );
            inherits_ok = forked >= mib * 3 / 4 && spawned < mib / 2 && (served as u64) < mib / 2;
        }
    }
    let (first, last) = (rows[0], rows[rows.len() - 1]);
    let (fork_growth, spawn_growth) = (last.1 / first.1, last.2 / first.2);
    println!(
        "from {} to {} MiB: fork {fork_growth:.1}x slower, spawn {spawn_growth:.1}x",
        first.0, last.0
    );
    if fork_growth < 2.0 || fork_growth < 2.0 * spawn_growth {
        bail!("fork did not grow clearly faster than spawn with the parent's memory");
    }
    ensure!(
        inherits_ok,
        "only the forked child should hold the parent's memory"
    );
    println!(
        "lesson: fork costs grow with the parent's memory; fork early (a forkserver) or spawn fresh programs from a big parent"
    );
    Ok(())
}
