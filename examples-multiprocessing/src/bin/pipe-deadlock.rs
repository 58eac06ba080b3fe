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
//! exceed the pipe's capacity and the draining run read everything; else 1.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use clap::Parser;
use examples_multiprocessing::fork::{describe, fork_single_threaded};
use examples_multiprocessing::pipes::{capacity, drain_and_wait, queued};
use examples_multiprocessing::zombies::stat;
use nix::fcntl::OFlag;
use nix::unistd::pipe2;

/// A child filling a pipe nobody reads stalls; draining while waiting fixes it. Exits 0 when the claim held, 1 when not, 2 on a bad flag.
#[derive(Parser)]
struct Args {
    /// Bytes the child writes (1-67108864).
    #[arg(long, default_value_t = 256 * 1024, value_parser = clap::value_parser!(u64).range(1..=64 << 20))]
    bytes: u64,
    /// How long the parent waits before calling it a stall, in ms (10-60000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    timeout_ms: u64,
}

fn main() -> std::process::ExitCode {
    examples_multiprocessing::fork::exit_code(run())
}

fn run() -> Result<()> {
    let args: Args = lesson::args();
    let (bytes, limit) = (args.bytes as usize, Duration::from_millis(args.timeout_ms));
    let mut ok = true;
    for drain in [false, true] {
        let (rx, tx) = pipe2(OFlag::O_CLOEXEC)?;
        let cap = capacity(&rx)?;
        // This program is single-threaded: the child may allocate and loop.
        let reader = rx.as_raw_fd();
        let mut child = fork_single_threaded(|| {
            // SAFETY: closes this process's copy of the read end (its
            // `OwnedFd` is never used or dropped here), so that if the
            // parent dies the blocked write fails instead of waiting forever.
            unsafe { libc::close(reader) };
            let data = vec![b'x'; bytes];
            let mut sent = 0;
            while sent < bytes {
                match nix::unistd::write(&tx, &data[sent..]) {
                    Ok(n) => sent += n,
                    Err(_) => return 1,
                }
            }
            0
        })?;
        drop(tx); // only the child writes now, so its exit means EOF
        let pid = child.pid();
        let start = Instant::now();
        if drain {
            let got = drain_and_wait(&mut child, rx, limit)?;
            let ms = start.elapsed().as_secs_f64() * 1e3;
            println!(
                "read while waiting: child pid {pid:<7} {}, read {} of {bytes} bytes in {ms:.1} ms",
                describe(got.status),
                got.bytes
            );
            ok &= !got.killed
                && got.bytes == bytes
                && got.status == nix::sys::wait::WaitStatus::Exited(pid, 0);
        } else {
            let stalled = child.wait_timeout(limit)?.is_none();
            let (state, waiting) = (stat(pid).map(|s| s.state), queued(&rx)?);
            let status = child.kill_and_reap()?;
            println!("pipe capacity:      {cap} bytes; the child writes {bytes}");
            println!(
                "wait, then read:    child pid {pid:<7} {} {} ms (state {}, {waiting} bytes queued) -> {}",
                if stalled {
                    "STALLED: still running after"
                } else {
                    "exited within"
                },
                args.timeout_ms,
                state.map_or("gone".to_string(), String::from),
                describe(status)
            );
            ok &= stalled == (bytes > cap);
        }
    }
    ensure!(ok, "the pipe did not behave as predicted");
    println!(
        "lesson: a parent must read a child's pipe while it waits (communicate), not after: a full pipe blocks the writer forever"
    );
    Ok(())
}
