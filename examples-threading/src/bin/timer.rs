//! A cancellable timer: a thread waits in `select!` on the deadline
//! (`crossbeam_channel::after`) and on a cancel channel, whichever is first.
//!
//! Notice: the short timer fires after its delay (not before); the long one
//! is cancelled long before its delay and its action never runs, and
//! `cancel` returns at once because the timer thread wakes on the cancel
//! message instead of sleeping out the delay (checked: well under half the
//! delay, a wide margin for a loaded machine). Reach for it for watchdogs,
//! timeouts and debouncing. Python: `threading.Timer(delay, fn)` with
//! `cancel()`.

use clap::Parser;
use examples_threading::{timer::Timer, verdict::claim};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Delay of the timer that fires, in ms.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=5000))]
    fire_ms: u64,
    /// Delay of the timer that is cancelled, in ms.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1000..=600_000))]
    cancel_ms: u64,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), lesson::Failure> {
    let args: Args = lesson::args();
    let (fire, cancel) = (
        Duration::from_millis(args.fire_ms),
        Duration::from_millis(args.cancel_ms),
    );

    let start = Instant::now();
    let rang = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&rang);
    let fired = Timer::start(fire, move || flag.store(true, SeqCst))?.join();
    let after = start.elapsed();
    println!(
        "timer {:>6} ms   fired: {fired:<5}  after {:>8.1} ms",
        args.fire_ms,
        after.as_secs_f64() * 1e3
    );
    claim(
        fired && rang.load(SeqCst) && after >= fire,
        "the short timer did not fire after its delay",
    )?;

    let rang = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&rang);
    let timer = Timer::start(cancel, move || flag.store(true, SeqCst))?;
    std::thread::sleep(Duration::from_millis(10));
    let start = Instant::now();
    let cancelled = timer.cancel();
    let took = start.elapsed();
    println!(
        "timer {:>6} ms   cancelled: {cancelled:<5}  cancel() took {:>8.3} ms, action ran: {}",
        args.cancel_ms,
        took.as_secs_f64() * 1e3,
        rang.load(SeqCst)
    );
    claim(
        cancelled && !rang.load(SeqCst),
        "the cancelled timer ran its action",
    )?;
    claim(
        took < cancel / 2,
        "cancel() waited out the delay instead of waking the timer",
    )?;
    println!(
        "lesson: select! on the deadline and a cancel channel makes a sleep that can be interrupted"
    );
    Ok(())
}
