//! Lost wake-up: a condition variable waited on after an `if` check of a
//! flag kept outside its mutex misses a notification sent in between.
//!
//! Notice: the notifier runs after the waiter checked the flag and before it
//! started waiting; `notify_one` with nobody waiting does nothing, so the
//! naive waiter sleeps until its timeout (forever, without one). Keeping the
//! flag under the mutex and waiting in a predicate loop (what
//! `Condvar::wait_while` does) sees the signal whenever it came. Python:
//! `threading.Condition` has the same rule; use `cond.wait_for(predicate)`.
//! Exit 1 if a claim fails, 71 if the notifier thread is refused.

use clap::Parser;
use examples_race_conditions::lost_wakeup::{self, Woke};
use lesson::Failure;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Lost wake-up: notify before wait is missed; a predicate loop fixes it")]
struct Args {
    /// How long a waiter waits before giving up, in ms.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    timeout_ms: u64,
    /// Rounds of the forced schedule (each costs the naive waiter its timeout).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    iterations: u32,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let timeout = Duration::from_millis(args.timeout_ms);
    let n = args.iterations;
    let (mut missed, mut woke) = (0, 0);
    let (mut naive_ms, mut fixed_ms) = (0.0, 0.0);
    for _ in 0..n {
        let started = Instant::now();
        missed += u32::from(lost_wakeup::forced_naive(timeout)? == Woke::TimedOut);
        naive_ms += started.elapsed().as_secs_f64() * 1e3 / f64::from(n);
        let started = Instant::now();
        woke += u32::from(lost_wakeup::forced_fixed(timeout)? == Woke::Signalled);
        fixed_ms += started.elapsed().as_secs_f64() * 1e3 / f64::from(n);
    }
    println!(
        "schedule: waiter checks, notifier notifies, waiter waits; {n} rounds, timeout {} ms",
        args.timeout_ms
    );
    println!(
        "  naive (if, flag outside the lock)    missed {missed} of {n}   mean wait {naive_ms:>8.1} ms"
    );
    println!(
        "  fixed (flag under lock, wait loop)   woke   {woke} of {n}   mean wait {fixed_ms:>8.1} ms"
    );
    println!(
        "lesson: a notify is not stored; wait in a loop on state guarded by the condvar's mutex (wait_while)"
    );
    match missed == n && woke == n {
        true => Ok(()),
        false => Err(Failure::claim(
            "the naive waiter caught the signal, or the fixed one missed it",
        )),
    }
}
