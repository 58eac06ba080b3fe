//! Detached ("daemon") threads versus stop-and-join, shown in a child
//! process so that the end of `main` can be watched from outside.
//!
//! [`child`] is what the child does: a worker thread owns a guard whose
//! `Drop` prints [`MARKER`] and prints `tick` until it is told to stop.
//! With [`Mode::Joined`] the child drops the stop sender and joins the
//! worker, so the marker appears; with [`Mode::Detached`] `main` returns
//! with the worker still looping, the process exits under it, and the
//! marker never appears. [`run_child`] runs the program's own executable as
//! `--child <mode>` with a deadline and returns what it printed.

use anyhow::{Context, Result, bail};
use crossbeam_channel::{RecvTimeoutError, bounded};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The line the worker's guard prints when it is dropped.
pub const MARKER: &str = "marker: worker cleaned up";

/// How the child ends its worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Never signalled, like a Python daemon thread.
    Detached,
    /// Signalled to stop, then joined.
    Joined,
}

/// Prints [`MARKER`] when dropped: the cleanup a killed thread never runs.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        println!("{MARKER}");
        let _ = std::io::stdout().flush();
    }
}

/// The child's side: start a ticking worker, let it run 50 ms, then end it
/// as `mode` says and return (the caller returns from `main` right after).
/// Fails if the system refuses the worker thread.
pub fn child(mode: Mode) -> std::io::Result<()> {
    let (stop, stopped) = bounded::<()>(0);
    let worker = thread::Builder::new().spawn(move || {
        let _guard = Guard;
        while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(Duration::from_millis(5)) {
            println!("tick");
        }
    })?;
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
    Ok(())
}

/// Runs this program as `--child <mode>` and returns its stdout; kills and
/// reaps it if it does not exit within 10 s.
pub fn run_child(mode: &str) -> Result<String> {
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
    let mut stdout = child.stdout.take().context("no stdout")?;
    stdout.read_to_string(&mut out)?;
    Ok(out)
}
