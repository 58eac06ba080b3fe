//! TOCTOU: processes check that a lock file does not exist, then create it,
//! and all of them believe they hold the lock.
//!
//! Notice: every child process checks first and creates only when all have
//! checked (the parent holds them at that point), so with `exists()` then
//! `File::create` every one of them "holds" the lock, every round. With
//! `create_new` (`O_CREAT | O_EXCL`), the same schedule gives exactly one
//! holder: the kernel makes create-if-absent one step. Reach for it (or
//! `flock`) for any lock file or "create once" file. Python:
//! `os.path.exists(p)` then `open(p, "w")` races; `open(p, "x")` does not.
//! The lock files live in a temp dir named after this process's pid,
//! removed at the end, and on Ctrl-C or SIGTERM (exit 130 or 143); one left
//! by a SIGKILL is swept by the next run. Exit 1 if a claim fails, 71 if
//! the system refuses a process.

use clap::Parser;
use examples_race_conditions::toctou::{self, Create};
use lesson::{Failure, interrupt};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "TOCTOU on a lock file across processes; create_new (O_EXCL) fixes it")]
struct Args {
    /// Processes racing for the lock file.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(2..=16))]
    processes: u16,
    /// Rounds per way.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100))]
    iterations: u16,
    #[arg(long, hide = true)]
    child_lock: Option<PathBuf>,
    #[arg(long, hide = true, value_enum, default_value_t = Create::CheckThenCreate)]
    child_mode: Create,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    // Before any temp dir exists; children defer too: their parent ends them.
    interrupt::defer()?;
    if let Some(path) = &args.child_lock {
        let owner = std::process::id().to_string();
        return Ok(toctou::child(path, args.child_mode, &owner)?);
    }
    let (p, n) = (usize::from(args.processes), usize::from(args.iterations));
    let swept = toctou::sweep_stale(&std::env::temp_dir())?;
    let (exe, dir) = (std::env::current_exe()?, toctou::work_dir()?);
    // Print only after the temp dir is gone: `| head -1` may end us early.
    let mut report = vec![format!(
        "{p} processes, {n} rounds: all check, then all create"
    )];
    let mut ok = true;
    for how in [Create::CheckThenCreate, Create::CreateNew] {
        let holders = toctou::holders_per_round(&exe, dir.path(), p, how, n, interrupt::check)?;
        let holders: Vec<String> = holders.iter().map(usize::to_string).collect();
        // Check-then-create: every process holds it; create_new: exactly one.
        let want = if how == Create::CreateNew { 1 } else { p }.to_string();
        ok &= holders.iter().all(|h| *h == want);
        report.push(format!(
            "  {:<44} holders per round: {}",
            how.label(),
            holders.join(" ")
        ));
    }
    let dir_path = dir.path().to_path_buf();
    dir.close()?;
    let gone = if dir_path.exists() { "no" } else { "yes" };
    let (shown, swept) = (dir_path.display(), swept.len());
    report.push(format!(
        "  temp dir {shown} removed: {gone}; stale ones of killed runs swept: {swept}"
    ));
    println!("{}", report.join("\n"));
    println!("lesson: checking, then creating is two steps; create_new (O_EXCL) makes it one");
    match ok && gone == "yes" {
        true => Ok(()),
        false => Err(Failure::claim(
            "check-then-create did not give every process the lock, or create_new not one",
        )),
    }
}
