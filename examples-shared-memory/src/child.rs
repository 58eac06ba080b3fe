//! Child processes that never outlive the program, never hang it, and never
//! return into the parent's stack.
//!
//! [`fork`] runs a closure in a forked child, turns a panic into exit code
//! [`PANICKED`], and ends the child with `_exit`. [`spawn`] starts an
//! unrelated program (usually this one again, with a hidden role flag). Both
//! give the child `PR_SET_PDEATHSIG = SIGKILL`, so killing the program kills
//! its children too, and both hand back a guard that kills and reaps the
//! child if it is dropped unreaped: no zombies, no orphans. A spawned
//! helper also ignores Ctrl-C (see [`spawn`] and [`crate::interrupt`]).
//!
//! When to use: `fork` for a worker that inherits a [`SharedMapping`]
//! (Python's `multiprocessing` with the `fork` start method); `spawn` for a
//! second program that must find shared memory by name (the `spawn` method).
//!
//! [`SharedMapping`]: crate::mapping::SharedMapping

use std::io;
use std::os::fd::RawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use nix::unistd::{Pid, getpid};

/// Exit code of a forked child whose task panicked.
pub const PANICKED: i32 = process_toolkit::PANIC_EXIT;

/// A forked child ([`process_toolkit::Child`]): killed (SIGKILL) and
/// reaped on drop unless already reaped.
#[derive(Debug)]
pub struct Forked(process_toolkit::Child);

/// Forks; the child runs `task`, then `_exit`s with the code it returned
/// ([`PANICKED`] if it panicked), and dies with this process. The parent
/// gets a [`Forked`] guard.
///
/// Safe because [`process_toolkit::fork`] refuses to fork a process that
/// runs more than one thread (an error naming the thread count): the child
/// of a threaded process gets only the forking thread, and a lock another
/// thread held at that moment (the allocator's, stdout's) stays locked
/// forever in the child. A failed `fork` (out of processes or memory) is an
/// error too.
pub fn fork(task: impl FnOnce() -> i32) -> io::Result<Forked> {
    let child = process_toolkit::fork(process_toolkit::dying_with_parent(task))?;
    Ok(Forked(child))
}

