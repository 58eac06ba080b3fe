//! Zombies and orphans, read from `/proc`.
//!
//! A child that has exited but has not been waited for stays in the process
//! table as a zombie (state `Z`, "defunct" in `ps`) until its parent calls
//! `waitpid`. A child whose parent dies is an orphan: it keeps running,
//! adopted by init or by the nearest ancestor that declared itself a child
//! subreaper (`PR_SET_CHILD_SUBREAPER`), unless it asked to be signalled
//! when its parent dies (`PR_SET_PDEATHSIG`).
//!
//! [`Family`] builds the orphan case: a middle process with worker children
//! of its own, which the caller can kill to orphan the workers.
//!
//! Python: `multiprocessing` reaps finished children whenever you call
//! `active_children()`; a worker of a killed parent lives on (daemonic
//! children die only when the parent exits normally).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::{Pid, getpid, getppid, pipe2};

use crate::fork::{Child, Ending, arm_watchdog, dies_with_parent, fork, report};

/// Seconds a [`Family`] member lives at most, even if nobody kills it and
/// the caller stays alive: a backstop behind the lifeline (see [`Family`]).
pub const FAMILY_LIFETIME_SECS: u32 = 5;

/// What `/proc/<pid>/stat` says about a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// `R` running, `S` sleeping, `Z` zombie, ... (see `proc(5)`).
    pub state: char,
    /// The parent's pid.
    pub ppid: Pid,
}

impl std::fmt::Display for Stat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "state {}, parent {}", self.state, self.ppid)
    }
}

/// `state Z, parent 42`, or `gone from /proc` once the process is reaped.
pub fn describe(stat: Option<Stat>) -> String {
    stat.map_or_else(|| "gone from /proc".to_string(), |s| s.to_string())
}

