//! Ctrl-C and `kill` for `compare`: stop the Python run cleanly, then exit
//! 128 + the signal, as a shell reports it: 130 for `SIGINT`, 143 for
//! `SIGTERM`.
//!
//! The Python script runs in its own process group (so a timeout can stop
//! it and every pool worker it forked at once), which also means a Ctrl-C
//! in the terminal does not reach it. [`install`] catches `SIGINT` and
//! `SIGTERM`; the handler stops the Python run so that CPython cleans up
//! (see [`stop_group`]: its shared memory and named semaphores are
//! unlinked), then `_exit(128 + signal)`s. The Rust pool workers and ipc peers die
//! with us: they set `PR_SET_PDEATHSIG`.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

/// The Python process group to stop, 0 when none runs.
static GROUP: AtomicI32 = AtomicI32::new(0);

/// Installs the handler for `SIGINT` and `SIGTERM`.
pub fn install() -> io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_signal` only makes async-signal-safe calls (atomic
        // load, write, kill, waitpid, nanosleep, _exit); the sigaction
        // struct is zeroed and then filled in before use.
        let r = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut())
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Remembers the Python group (its leader's pid) until [`forget`].
pub(crate) fn watch(group: i32) {
    GROUP.store(group, Ordering::SeqCst);
}

/// The Python group is gone.
pub(crate) fn forget() {
    GROUP.store(0, Ordering::SeqCst);
}

extern "C" fn on_signal(sig: libc::c_int) {
    let msg = b"compare: interrupted, stopping\n";
    // SAFETY: write(2) and _exit are async-signal-safe; `msg` is valid.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
    }
    let group = GROUP.load(Ordering::SeqCst);
    if group > 0 {
        stop_group(group);
    }
    // SAFETY: ends the process at once, as a handler must; no destructors.
    unsafe { libc::_exit(128 + sig) }
}

/// Stops the Python group led by `group`, in three steps, so that
/// CPython's own cleanup runs:
///
/// 1. `SIGINT` to the script alone: `KeyboardInterrupt` runs its `finally`
///    blocks and terminates its pools. (Sent to the whole group it would
///    also hit the pool workers, and `Pool.terminate` can then hang.)
/// 2. After up to 1.5 s, `SIGTERM` to the group: everything stops except
///    CPython's resource tracker, which ignores it and, once the others are
///    gone, unlinks the semaphores and shared memory they left registered.
/// 3. After up to 1.5 s more, `SIGKILL` to whatever is left.
///
/// Only async-signal-safe calls, so the signal handler can use it.
pub fn stop_group(group: i32) {
    // SAFETY: kill, waitpid and nanosleep on plain integers; `group` is
    // the script's pid and `-group` exactly the group we created for it.
    unsafe {
        let empty = || {
            libc::waitpid(group, std::ptr::null_mut(), libc::WNOHANG);
            libc::kill(-group, 0) != 0
        };
        let wait = |empty: &dyn Fn() -> bool| {
            let pause = libc::timespec {
                tv_sec: 0,
                tv_nsec: 20_000_000,
            };
            for _ in 0..75 {
                if empty() {
                    return true;
                }
                libc::nanosleep(&pause, std::ptr::null_mut());
            }
            false
        };
        libc::kill(group, libc::SIGINT);
        if wait(&empty) {
            return;
        }
        libc::kill(-group, libc::SIGTERM);
        if wait(&empty) {
            return;
        }
        libc::kill(-group, libc::SIGKILL);
    }
}
