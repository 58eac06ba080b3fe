//! Zombies and orphans: an exited child nobody waited for stays in the
//! process table as a zombie; a worker whose parent is killed lives on.
//!
//! Notice: the unwaited children read state `Z` (defunct) in /proc until
//! `waitpid` reaps them. When the middle process of a family is SIGKILLed
//! its workers keep running, adopted by init (here: by this program, a
//! child subreaper, so that it can clean them up), unless they set
//! `PR_SET_PDEATHSIG`, which kills them with their parent (here with
//! SIGTERM, so their status shows who ended them). Reach for PDEATHSIG in
//! every worker process; reap every child. Python: call `join()` (or
//! `active_children()`); a killed parent's `multiprocessing` workers live
//! on. Every process this program makes also carries a 10 s `alarm`, so
//! nothing outlives it by more than that even if it is killed mid-way.
//! Exits 0 when every state and status is as predicted, 1 otherwise.

use std::time::Duration;

use anyhow::{Result, ensure};
use clap::Parser;
use examples_multiprocessing::fork::{Child, Ending, fork_single_threaded, report};
use examples_multiprocessing::zombies::{Family, describe, has_children, stat, wait_until};
use nix::sys::signal::Signal;
use nix::unistd::getpid;

/// Zombies until reaped; orphans live on unless PR_SET_PDEATHSIG. Exits 0 when the claim held, 1 when not, 2 on a bad flag.
#[derive(Parser)]
struct Args {
    /// Children left unwaited (1-64).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=64))]
    children: u32,
    /// Workers under the middle process (1-16).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=16))]
    workers: u32,
}

fn main() -> std::process::ExitCode {
    examples_multiprocessing::fork::exit_code(run())
}

fn run() -> Result<()> {
    let args: Args = lesson::args();
    let limit = Duration::from_secs(5);
    nix::sys::prctl::set_child_subreaper(true)?;
    let mut zombies = Vec::new();
    for _ in 0..args.children {
        // Exits at once; this program is single-threaded (checked).
        zombies.push(fork_single_threaded(|| 0)?);
    }
    let mut ok = true;
    for child in &zombies {
        let seen = wait_until(child.pid(), limit, |s| s.is_some_and(|s| s.state == 'Z'));
        println!(
            "unwaited child pid {:<7} exited, not waited for: {} (a zombie)",
            child.pid(),
            describe(seen)
        );
        ok &= seen.is_some_and(|s| s.state == 'Z');
    }
    for child in &mut zombies {
        ok &= report("reaped with waitpid", child, Ending::Exit(0), limit)?;
        ok &= stat(child.pid()).is_none();
    }
    println!(
        "after waitpid: {} of {} left in /proc",
        zombies.iter().filter(|c| stat(c.pid()).is_some()).count(),
        zombies.len()
    );

    for deathsig in [None, Some(Signal::SIGTERM)] {
        let mut family = Family::start(args.workers as usize, deathsig)?;
        let tag = if deathsig.is_some() {
            "with PDEATHSIG"
        } else {
            "no PDEATHSIG"
        };
        ok &= report(
            &format!("middle ({tag})"),
            &mut family.middle,
            Ending::Killed(Signal::SIGKILL),
            Duration::ZERO,
        )?;
        for &pid in &family.workers {
            // Adopted by this subreaper once the middle died, so ours to reap.
            let mut worker = Child::adopt(pid);
            if deathsig.is_none() {
                std::thread::sleep(Duration::from_millis(200));
                let now = stat(pid);
                println!(
                    "orphaned worker pid {pid:<7} 200 ms after the middle died: {} (this program is {})",
                    describe(now),
                    getpid()
                );
                ok &= now.is_some_and(|s| s.state != 'Z' && s.ppid == getpid());
                ok &= report(
                    "  killed by us",
                    &mut worker,
                    Ending::Killed(Signal::SIGKILL),
                    Duration::ZERO,
                )?;
            } else {
                ok &= report(
                    "  died with the middle",
                    &mut worker,
                    Ending::Killed(Signal::SIGTERM),
                    limit,
                )?;
            }
        }
    }
    ok &= !has_children();
    println!(
        "children left: {}",
        if has_children() { "some" } else { "none" }
    );
    ensure!(ok, "a state or status was not as predicted");
    println!(
        "lesson: waitpid every child; set PR_SET_PDEATHSIG in workers so they die with their parent"
    );
    Ok(())
}
