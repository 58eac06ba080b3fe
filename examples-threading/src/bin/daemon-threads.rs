//! A detached thread is killed when `main` returns: it stops mid-loop and
//! its destructors (`Drop`) never run. The fix signals it to stop and joins.
//!
//! Notice: the program runs itself twice as a child process. In both, a
//! worker thread owns a guard whose `Drop` prints `marker: worker cleaned
//! up`. The detached child's worker was alive (it printed ticks) but the
//! marker never appears: the process exited under it. The fixed child drops
//! its stop sender and joins the worker, which sees the channel close,
//! returns and prints the marker. Checked from the children's output. Reach
//! for stop-and-join for any thread that owns something to flush or close.
//! Python: `daemon=True` threads are killed at exit without running their
//! `finally` blocks; non-daemon threads are joined.

use clap::Parser;
use examples_threading::daemon::{self, MARKER, Mode};
use examples_threading::verdict::claim;
use std::process::ExitCode;

#[derive(Parser)]
struct Args {
    #[arg(long, hide = true)]
    child: Option<Mode>,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), lesson::Failure> {
    let args: Args = lesson::args();
    if let Some(mode) = args.child {
        return Ok(daemon::child(mode)?);
    }
    let mut seen = Vec::new();
    for mode in ["detached", "joined"] {
        let out =
            daemon::run_child(mode).map_err(|e| lesson::Failure::system(lesson::one_line(&*e)))?;
        let ticks = out.lines().filter(|l| *l == "tick").count();
        let marker = out.contains(MARKER);
        let shown = if marker { "printed" } else { "NEVER printed" };
        println!("{mode:<9} worker ticked {ticks:>3} times; Drop marker {shown}");
        seen.push((ticks, marker));
    }
    claim(
        seen[0].0 > 0 && !seen[0].1,
        "the detached worker's Drop ran (or it never ran at all)",
    )?;
    claim(seen[1].1, "the joined worker's Drop did not run")?;
    println!(
        "lesson: a thread nobody joins dies mid-step at exit; signal it to stop and join it to run its cleanup"
    );
    Ok(())
}
