//! Ctrl-C (`SIGINT`) and `SIGTERM` while a program holds something it must
//! clean up (a temp dir, child processes): record the signal instead of
//! dying of it, let the program finish the short step it is in, clean up,
//! and end with [`Failure::interrupted`] (exit 130 or 143).
//!
//! The handler only stores the signal number in an atomic (async-signal-
//! safe), installed with `SA_RESTART`, so blocking calls carry on; every
//! wait in such a program must be short or have a deadline, so that it
//! reaches [`check`] soon.
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
use std::sync::atomic::{AtomicI32, Ordering};

use crate::Failure;

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL.store(sig, Ordering::SeqCst);
}

/// Records `SIGINT` and `SIGTERM` from now on instead of dying of them.
pub fn defer() -> io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: an all-zero sigaction is a valid value (empty mask, no
        // flags); the handler set below only performs an atomic store,
        // which is async-signal-safe.
        let result = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &action, std::ptr::null_mut())
        };
        if result != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The deferred signal's number, if one arrived.
pub fn requested() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
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