/// Closes every descriptor of this process except stdin, stdout, stderr
/// and `keep`: what a forked child does first, so it holds none of its
/// siblings' pipe ends (`O_CLOEXEC` only acts on `exec`, which a forked
/// worker never calls). Uses `close_range(2)` and nothing else, so it is
/// async-signal-safe: fine in the child of a threaded process too.
pub fn close_other_fds(keep: &[RawFd]) -> io::Result<()> {
    // No allocation (the allocator's lock may be held in a child of a
    // threaded process): walk up from 3, closing the gaps between the
    // descriptors to keep.
    let mut from: u32 = 3;
    loop {
        let next = keep
            .iter()
            .filter_map(|&fd| u32::try_from(fd).ok())
            .filter(|&fd| fd >= from)
            .min();
        let last = next.map_or(u32::MAX, |fd| fd.wrapping_sub(1));
        if next != Some(from) {
            // SAFETY: close_range only closes descriptors of this process;
            // the caller keeps in `keep` every one it will use again.
            if unsafe { libc::syscall(libc::SYS_close_range, from, last, 0u32) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        match next {
            Some(fd) if fd < u32::MAX => from = fd + 1,
            _ => return Ok(()),
        }
    }
}

/// The descriptors this process (`None`) or process `pid` holds, from
/// `/proc/<pid>/fd`.
pub fn open_fds(pid: Option<Pid>) -> io::Result<Vec<RawFd>> {
    let dir = match pid {
        Some(pid) => format!("/proc/{pid}/fd"),
        None => "/proc/self/fd".to_string(),
    };
    let mut fds: Vec<RawFd> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    // For this process, leave out the descriptor `read_dir` itself used
    // (closed by now).
    if pid.is_none() {
        fds.retain(|&fd| fcntl_ok(fd));
    }
    Ok(fds)
}

fn fcntl_ok(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only asks whether `fd` is open.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Ends this process when `parent` dies (or is already gone).
fn die_with(parent: Pid) {
    if process_toolkit::die_with_parent(parent).is_err() {
        // SAFETY: the parent died before the death signal was armed; end
        // now, without unwinding into the caller.
        unsafe { libc::_exit(process_toolkit::EXIT_PARENT_GONE) }
    }
}

impl Forked {
    /// The child's process id.
    pub fn pid(&self) -> Pid {
        self.0.pid()
    }

    /// How the child ended, reaping it if it just did; `None` while it
    /// runs. Never blocks; asking again after it ended gives the same answer.
    pub fn try_wait(&mut self) -> io::Result<Option<WaitStatus>> {
        self.0.try_wait()
    }

    /// Waits for the child to end, however long that takes.
    pub fn wait(&mut self) -> io::Result<WaitStatus> {
        self.0.wait()
    }

    /// Kills the child (if it still runs) and reaps it.
    pub fn kill_and_wait(&mut self) -> io::Result<WaitStatus> {
        self.0.kill_and_wait()
    }

    /// Waits for the child to end, at most `limit`; after that the child is
    /// killed, reaped, and the result is a `TimedOut` error.
    pub fn wait_timeout(&mut self, limit: Duration) -> io::Result<WaitStatus> {
        match self.0.wait_or_kill(limit)? {
            (status, false) => Ok(status),
            (_, true) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("child {} still running after {limit:?}, killed", self.pid()),
            )),
        }
    }

    /// Waits (at most `limit`) and requires exit code 0.
    pub fn join(mut self, limit: Duration) -> io::Result<()> {
        match self.wait_timeout(limit)? {
            WaitStatus::Exited(_, 0) => Ok(()),
            status => Err(io::Error::other(format!("child ended with {status:?}"))),
        }
    }
}

/// A spawned program; killed and reaped on drop unless already reaped.
#[derive(Debug)]
pub struct Spawned {
    child: std::process::Child,
    reaped: bool,
}

/// Spawns `cmd` with piped stdin and stdout (stderr inherited) and
/// `PR_SET_PDEATHSIG = SIGKILL`. The child ignores `SIGINT` and `SIGTERM`
/// from the start (an ignored signal stays ignored across exec): Ctrl-C
/// reaches the whole process group, and a helper killed by it halfway could
/// leak what it holds; its parent ends it instead.
pub fn spawn(cmd: &mut Command) -> io::Result<Spawned> {
    let parent = getpid();
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    // SAFETY: the hook runs in the child between fork and exec and calls
    // only prctl, getppid, _exit and sigaction, which are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            die_with(parent);
            for sig in [Signal::SIGINT, Signal::SIGTERM] {
                nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigIgn)?;
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| {
        let program = Path::new(cmd.get_program()).display().to_string();
        io::Error::new(e.kind(), format!("cannot start {program}: {e}"))
    })?;
    Ok(Spawned {
        child,
        reaped: false,
    })
}

impl Spawned {
    /// The child's process id.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// The `std` child, to take its stdin/stdout.
    pub fn inner(&mut self) -> &mut std::process::Child {
        &mut self.child
    }

    /// Waits at most `limit`; after that kills, reaps and returns `TimedOut`.
    pub fn wait_timeout(&mut self, limit: Duration) -> io::Result<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.reaped = true;
                return Ok(status);
            }
            if Instant::now() >= deadline {
                self.kill_and_reap();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("child {} still running after {limit:?}, killed", self.pid()),
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Sends SIGKILL and reaps; returns the signal that ended the child.
    pub fn kill(&mut self) -> io::Result<Option<i32>> {
        self.child.kill()?;
        let status = self.child.wait()?;
        self.reaped = true;
        Ok(status.signal())
    }

    fn kill_and_reap(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.reaped = true;
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// Sets this process's core-dump size limit to 0, so a child that is meant
/// to die of SIGBUS or SIGSEGV leaves no `core` file behind.
pub fn disable_core_dumps() -> io::Result<()> {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads the struct we pass and changes only this
    // process's limit.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
