//! Ctrl-C (or `kill`) while a program holds a named resource (a /dev/shm
//! name, a temp file): let it finish the short step it is in, clean up,
//! then exit 130 for `SIGINT`, 143 for `SIGTERM`.
//!
//! [`defer`] installs a handler for `SIGINT` and `SIGTERM` that only
//! records the signal (an atomic store, async-signal-safe), with
//! `SA_RESTART`, so blocking calls carry on. Every wait in these programs
//! has a deadline, so the program reaches its cleanup soon; then
//! [`stop_if_requested`] ends it with 128 + the signal number, as a shell
//! reports a death by that signal. (SIGKILL cannot be caught: what it
//! leaves, the next run sweeps; see [`crate::owned_name`].) Helper processes ignore both signals
//! ([`ignore`]; [`crate::child::spawn`] does it before exec): Ctrl-C
//! reaches the whole process group, and a helper killed by it halfway (a
//! creator that has not yet unlinked its name) would leak; their parent ends
//! them instead (and `PR_SET_PDEATHSIG` if the parent dies).
//!
//! Python: `KeyboardInterrupt` arrives at any bytecode, even inside a
//! `finally`, so cleanup on Ctrl-C is best-effort there.

use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL.store(sig, Ordering::SeqCst);
}

/// Records `SIGINT`/`SIGTERM` instead of dying of them.
pub fn defer() -> nix::Result<()> {
    install(SigHandler::Handler(on_signal))
}

/// Ignores `SIGINT`/`SIGTERM` (for helper processes).
pub fn ignore() -> nix::Result<()> {
    install(SigHandler::SigIgn)
}

fn install(handler: SigHandler) -> nix::Result<()> {
    let action = SigAction::new(handler, SaFlags::SA_RESTART, SigSet::empty());
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only performs an atomic store, which is
        // async-signal-safe (or the signal is ignored).
        unsafe { sigaction(sig, &action) }?;
    }
    Ok(())
}

/// A clap value parser for the programs' `--interrupt-self[=INT|TERM]`
/// test hook (which signal to send themselves).
pub fn parse_signal(name: &str) -> Result<Signal, String> {
    match name {
        "INT" => Ok(Signal::SIGINT),
        "TERM" => Ok(Signal::SIGTERM),
        other => Err(format!("{other:?}: INT or TERM")),
    }
}

/// The deferred signal, if one arrived.
pub fn requested() -> Option<Signal> {
    Signal::try_from(SIGNAL.load(Ordering::SeqCst)).ok()
}

/// After the cleanup: the deferred signal as the program's end (one line,
/// exit 128 + its number), or `Ok` if none arrived.
pub fn stop_if_requested() -> Result<(), lesson::Failure> {
    match requested() {
        Some(sig) => Err(lesson::Failure::interrupted(sig as i32)),
        None => Ok(()),
    }
}
