//! Ctrl-C and `kill` for `compare`: stop the Python run cleanly, then exit
//! 128 + the signal, as a shell reports it: 130 for `SIGINT`, 143 for
//! `SIGTERM`.
//!
//! The Python script runs in its own process group (so a timeout can stop
//! it and every pool worker it forked at once), which also means a Ctrl-C
//! in the terminal does not reach it. [`install`] catches `SIGINT` and
//! `SIGTERM`; the handler stops the Python run so that CPython cleans up
//! (see [`lesson::python::stop_group`]: its shared memory and named semaphores are
//! unlinked), then `_exit(128 + signal)`s. The Rust pool workers and ipc peers die
//! with us: they set `PR_SET_PDEATHSIG`.

use std::io;

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

extern "C" fn on_signal(sig: libc::c_int) {
    let msg = b"compare: interrupted, stopping\n";
    // SAFETY: write(2) and _exit are async-signal-safe; `msg` is valid.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
    }
    lesson::python::stop_running();
    // SAFETY: ends the process at once, as a handler must; no destructors.
    unsafe { libc::_exit(128 + sig) }
}
