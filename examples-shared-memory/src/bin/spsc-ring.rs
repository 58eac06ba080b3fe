//! A lock-free ring buffer in shared memory moves messages between two
//! processes many times faster than a pipe: no system call per message.
//!
//! Notice: small messages gain most (a pipe pays a `write` and a `read` per
//! message, the ring a few atomic operations); large ones gain less (a pipe
//! copies twice through the kernel, the ring copies in and out of memory
//! both processes map, each byte crossing from one core's cache to the
//! other's). Two baselines: the `1 thread` row, like for like, is one
//! thread doing all the stream's work but the crossing (each message
//! stamped and copied into the same ring, copied out and verified at once,
//! on one core); the `memcpy` row is the copy in alone (each message copied
//! once into a buffer of the ring's size, nothing received or verified),
//! well above either. With
//! `--same-core` everything runs again with both processes on one CPU: the
//! ring still works, and a round trip costs no more than a pipe's, because
//! a side that finds the ring empty or full yields the CPU to its peer
//! (then sleeps on a futex) instead of spinning for a peer that needs its
//! CPU to run.
//! Exit 0 needs every message intact and in order (sequence number +
//! checksum, counted by the consumer; else exit 1) and, loosely, less CPU
//! time per small message for the ring than for the pipe: a release build
//! checks that (CPU time, unlike wall time, does not grow on a busy machine;
//! measured up to 3 times, "not checked" on a busy machine; missed: exit 3,
//! as a small ring that fills and empties often spends its savings
//! spinning). The wall-clock targets (64 KiB ring >= 0.8x memcpy and >= 4x
//! pipe, 64 B >= 10x pipe, a round trip >= 10x faster than a pipe's, and
//! on one core no slower) are printed, not enforced: each stream runs 3
//! times and the fastest counts. Reach for it for high-rate IPC between
//! processes you control. Python: `multiprocessing.Queue` pickles through a
//! pipe, like the baseline here.

use std::process::ExitCode;

use clap::Parser;
use examples_shared_memory::measure::{self, Verdict};
use examples_shared_memory::ring::stream::StreamError;
use examples_shared_memory::ring_vs_pipe::{Count, Plan};
use lesson::Failure;

/// Exit code when every message arrived intact but the ring did not cost
/// less CPU per small message than the pipe.
const SPEED_CLAIM_MISSED: i32 = 3;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    plan: Plan,
    /// Also run everything with both processes pinned to one CPU.
    #[arg(long)]
    same_core: bool,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let Args { plan, same_core } = lesson::args();
    plan.check().map_err(Failure::usage)?;
    let mut count = Count::default();
    let (figures, verdict) = measure::speed_claim(
        || plan.measure_both(same_core, &mut count),
        |both| both.any.cpu_x() > 1.0,
    )
    .map_err(|e| match e {
        StreamError::Io(e) => Failure::from(e), // the system refused: 71
        lost => Failure::claim(lesson::one_line(&lost)), // a message lost or damaged: 1
    })?;
    print!("{}", figures.report());
    let Count { messages, streams } = count;
    println!("intact and in order: {messages} messages in {streams} streams");
    if let Some(note) = verdict.note("the CPU claim") {
        println!("{note}");
    }
    println!("lesson: a shared-memory ring skips the kernel per message; idle sides sleep");
    if verdict == Verdict::Missed {
        let line = "the ring did not cost less CPU per small message than the pipe";
        return Err(Failure::with_code(SPEED_CLAIM_MISSED, line));
    }
    Ok(())
}
