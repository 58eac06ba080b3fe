//! An event: threads wait for one flag; `set` releases them all at once,
//! `clear` lowers it again, and `wait_timeout` says whether it was set.
//!
//! Notice: the waiters block until the main thread sets the event, and each
//! one checks that the work it waited for was published before it woke.
//! After `clear`, a wait with a timeout returns `false` after about the
//! timeout (checked: not before it, and less than 10 s after, a margin for a
//! loaded machine); a waiter that arrives after `set` does not block at all.
//! Reach for an event for "start", "stop" or "ready" signals; to pass data,
//! use a channel. Python: `threading.Event` (`set`, `clear`, `is_set`,
//! `wait(timeout)`).

use clap::Parser;
use examples_threading::{event::Event, spawn::together, verdict::claim};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Threads waiting on the event.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    waiters: u16,
    /// Timeout of the wait on the cleared event, in ms.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=5000))]
    timeout_ms: u64,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), lesson::Failure> {
    let args: Args = lesson::args();
    let waiters = usize::from(args.waiters);
    let start = Event::new();
    let published = AtomicBool::new(false);
    let (early, woken) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let waiter = |_| {
        if start.wait_timeout(Duration::from_secs(30)) {
            woken.fetch_add(1, SeqCst);
        }
        if !published.load(SeqCst) {
            early.fetch_add(1, SeqCst); // woke before the set
        }
    };
    together(waiters, waiter, || {
        thread::sleep(Duration::from_millis(20)); // let them block
        published.store(true, SeqCst);
        start.set();
    })?;
    let (woken, early) = (woken.load(SeqCst), early.load(SeqCst));
    println!("set          woke {woken} of {waiters} waiters, {early} woke before the set");
    claim(
        woken == waiters && early == 0,
        "set did not wake every waiter exactly after it",
    )?;

    let late = Instant::now();
    let late_ok = start.wait_timeout(Duration::from_secs(10));
    let ms = late.elapsed().as_secs_f64() * 1e3;
    println!("wait after set returns {late_ok} in {ms:.3} ms (the flag stays up)");
    claim(late_ok, "a waiter arriving after set blocked")?;

    start.clear();
    let timeout = Duration::from_millis(args.timeout_ms);
    let t = Instant::now();
    let got = start.wait_timeout(timeout);
    let (took, is_set) = (t.elapsed(), start.is_set());
    let (asked, ms) = (args.timeout_ms, took.as_secs_f64() * 1e3);
    println!("clear        is_set() = {is_set}, wait_timeout({asked} ms) = {got} after {ms:.1} ms");
    claim(
        !got && took >= timeout && took < timeout + Duration::from_secs(10),
        "wait_timeout on a cleared event misbehaved",
    )?;
    println!(
        "lesson: an event is a flag under a lock: set wakes every waiter, clear re-arms it, a timeout says false"
    );
    Ok(())
}