/// Reads `/proc/<pid>/stat`; `None` once the process is gone (reaped).
pub fn stat(pid: Pid) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses the text of `/proc/<pid>/stat`. The command name (field 2) may
/// contain spaces and parentheses, so fields are counted from the last `)`.
///
/// ```
/// use examples_multiprocessing::zombies::{describe, parse_stat};
///
/// let zombie = parse_stat("4242 (my (odd) worker) Z 4200 4200 4200 0 -1");
/// assert_eq!(describe(zombie), "state Z, parent 4200");
/// ```
pub fn parse_stat(text: &str) -> Option<Stat> {
    let mut rest = text.get(text.rfind(')')? + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = Pid::from_raw(rest.next()?.parse().ok()?);
    Some(Stat { state, ppid })
}

/// Polls `stat(pid)` every few milliseconds until `done` holds for it (a
/// gone process reads as `None`) or `limit` passes; returns the last read.
pub fn wait_until(
    pid: Pid,
    limit: Duration,
    mut done: impl FnMut(Option<Stat>) -> bool,
) -> Option<Stat> {
    let deadline = Instant::now() + limit;
    loop {
        let now = stat(pid);
        if done(now) || Instant::now() >= deadline {
            return now;
        }
        sleep(Duration::from_millis(5));
    }
}

/// Whether this process has any child left, running or zombie (asked
/// with `waitid(P_ALL, WNOHANG | WNOWAIT)`, which reaps nothing).
pub fn has_children() -> bool {
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    !matches!(waitid(Id::All, flags), Err(Errno::ECHILD))
}

/// Forks `children` children that exit at once and leaves them unwaited:
/// each shows as a zombie (`Z` in `/proc`, within `limit`) until
/// `waitpid` reaps it, and then is gone. Prints a line per child and per
/// reaping, and returns whether every state and status was as predicted.
/// The calling process must be single-threaded (the fork checks).
pub fn zombies_until_reaped(children: usize, limit: Duration) -> io::Result<bool> {
    let zombies: Result<Vec<Child>, _> = (0..children)
        .map(|_| fork(dies_with_parent(|| 0)))
        .collect();
    let (mut zombies, mut ok) = (zombies?, true);
    for child in &zombies {
        let seen = wait_until(child.pid(), limit, |s| s.is_some_and(|s| s.state == 'Z'));
        let pid = child.pid();
        println!(
            "unwaited child pid {pid:<7} exited, not waited for: {} (a zombie)",
            describe(seen)
        );
        ok &= seen.is_some_and(|s| s.state == 'Z');
    }
    for child in &mut zombies {
        ok &= report("reaped with waitpid", child, Ending::Exit(0), limit)?;
    }
    let left = zombies.iter().filter(|c| stat(c.pid()).is_some()).count();
    println!("after waitpid: {left} of {} left in /proc", zombies.len());
    Ok(ok && left == 0)
}

/// A middle process and its workers (the caller's grandchildren), which
/// wait until killed. Create it in a single-threaded process that called
/// `nix::sys::prctl::set_child_subreaper(true)`, so orphaned workers are
/// adopted by the caller, which can then reap them ([`Child::adopt`]).
///
/// However the caller ends, its family ends with it within moments: the
/// middle dies with the caller (`PR_SET_PDEATHSIG`, armed by
/// [`crate::fork`]), and every worker waits by reading a lifeline, a pipe
/// whose write end only the caller holds, so the read returns end-of-file
/// (and the worker exits) once the caller is gone, even when a worker was
/// orphaned on purpose and has no death signal. Dropping the `Family` kills
/// and reaps the middle and closes the lifeline.
#[derive(Debug)]
pub struct Family {
    /// The middle process.
    pub middle: Child,
    /// The workers' pids.
    pub workers: Vec<Pid>,
    /// The write end of the workers' lifeline; nothing is ever written.
    _lifeline: OwnedFd,
}

impl Family {
    /// Forks the middle process, which forks `workers` waiting workers.
    /// With `deathsig`, each worker sets `PR_SET_PDEATHSIG` to it (so it
    /// dies with the middle); without, each clears it, as a plain `fork`
    /// leaves it, and is orphaned when the middle dies.
    pub fn start(workers: usize, deathsig: Option<Signal>) -> io::Result<Self> {
        let (rx, tx) = pipe2(OFlag::O_CLOEXEC)?;
        let (lifeline_rx, lifeline_tx) = pipe2(OFlag::O_CLOEXEC)?;
        let caller_ends = [rx.as_raw_fd(), lifeline_tx.as_raw_fd()];
        let middle = fork(dies_with_parent(|| {
            for fd in caller_ends {
                // SAFETY: closes this process's copies of the caller's ends
                // (the pid pipe's read end and the lifeline's write end, so
                // that only the caller keeps the lifeline open); the
                // `OwnedFd`s holding them are never used or dropped here.
                unsafe { libc::close(fd) };
            }
            arm_watchdog(FAMILY_LIFETIME_SECS);
            let me = getpid();
            for _ in 0..workers {
                // Single-threaded middle: the worker may run any code. It
                // reports its pid only once armed, so that the caller cannot
                // kill the middle before the worker's PDEATHSIG is set.
                let worker = fork(|| {
                    // A plain fork arms no death signal; this lesson sets its own or none.
                    let armed = match deathsig {
                        Some(sig) => process_toolkit::signal_when_parent_dies(me, sig).is_ok(),
                        None => getppid() == me,
                    };
                    if !armed {
                        return 1; // the middle died before we armed it
                    }
                    arm_watchdog(FAMILY_LIFETIME_SECS);
                    if nix::unistd::write(&tx, &getpid().as_raw().to_le_bytes()).is_err() {
                        return 3;
                    }
                    wait_for_eof(&lifeline_rx);
                    0
                });
                let Ok(worker) = worker else { return 2 };
                std::mem::forget(worker); // the workers must outlive the middle
            }
            wait_for_eof(&lifeline_rx);
            0
        }))?;
        drop(tx);
        let mut rx = File::from(rx);
        let mut pids = Vec::with_capacity(workers);
        for _ in 0..workers {
            let mut raw = [0_u8; 4];
            rx.read_exact(&mut raw)
                .map_err(|e| io::Error::new(e.kind(), "the middle process died early"))?;
            pids.push(Pid::from_raw(i32::from_le_bytes(raw)));
        }
        Ok(Self {
            middle,
            workers: pids,
            _lifeline: lifeline_tx,
        })
    }
}

/// Blocks until `fd` reads end-of-file (or fails): the lifeline's owner is
/// gone.
fn wait_for_eof(fd: &OwnedFd) {
    let mut byte = [0_u8; 1];
    while let Ok(1..) | Err(Errno::EINTR) = nix::unistd::read(fd, &mut byte) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parens() {
        let text = "42 (a (weird) name) Z 1 42 42 0 -1 4194316 0 0";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                state: 'Z',
                ppid: Pid::from_raw(1)
            })
        );
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(describe(parse_stat(text)), "state Z, parent 1");
        assert_eq!(describe(None), "gone from /proc");
    }

    #[test]
    fn this_process_is_running_and_known() {
        let me = stat(getpid()).unwrap();
        assert!(matches!(me.state, 'R' | 'S'), "{me:?}");
        assert_eq!(me.ppid, getppid());
    }
}
