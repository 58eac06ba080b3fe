//! Ctrl-C (`SIGINT`) and `SIGTERM` while a program holds something it must
//! clean up (a temp dir, child processes): record the signal instead of
//! dying of it, let the program finish the short step it is in, clean up,
//! and end with [`Failure::interrupted`] (exit 130 or 143).
//!
//! The handler ([`process_toolkit::stop_signal`]'s) only stores the signal
//! number in an atomic (async-signal-safe), installed with `SA_RESTART`, so
//! blocking calls carry on; every wait in such a program must be short or
//! have a deadline, so that it reaches [`check`] soon.
//!
//! ```no_run
//! fn run() -> Result<(), lesson::Failure> {
//!     lesson::interrupt::defer()?;
//!     for _round in 0..10 {
//!         lesson::interrupt::check()?; // Err(exit 128 + signal) once one came
//!         // ... one short step ...
//!     }
//!     Ok(())
//! }
//! ```

use std::io;

use crate::Failure;

/// Records `SIGINT` and `SIGTERM` from now on instead of dying of them
/// (the flag is [`process_toolkit::stop_signal`]'s, with `SA_RESTART`).
pub fn defer() -> io::Result<()> {
    process_toolkit::stop_signal::install_restarting().map_err(io::Error::from)
}

/// The deferred signal's number, if one arrived.
pub fn requested() -> Option<i32> {
    process_toolkit::stop_signal::received().map(|sig| sig as i32)
}

/// `Err(`[`Failure::interrupted`]`)` once a deferred signal arrived; call
/// it between steps, and return it after (or instead of) an error that the
/// signal caused (a child killed by the same Ctrl-C, say).
pub fn check() -> Result<(), Failure> {
    match requested() {
        Some(sig) => Err(Failure::interrupted(sig)),
        None => Ok(()),
    }
}
