//! A panicking thread: the panic hook sees it first (the counterpart of
//! `threading.excepthook`), `join` returns it as an `Err`, and a `Mutex` it
//! held is left poisoned.
//!
//! Notice: the hook names the thread and the message, and the program keeps
//! running: a panic ends only its own thread. The next `lock()` returns
//! `Err(PoisonError)`, a warning that the data may be half-updated (here the
//! transfer took money from one account and panicked before crediting the
//! other). `into_inner` gets at the data anyway, to check or repair it, and
//! `clear_poison` marks it fixed. Reach for the hook to log or count crashes
//! in threads nobody joins. Python: `threading.excepthook`; Python locks are
//! never poisoned, a `with lock:` block just releases the lock on the way out
//! and leaves the half-done update behind silently.

use examples_threading::thread_pool::panic_message;
use examples_threading::verdict::claim;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(clap::Parser)]
struct Args {}

static HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), lesson::Failure> {
    let _: Args = lesson::args();
    // The hook runs inside a panic, so it must not panic itself (println!
    // would, on a full stdout); the main thread's panics (such as that full
    // stdout) go on to the hook that was there before.
    let before = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let name = thread::current().name().unwrap_or("<unnamed>").to_string();
        if name == "main" {
            return before(info);
        }
        HOOK_CALLS.fetch_add(1, SeqCst);
        let message = panic_message(info.payload());
        let _ = writeln!(
            std::io::stdout(),
            "excepthook   thread '{name}' panicked: {message}"
        );
    }));

    let accounts = Arc::new(Mutex::new([100_i64, 0]));
    let worker = {
        let accounts = Arc::clone(&accounts);
        thread::Builder::new()
            .name("transfer".into())
            .spawn(move || {
                let mut balances = accounts.lock().unwrap_or_else(|e| e.into_inner());
                balances[0] -= 40;
                panic!("network error before crediting the other account");
            })?
    };
    let joined = worker.join();
    let message = joined.as_ref().err().map(|p| panic_message(p.as_ref()));
    let shown = message
        .as_deref()
        .map_or("Ok".into(), |m| format!("Err(\"{m}\")"));
    println!("join         {shown}");

    let poisoned = accounts.lock().is_err();
    let balances = *accounts.lock().unwrap_or_else(|e| e.into_inner());
    let state = if poisoned { "Err(PoisonError)" } else { "Ok" };
    let total: i64 = balances.iter().sum();
    println!("lock()       {state} ; data inside: {balances:?}, total {total} of 100");
    {
        let mut repair = accounts.lock().unwrap_or_else(|e| e.into_inner());
        repair[0] += 40; // undo the half-done transfer
    }
    accounts.clear_poison();
    let after = accounts.lock().is_ok();
    let state = if after { "Ok again" } else { "still Err" };
    println!("repaired     clear_poison(), lock() is {state}");

    let hook_calls = HOOK_CALLS.load(SeqCst);
    claim(
        hook_calls == 1,
        format_args!("the panic hook ran {hook_calls} times, want 1"),
    )?;
    claim(
        message.as_deref() == Some("network error before crediting the other account"),
        "join did not return the panic",
    )?;
    claim(
        poisoned && balances == [60, 0] && after,
        "the lock was not poisoned and repaired as expected",
    )?;
    println!(
        "lesson: a panic ends only its thread; join reports it, and a lock it held stays poisoned until repaired"
    );
    Ok(())
}
