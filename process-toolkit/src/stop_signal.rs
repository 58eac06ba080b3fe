//! Turning Ctrl-C (`SIGINT`) and `SIGTERM` into a flag the main loop checks.
//!
//! A signal handler may only do async-signal-safe things, so this one only
//! stores the signal number in atomics. It is installed without
//! `SA_RESTART`, so a blocking `poll` or `read` returns `EINTR` at once and
//! the loop around it sees the flag: the program then stops handing out
//! work, cleans up, and exits with [`exit_code`] (130 for `SIGINT`, 143 for
//! `SIGTERM`, as shells report).
//!
//! Python: `signal.signal(signal.SIGINT, handler)`, or catching
//! `KeyboardInterrupt`.
//!
//! ```
//! use process_toolkit::stop_signal;
//!
//! stop_signal::install()?;
//! while !stop_signal::requested() {
//!     // ... one bounded step of work ...
//! #   break;
//! }
//! if let Some(sig) = stop_signal::received() {
//!     std::process::exit(stop_signal::exit_code(sig));
//! }
//! # Ok::<(), nix::Error>(())
//! ```

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

static SIGNAL: AtomicI32 = AtomicI32::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    // Only atomic stores: async-signal-safe.
    SIGNAL.store(sig, Ordering::SeqCst);
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the flag-setting handler for `SIGINT` and `SIGTERM`.
///
/// ```
/// process_toolkit::stop_signal::install()?;
/// # Ok::<(), nix::Error>(())
/// ```
pub fn install() -> nix::Result<()> {
    install_with(SaFlags::empty())
}

/// [`install`], but with `SA_RESTART`: a blocking call that the signal
/// interrupts carries on instead of failing with `EINTR`. For a program
/// whose every wait is short or has a deadline, so that it reaches its
/// next [`requested`] check soon without handling `EINTR` everywhere.
///
/// ```
/// process_toolkit::stop_signal::install_restarting()?;
/// # Ok::<(), nix::Error>(())
/// ```
pub fn install_restarting() -> nix::Result<()> {
    install_with(SaFlags::SA_RESTART)
}

fn install_with(flags: SaFlags) -> nix::Result<()> {
    let action = SigAction::new(SigHandler::Handler(on_signal), flags, SigSet::empty());
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: `on_signal` only performs atomic stores, which are
        // async-signal-safe; no other handler state is replaced unsafely.
        unsafe { sigaction(sig, &action) }?;
    }
    Ok(())
}

/// Whether a stop signal has arrived.
///
/// ```
/// assert!(!process_toolkit::stop_signal::requested());
/// ```
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// The flag itself, set by the handler: for code that watches an
/// `AtomicBool` (a pool's cancellation token can watch it).
///
/// ```
/// use std::sync::atomic::Ordering;
/// assert!(!process_toolkit::stop_signal::flag().load(Ordering::SeqCst));
/// ```
pub fn flag() -> &'static AtomicBool {
    &STOP
}

/// The stop signal that arrived, if any.
///
/// ```
/// assert_eq!(process_toolkit::stop_signal::received(), None);
/// ```
pub fn received() -> Option<Signal> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// Sends this process a real `SIGINT` after `delay`, from a kernel timer
/// (`timer_create`), so a test or demo can interrupt itself without a
/// helper thread. Timers are not inherited by forked children.
///
/// ```no_run
/// process_toolkit::stop_signal::install()?;
/// process_toolkit::stop_signal::interrupt_after(std::time::Duration::from_millis(10))?;
/// std::thread::sleep(std::time::Duration::from_millis(50));
/// assert!(process_toolkit::stop_signal::requested());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn interrupt_after(delay: Duration) -> std::io::Result<()> {
    // SAFETY: an all-zero sigevent is a valid starting value; the fields
    // set below ask for SIGINT to the process when the timer fires.
    let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
    event.sigev_notify = libc::SIGEV_SIGNAL;
    event.sigev_signo = libc::SIGINT;
    let mut timer: libc::timer_t = std::ptr::null_mut();
    // SAFETY: `event` and `timer` are valid for the call to read and fill.
    if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut timer) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let when = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: delay.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(delay.subsec_nanos()).max(1),
        },
    };
    // SAFETY: `timer` was just created; `when` is a valid itimerspec; the
    // old value is not wanted (null).
    if unsafe { libc::timer_settime(timer, 0, &when, std::ptr::null_mut()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The conventional exit status after a fatal signal: 128 + its number.
///
/// ```
/// use nix::sys::signal::Signal;
/// assert_eq!(process_toolkit::stop_signal::exit_code(Signal::SIGINT), 130);
/// ```
pub fn exit_code(sig: Signal) -> i32 {
    128 + sig as i32
}
