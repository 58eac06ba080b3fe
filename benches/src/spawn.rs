//! What it costs to start one unit of work somewhere else and wait for it:
//! a thread, a scoped thread, rayon's pool, a forked process, a new program.
//!
//! Every way returns the unit's answer (a child process returns it as its
//! exit code), so the caller can check it. Python: `threading.Thread(...)
//! .start(); .join()` against `multiprocessing.Process` (fork or spawn) and
//! `subprocess.run(["true"])`.
//!
//! [`Spawn::Reexec`] runs the current executable again with [`CHILD_ENV`]
//! set; every `main` that can be re-run this way must call
//! [`exit_if_child`] first.
//!
//! ```
//! use benches::spawn::{Spawn, expected, start};
//! assert_eq!(start(Spawn::Thread, 7).unwrap(), expected(7));
//! assert_eq!(start(Spawn::Rayon, 7).unwrap(), expected(7));
//! ```

use std::hint::black_box;
use std::io;
use std::process::Command;

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

/// Set in the environment of a re-run executable; its value is the exit
/// code the child returns at once.
pub const CHILD_ENV: &str = "BENCHES_SPAWN_CHILD";

/// Ways to run one unit of work and wait for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spawn {
    /// `std::thread::spawn` + `join`.
    Thread,
    /// `std::thread::scope` with one scoped thread.
    Scope,
    /// `rayon::join` of the unit and a second, empty closure.
    Rayon,
    /// `fork`, the child `_exit`s with the answer, the parent `waitpid`s.
    Fork,
    /// `Command::new("/bin/true")`: fork + exec of a tiny program.
    Command,
    /// The current executable again (`current_exe`), as `spawn` start
    /// methods do.
    Reexec,
}

impl Spawn {
    /// Every way, cheapest first.
    pub const ALL: [Spawn; 6] = [
        Spawn::Thread,
        Spawn::Scope,
        Spawn::Rayon,
        Spawn::Fork,
        Spawn::Command,
        Spawn::Reexec,
    ];

    /// A short label for tables and benchmark ids.
    pub fn label(self) -> &'static str {
        match self {
            Spawn::Thread => "thread::spawn + join",
            Spawn::Scope => "thread::scope",
            Spawn::Rayon => "rayon::join",
            Spawn::Fork => "fork + waitpid",
            Spawn::Command => "Command /bin/true",
            Spawn::Reexec => "re-run current exe",
        }
    }
}

/// The unit of work: a tiny computation whose answer fits an exit code.
pub fn unit(x: u8) -> u8 {
    black_box(x).wrapping_mul(3).wrapping_add(1) & 0x7f
}

/// What [`start`] returns for `x`, whichever way it ran: [`unit()`] of `x`.
pub fn expected(x: u8) -> u8 {
    unit(x)
}

/// Starts the unit of work on `x` the given way, waits for it and returns
/// its answer. A forked or re-run child returns it as its exit code;
/// `Command` runs `/bin/true`, whose success is mapped to `unit(x)`.
pub fn start(how: Spawn, x: u8) -> io::Result<u8> {
    match how {
        Spawn::Thread => std::thread::spawn(move || unit(x))
            .join()
            .map_err(|_| io::Error::other("thread panicked")),
        Spawn::Scope => Ok(std::thread::scope(|s| s.spawn(|| unit(x)).join())
            .map_err(|_| io::Error::other("thread panicked"))?),
        Spawn::Rayon => Ok(rayon::join(|| unit(x), || ()).0),
        Spawn::Fork => fork_unit(x),
        Spawn::Command => {
            let status = Command::new("/bin/true").status()?;
            if status.success() {
                Ok(unit(x))
            } else {
                Err(io::Error::other(format!("/bin/true: {status}")))
            }
        }
        Spawn::Reexec => {
            let status = Command::new(std::env::current_exe()?)
                .env(CHILD_ENV, unit(x).to_string())
                .status()?;
            status
                .code()
                .map(|c| c as u8)
                .ok_or_else(|| io::Error::other(format!("re-run child: {status}")))
        }
    }
}

fn fork_unit(x: u8) -> io::Result<u8> {
    // SAFETY: the child only computes on a stack value and calls `_exit`,
    // both async-signal-safe, so forking while other threads run (rayon,
    // criterion, the test harness) cannot deadlock it on a lock they hold.
    match unsafe { fork() }? {
        ForkResult::Child => {
            let code = unit(x);
            // SAFETY: `_exit` ends the child without running the parent's
            // atexit handlers or destructors, and never returns.
            unsafe { libc::_exit(i32::from(code)) }
        }
        ForkResult::Parent { child } => match waitpid(child, None)? {
            WaitStatus::Exited(_, code) => Ok(code as u8),
            other => Err(io::Error::other(format!("forked child: {other:?}"))),
        },
    }
}

/// Exits at once with the code in [`CHILD_ENV`] when this process is a
/// [`Spawn::Reexec`] child. Call it first thing in `main`.
pub fn exit_if_child() {
    if let Some(code) = std::env::var_os(CHILD_ENV) {
        let code = code.to_str().and_then(|c| c.parse().ok()).unwrap_or(1);
        std::process::exit(code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fork is not tested here (no fork inside #[test]); the benches and
    // `compare` run it in their own processes.
    #[test]
    fn threads_and_command_return_the_answer() {
        for how in [Spawn::Thread, Spawn::Scope, Spawn::Rayon, Spawn::Command] {
            assert_eq!(start(how, 200).unwrap(), expected(200), "{how:?}");
        }
    }
}
