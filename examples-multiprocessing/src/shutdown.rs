//! Stopping a pool program cleanly: only the parent decides.
//!
//! Ctrl-C reaches every process in the terminal's foreground process
//! group, and `kill -TERM -PGID` (a supervisor stopping a service, a shell
//! killing a job) every process in the group. If the workers died of
//! those signals on their own, the parent would meet a pool of dead and
//! freshly replaced workers in the middle of its shutdown. So the workers
//! ignore both ([`ignore_stop_signals`], the pool's initializer) and the
//! parent, which catches them as a flag, stops handing out work, closes
//! the workers' pipes, waits with a deadline and reaps every one.
//! A worker still dies with a parent that is SIGKILLed (`PR_SET_PDEATHSIG`).
//!
//! Python: `Pool(initializer=lambda: signal.signal(signal.SIGINT,
//! signal.SIG_IGN))`, then `pool.terminate(); pool.join()` on
//! `KeyboardInterrupt`.

use nix::sys::signal::{SigHandler, Signal, signal};

/// A pool initializer: this worker ignores `SIGINT` and `SIGTERM`, so a
/// signal to the whole process group stops only the parent, which then
/// shuts the pool down.
///
/// ```no_run
/// let pool = process_pool::Pool::builder(2)
///     .initializer(examples_multiprocessing::shutdown::ignore_stop_signals)
///     .build()?;
/// # Ok::<(), process_pool::Error>(())
/// ```
pub fn ignore_stop_signals() {
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: installing SIG_IGN runs no code of ours.
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
}
