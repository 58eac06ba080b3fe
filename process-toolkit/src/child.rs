//! One owned child process: reaped exactly once, killed and reaped if
//! dropped, and it remembers how it ended.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// How a child ended, as a shell user reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// `_exit(code)` or a return from `main`.
    Exited(i32),
    /// Killed by a signal.
    Signaled(Signal),
}

impl Ended {
    /// The ending a wait status describes; `None` for a child that still
    /// runs, or was only stopped or continued.
    ///
    /// ```
    /// use nix::sys::{signal::Signal, wait::WaitStatus};
    /// use nix::unistd::Pid;
    /// use process_toolkit::Ended;
    ///
    /// let status = WaitStatus::Signaled(Pid::from_raw(9), Signal::SIGKILL, false);
    /// assert_eq!(Ended::from_status(status), Some(Ended::Signaled(Signal::SIGKILL)));
    /// assert_eq!(Ended::from_status(WaitStatus::StillAlive), None);
    /// ```
    pub fn from_status(status: WaitStatus) -> Option<Self> {
        match status {
            WaitStatus::Exited(_, code) => Some(Ended::Exited(code)),
            WaitStatus::Signaled(_, sig, _) => Some(Ended::Signaled(sig)),
            _ => None,
        }
    }
}

impl fmt::Display for Ended {
    /// `exited with code 3`, `was killed by SIGKILL (signal 9)`.
    ///
    /// ```
    /// use nix::sys::signal::Signal;
    /// use process_toolkit::Ended;
    ///
    /// assert_eq!(Ended::Signaled(Signal::SIGKILL).to_string(), "was killed by SIGKILL (signal 9)");
    /// assert_eq!(Ended::Exited(3).to_string(), "exited with code 3");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ended::Signaled(sig) => write!(f, "was killed by {sig} (signal {})", *sig as i32),
            Ended::Exited(code) => write!(f, "exited with code {code}"),
        }
    }
}

/// A child process this process forked, reaped exactly once.
///
/// Dropping an unreaped `Child` sends it `SIGKILL` and waits for it, so no
/// zombie outlives it. The status is remembered: asking again after the
/// child ended gives the same answer, and never reaps a stranger that
/// reused the pid.
///
/// ```
/// use process_toolkit::{Ended, fork_raw};
///
/// // SAFETY: the child only calls pause(2), which is async-signal-safe.
/// let mut child = unsafe { fork_raw(|| { libc::pause(); 0 }) }?;
/// assert_eq!(child.try_wait()?, None); // still running
/// child.kill_and_wait()?;
/// assert_eq!(child.ended(), Some(Ended::Signaled(nix::sys::signal::Signal::SIGKILL)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    status: Option<WaitStatus>,
}

