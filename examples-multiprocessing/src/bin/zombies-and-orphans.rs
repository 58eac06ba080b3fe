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
//! on. The orphans are kept alive on purpose for `--orphan-ms` (0.2 s),
//! then killed; if this program dies first, they exit with it (each waits
//! on a lifeline pipe only this program holds open), and a 5 s `alarm`
//! backs that up. Exits 0 when every state and status is as predicted, 1
//! otherwise, 71 when the system refuses a process.

use std::time::Duration;

use clap::Parser;
use examples_multiprocessing::fork::{Child, Ending, report};
use examples_multiprocessing::zombies::{
    Family, describe, has_children, stat, zombies_until_reaped,
};
use lesson::Failure;
use nix::sys::signal::Signal;
use nix::unistd::getpid;

/// Zombies until reaped; orphans live on unless PR_SET_PDEATHSIG.
#[derive(Parser)]
struct Args {
    /// Children left unwaited.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=64))]
    children: u32,
    /// Workers under the middle process.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=16))]
    workers: u32,
    /// How long the orphans are kept alive on purpose, in ms.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=3000))]
    orphan_ms: u64,
}

fn main() -> std::process::ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let limit = Duration::from_secs(5);
    nix::sys::prctl::set_child_subreaper(true)?;
    let mut ok = zombies_until_reaped(args.children as usize, limit)?;

    for (tag, deathsig) in [
        ("no PDEATHSIG", None),
        ("with PDEATHSIG", Some(Signal::SIGTERM)),
    ] {
        let mut family = Family::start(args.workers as usize, deathsig)?;
        let (middle, killed) = (&mut family.middle, Ending::Killed(Signal::SIGKILL));
        ok &= report(&format!("middle ({tag})"), middle, killed, Duration::ZERO)?;
        if deathsig.is_none() {
            std::thread::sleep(Duration::from_millis(args.orphan_ms));
        }
        for &pid in &family.workers {
            // Adopted by this subreaper once the middle died, so ours to reap.
            let mut worker = Child::adopt(pid);
            if deathsig.is_some() {
                let sigterm = Ending::Killed(Signal::SIGTERM);
                ok &= report("  died with the middle", &mut worker, sigterm, limit)?;
                continue;
            }
            let (now, me) = (stat(pid), getpid());
            let ms = args.orphan_ms;
            println!(
                "orphaned worker pid {pid:<7} {ms} ms after the middle died: {} (this program is {me})",
                describe(now)
            );
            ok &= now.is_some_and(|s| s.state != 'Z' && s.ppid == me);
            ok &= report("  killed by us", &mut worker, killed, Duration::ZERO)?;
        }
    }
    let ms = args.orphan_ms;
    println!(
        "(the orphans lived {ms} ms on purpose; had this program died first, they would have exited with it: they wait on a lifeline pipe only it holds)"
    );
    let left = has_children();
    println!("children left: {}", if left { "some" } else { "none" });
    if !ok || left {
        return Err(Failure::claim("a state or status was not as predicted"));
    }
    println!(
        "lesson: waitpid every child; set PR_SET_PDEATHSIG in workers so they die with their parent"
    );
    Ok(())
}
