//! Ctrl-C and `kill` for `compare`: stop the Python run cleanly, then exit
//! 130.
//!
//! The Python script runs in its own process group (so a timeout can stop
//! it and every pool worker it forked at once), which also means a Ctrl-C
//! in the terminal does not reach it. [`install`] catches `SIGINT` and
//! `SIGTERM`; the handler sends the Python group `SIGINT` (so its `finally`
//! blocks unlink their shared-memory segments), waits up to 2 s, `SIGKILL`s
//! what is left and `_exit(130)`s. The Rust pool workers and ipc peers die
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

extern "C" fn on_signal(_sig: libc::c_int) {
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
    unsafe { libc::_exit(130) }
}

/// `SIGINT` to the group led by `group`, up to 2 s for it to finish (its
/// leader reaped on the way), then `SIGKILL` to whatever is left. Only
/// async-signal-safe calls, so the signal handler can use it.
pub(crate) fn stop_group(group: i32) {
    // SAFETY: kill, waitpid and nanosleep on plain integers; `-group`
    // addresses exactly the group we created for the script.
    unsafe {
        libc::kill(-group, libc::SIGINT);
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: 20_000_000,
        };
        for _ in 0..100 {
            libc::waitpid(group, std::ptr::null_mut(), libc::WNOHANG);
            if libc::kill(-group, 0) != 0 {
                return;
            }
            libc::nanosleep(&pause, std::ptr::null_mut());
        }
        libc::kill(-group, libc::SIGKILL);
    }
}
