//! A pipe deadlock: the child writes more than the pipe holds while the
//! parent waits for it to exit before reading. Both wait forever.
//!
//! Notice: the child is still running at the deadline, blocked in `write`
//! with exactly one pipe's capacity (64 KiB) queued; reading while waiting
//! gets every byte and a clean exit. Writes that fit in the pipe do not
//! stall, which is why this bug hides until the output grows. Reach for
//! "drain, then wait" whenever a child writes to a pipe you read. Python:
//! `Popen.wait()` with `stdout=PIPE` deadlocks the same way; use
//! `communicate()`. Exits 0 when the stall happened exactly when the bytes
//! exceed the pipe's capacity and the draining run read everything; else 1;
//! 71 when the system refuses a pipe or process.

use std::time::{Duration, Instant};

use clap::Parser;
use examples_multiprocessing::fork::describe;
use examples_multiprocessing::pipes::{capacity, drain_and_wait, fork_writer, queued};
use examples_multiprocessing::zombies::stat;
use lesson::Failure;
use nix::sys::wait::WaitStatus;

/// A child filling a pipe nobody reads stalls; draining while waiting fixes it.
#[derive(Parser)]
struct Args {
    /// Bytes the child writes.
    #[arg(long, default_value_t = 256 * 1024, value_parser = clap::value_parser!(u64).range(1..=64 << 20))]
    bytes: u64,
    /// How long the parent waits before calling it a stall, in ms.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=20_000))]
    timeout_ms: u64,
}

fn main() -> std::process::ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let (bytes, limit, ms) = (
        args.bytes as usize,
        Duration::from_millis(args.timeout_ms),
        args.timeout_ms,
    );

    // The bug: wait for the child to exit, then read.
    let (mut child, rx) = fork_writer(bytes)?;
    let (cap, pid) = (capacity(&rx)?, child.pid());
    let stalled = child.wait_timeout(limit)?.is_none();
    let (state, waiting) = (stat(pid).map(|s| s.state), queued(&rx)?);
    let status = child.kill_and_wait()?;
    let state = state.map_or("gone".to_string(), String::from);
    let verdict = if stalled {
        "STALLED: still running after"
    } else {
        "exited within"
    };
    println!("pipe capacity:      {cap} bytes; the child writes {bytes}");
    println!(
        "wait, then read:    child pid {pid:<7} {verdict} {ms} ms (state {state}, {waiting} bytes queued) -> {}",
        describe(status)
    );
    let mut ok = stalled == (bytes > cap);

    // The fix: read while waiting.
    let (mut child, rx) = fork_writer(bytes)?;
    let (pid, start) = (child.pid(), Instant::now());
    let got = drain_and_wait(&mut child, rx, limit)?;
    let took = start.elapsed().as_secs_f64() * 1e3;
    println!(
        "read while waiting: child pid {pid:<7} {}, read {} of {bytes} bytes in {took:.1} ms",
        describe(got.status),
        got.bytes
    );
    ok &= !got.killed && got.bytes == bytes && got.status == WaitStatus::Exited(pid, 0);
    if !ok {
        return Err(Failure::claim("the pipe did not behave as predicted"));
    }
    println!(
        "lesson: a parent must read a child's pipe while it waits (communicate), not after: a full pipe blocks the writer forever"
    );
    Ok(())
}