impl Child {
    /// Takes ownership of `pid`, which must be a child of this process (a
    /// fork of ours, or an orphan reparented to us as a subreaper): only
    /// then is the pid pinned until we reap it, so that `Drop` cannot
    /// signal an unrelated process that reused the number.
    ///
    /// ```
    /// use process_toolkit::Child;
    ///
    /// let spawned = std::process::Command::new("true").spawn()?;
    /// let mut child = Child::adopt(nix::unistd::Pid::from_raw(spawned.id() as i32));
    /// std::mem::forget(spawned); // `child` reaps it now
    /// assert_eq!(child.wait_ended()?, process_toolkit::Ended::Exited(0));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn adopt(pid: Pid) -> Self {
        Self { pid, status: None }
    }

    /// The child's process id.
    ///
    /// ```
    /// // SAFETY: the child returns at once.
    /// let child = unsafe { process_toolkit::fork_raw(|| 0) }?;
    /// assert!(child.pid().as_raw() > 0);
    /// # Ok::<(), nix::Error>(())
    /// ```
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// How it ended, if it has been reaped (never blocks, never reaps).
    ///
    /// ```
    /// // SAFETY: the child returns at once.
    /// let mut child = unsafe { process_toolkit::fork_raw(|| 2) }?;
    /// assert_eq!(child.ended(), None); // not reaped yet
    /// child.wait()?;
    /// assert_eq!(child.ended(), Some(process_toolkit::Ended::Exited(2)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ended(&self) -> Option<Ended> {
        self.status.and_then(Ended::from_status)
    }

    /// Blocks until the child ends and returns its status (stops and
    /// continues are skipped; `EINTR` is retried).
    ///
    /// ```
    /// use nix::sys::wait::WaitStatus;
    ///
    /// // SAFETY: the child returns at once.
    /// let mut child = unsafe { process_toolkit::fork_raw(|| 7) }?;
    /// assert_eq!(child.wait()?, WaitStatus::Exited(child.pid(), 7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(&mut self) -> io::Result<WaitStatus> {
        loop {
            if let Some(status) = self.status {
                return Ok(status);
            }
            self.reap(None)?;
        }
    }

    /// [`wait`](Self::wait), as an [`Ended`].
    ///
    /// ```
    /// // SAFETY: the child returns at once.
    /// let mut child = unsafe { process_toolkit::fork_raw(|| 1) }?;
    /// assert_eq!(child.wait_ended()?, process_toolkit::Ended::Exited(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_ended(&mut self) -> io::Result<Ended> {
        let status = self.wait()?;
        Ended::from_status(status).ok_or_else(|| io::Error::other(format!("{status:?}")))
    }

    /// Reaps the child if it has ended, without blocking; `None` while it
    /// runs.
    ///
    /// ```
    /// // SAFETY: the child returns at once.
    /// let mut child = unsafe { process_toolkit::fork_raw(|| 0) }?;
    /// while child.try_wait()?.is_none() {
    ///     std::thread::sleep(std::time::Duration::from_millis(1));
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_wait(&mut self) -> io::Result<Option<WaitStatus>> {
        if self.status.is_none() {
            self.reap(Some(WaitPidFlag::WNOHANG))?;
        }
        Ok(self.status)
    }

    /// One `waitpid`; remembers the status if the child has ended.
    fn reap(&mut self, flags: Option<WaitPidFlag>) -> io::Result<()> {
        match waitpid(self.pid, flags) {
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                self.status = Some(status);
                Ok(())
            }
            Ok(_) | Err(Errno::EINTR) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits up to `limit` for the child to end; `None` if it still runs
    /// then (it keeps running). Polls with short sleeps, 20 us growing to
    /// 5 ms.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // SAFETY: the child returns at once.
    /// let mut child = unsafe { process_toolkit::fork_raw(|| 0) }?;
    /// assert!(child.wait_timeout(Duration::from_secs(10))?.is_some());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_timeout(&mut self, limit: Duration) -> io::Result<Option<WaitStatus>> {
        let deadline = Instant::now() + limit;
        let mut nap = Duration::from_micros(20);
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep(nap.min(deadline - now));
            nap = (nap * 2).min(Duration::from_millis(5));
        }
    }

    /// Waits up to `limit`; if the child still runs then, kills and reaps
    /// it. Returns how it ended and whether it had to be killed.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// // SAFETY: the child only calls pause(2).
    /// let mut child = unsafe { process_toolkit::fork_raw(|| { libc::pause(); 0 }) }?;
    /// let (_, killed) = child.wait_or_kill(Duration::from_millis(10))?;
    /// assert!(killed);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn wait_or_kill(&mut self, limit: Duration) -> io::Result<(WaitStatus, bool)> {
        match self.wait_timeout(limit)? {
            Some(status) => Ok((status, false)),
            None => Ok((self.kill_and_wait()?, true)),
        }
    }

    /// Sends `sig` to the child, unless it was already reaped (then the pid
    /// may belong to someone else, and nothing is sent).
    ///
    /// ```
    /// use nix::sys::signal::Signal;
    ///
    /// // SAFETY: the child only calls pause(2).
    /// let mut child = unsafe { process_toolkit::fork_raw(|| { libc::pause(); 0 }) }?;
    /// child.signal(Signal::SIGTERM)?;
    /// assert_eq!(child.wait_ended()?, process_toolkit::Ended::Signaled(Signal::SIGTERM));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        match self.status {
            Some(_) => Ok(()),
            None => Ok(signal::kill(self.pid, sig)?),
        }
    }

    /// Kills the child with `SIGKILL` (unless it already ended) and reaps it.
    ///
    /// ```
    /// // SAFETY: the child only calls pause(2).
    /// let mut child = unsafe { process_toolkit::fork_raw(|| { libc::pause(); 0 }) }?;
    /// child.kill_and_wait()?;
    /// assert!(child.ended().is_some());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn kill_and_wait(&mut self) -> io::Result<WaitStatus> {
        if self.status.is_none() {
            match signal::kill(self.pid, Signal::SIGKILL) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.wait()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.kill_and_wait();
    }
}
