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

use anyhow::{Context, Result, bail, ensure};
use clap::{Parser, ValueEnum};
use crossbeam_channel::{RecvTimeoutError, bounded};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[arg(long, hide = true)]
    child: Option<Mode>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Detached,
    Joined,
}

const MARKER: &str = "marker: worker cleaned up";

struct Guard;
impl Drop for Guard {
    fn drop(&mut self) {
        println!("{MARKER}");
        let _ = std::io::stdout().flush();
    }
}

fn child(mode: Mode) {
    let (stop, stopped) = bounded::<()>(0);
    let worker = thread::spawn(move || {
        let _guard = Guard;
        while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(Duration::from_millis(5)) {
            println!("tick");
        }
    });
    thread::sleep(Duration::from_millis(50));
    match mode {
        Mode::Joined => {
            drop(stop); // the worker's recv sees Disconnected and returns
            let _ = worker.join();
        }
        // Never signalled, like a daemon thread: keep the sender alive past
        // the end of `main`, which returns with the worker still looping.
        Mode::Detached => std::mem::forget(stop),
    }
}

/// Runs this program as `--child mode`; returns its stdout.
fn run(mode: &str) -> Result<String> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["--child", mode])
        .stdout(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the {mode} child did not exit within 10 s");
        }
        thread::sleep(Duration::from_millis(5));
    }
    let mut out = String::new();
    child
        .stdout
        .take()
        .context("no stdout")?
        .read_to_string(&mut out)?;
    Ok(out)
}

fn main() -> Result<()> {
    let args: Args = lesson::args();
    if let Some(mode) = args.child {
        child(mode);
        return Ok(());
    }
    let mut seen = Vec::new();
    for mode in ["detached", "joined"] {
        let out = run(mode)?;
        let (ticks, marker) = (
            out.lines().filter(|l| *l == "tick").count(),
            out.contains(MARKER),
        );
        println!(
            "{mode:<9} worker ticked {ticks:>3} times; Drop marker {}",
            if marker { "printed" } else { "NEVER printed" }
        );
        seen.push((ticks, marker));
    }
    ensure!(
        seen[0].0 > 0 && !seen[0].1,
        "the detached worker's Drop ran (or it never ran at all)"
    );
    ensure!(seen[1].1, "the joined worker's Drop did not run");
    println!(
        "lesson: a thread nobody joins dies mid-step at exit; signal it to stop and join it to run its cleanup"
    );
    Ok(())
}
