//! Ctrl-C (or `kill`) while a program holds a named resource (a /dev/shm
//! name, a temp file): the programs defer `SIGINT` and `SIGTERM` with
//! [`lesson::interrupt`] (the one signal-to-flag of the programs), finish
//! the short step they are in, clean up, then exit 130 or 143. Every wait
//! in them has a deadline, so they reach their cleanup soon. (SIGKILL
//! cannot be caught: what it leaves, the next run sweeps; see
//! [`crate::owned_name`].) Helper processes ignore both signals
//! ([`crate::child::spawn`] does it before exec): Ctrl-C reaches the whole
//! process group, and a helper killed by it halfway (a creator that has not
//! yet unlinked its name) would leak; their parent ends them instead (and
//! `PR_SET_PDEATHSIG` if the parent dies).
//!
//! What is left here is the programs' test hook: which signal
//! `--interrupt-self` sends.
//!
//! Python: `KeyboardInterrupt` arrives at any bytecode, even inside a
//! `finally`, so cleanup on Ctrl-C is best-effort there.

use nix::sys::signal::Signal;

/// A clap value parser for the programs' `--interrupt-self[=INT|TERM]`
/// test hook (which signal to send themselves).
pub fn parse_signal(name: &str) -> Result<Signal, String> {
    match name {
        "INT" => Ok(Signal::SIGINT),
        "TERM" => Ok(Signal::SIGTERM),
        other => Err(format!("{other:?}: INT or TERM")),
    }
}
