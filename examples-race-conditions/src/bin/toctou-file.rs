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
//! The lock files live in a temporary directory, removed at the end.

use clap::Parser;
use examples_race_conditions::toctou::{self, Create};
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "TOCTOU on a lock file across processes; create_new (O_EXCL) fixes it")]
struct Args {
    /// Processes racing for the lock file (2..=16).
    #[arg(long, default_value_t = 2, value_parser = lesson::at_least_one)]
    processes: usize,
    /// Rounds per way (at most 100).
    #[arg(long, default_value_t = 3, value_parser = lesson::at_least_one)]
    iterations: usize,
    #[arg(long, hide = true)]
    child_lock: Option<PathBuf>,
    #[arg(long, hide = true, value_enum, default_value_t = Create::CheckThenCreate)]
    child_mode: Create,
}

fn main() -> std::io::Result<()> {
    let args: Args = lesson::args();
    if let Some(path) = &args.child_lock {
        return toctou::child(path, args.child_mode, &std::process::id().to_string());
    }
    if !(2..=16).contains(&args.processes) || args.iterations > 100 {
        lesson::usage_error("--processes must be 2..=16 and --iterations at most 100");
    }
    let exe = std::env::current_exe()?;
    let dir = tempfile::Builder::new().prefix("toctou-file").tempdir()?;
    let (p, n) = (args.processes, args.iterations);
    // Print only after the temp dir is gone: `| head -1` may end us early.
    let mut report = vec![format!(
        "{p} processes, {n} rounds each: all check, then all create"
    )];
    let mut ok = true;
    for how in [Create::CheckThenCreate, Create::CreateNew] {
        let mut holders = Vec::new();
        for round in 0..n {
            let lock = dir.path().join(format!("round-{round}.{how:?}.lock"));
            let verdicts = toctou::race(&exe, p, |_| toctou::child_args(&lock, how))?;
            holders.push(verdicts.iter().filter(|v| v.holds).count());
        }
        // Check-then-create: every process holds it; create_new: exactly one.
        let want = if how == Create::CreateNew { 1 } else { p };
        ok &= holders.iter().all(|&h| h == want);
        let shown: Vec<String> = holders.iter().map(|h| h.to_string()).collect();
        report.push(format!(
            "  {:<44} holders per round: {}",
            how.label(),
            shown.join(" ")
        ));
    }
    let dir_path = dir.path().to_path_buf();
    dir.close()?;
    let gone = !dir_path.exists();
    report.push(format!(
        "  temp dir {} removed: {}",
        dir_path.display(),
        if gone { "yes" } else { "no" }
    ));
    report.push(
        "lesson: checking, then creating is two steps; create_new (O_EXCL) makes it one".into(),
    );
    println!("{}", report.join("\n"));
    if !ok || !gone {
        eprintln!(
            "error: check-then-create did not give every process the lock, or create_new did not give exactly one"
        );
        std::process::exit(1);
    }
    Ok(())
}
