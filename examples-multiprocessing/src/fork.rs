//! Forking a child that is always reaped, and a watchdog for children that
//! may hang.
//!
//! [`fork_single_threaded`] is the safe way in: it refuses to fork unless the
//! calling process runs exactly one thread, so the child may run any Rust
//! code. [`fork_async_safe`] is the `unsafe` way for a multi-threaded parent,
//! where the child may only make async-signal-safe calls (other threads'
//! locks, including malloc's and stdout's, are copied in whatever state they
//! were in, and their owners do not exist in the child).
//!
//! Either way the child's closure returns an exit code and the child ends in
//! `_exit`: it never returns into the caller's stack and never runs the
//! parent's atexit handlers or flushes its copy of the parent's buffers. A
//! panic in the child becomes exit code [`PANIC_EXIT`].
//!
//! Either way, too, the child dies with its parent: before its closure runs
//! it sets `PR_SET_PDEATHSIG` to `SIGKILL`, so however the parent ends
//! (even by `SIGKILL`, when no cleanup code runs) the kernel kills the
//! child, and a child stuck on purpose in a lesson cannot outlive it. A
//! child that wants to outlive its parent (an orphan, on purpose) clears it
//! with `nix::sys::prctl::set_pdeathsig(None)`. The signal follows the
//! parent *thread* that forked, not the whole process: fork from the thread
//! that lives as long as the process (the main thread).
//!
//! The parent gets a [`Child`], which owns the process: it waits for it
//! ([`Child::wait`], [`Child::wait_timeout`]) and, if dropped unwaited,
//! kills it with `SIGKILL` and reaps it, so no zombie outlives it.
//!
//! Python: `os.fork()` + `os.waitpid()`; `multiprocessing` with the `fork`
//! start method does this for you. Since Python 3.14 that is no longer the
//! default on Linux: `multiprocessing` and `ProcessPoolExecutor` start
//! workers with `forkserver`, and code that needs fork (a child that
//! inherits the parent's memory) must ask for it, with
//! `multiprocessing.get_context("fork")` or `mp_context=`. Python 3.12
//! already warns (`DeprecationWarning`) when a process with threads forks.
//!
//! ```no_run
//! use nix::sys::wait::WaitStatus;
//! use examples_multiprocessing::fork::fork_single_threaded;
//!
//! let mut child = fork_single_threaded(|| 7)?;
//! assert_eq!(child.wait()?, WaitStatus::Exited(child.pid(), 7));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicU64;
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{self, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, alarm, getpid};

/// Exit code of a child whose closure panicked (the same code a Rust
/// program exits with after an uncaught panic on its main thread).
pub const PANIC_EXIT: i32 = 101;

/// Exit code of a child whose parent died before the child could arm its
/// death signal (it was already an orphan, so it ends at once). Nobody but
/// init reads it.
pub const PARENT_GONE: i32 = 1;

/// Exit code a lesson program uses when the claim it demonstrates did not
/// hold on this run (bad flags exit [`lesson::USAGE`], 2).
pub const CLAIM_FAILED: i32 = 1;

/// Ends a lesson program: `Ok` exits 0; an error prints one line,
/// `error: ` and the error with its causes, on stderr and exits
/// [`CLAIM_FAILED`] (no backtrace, whatever `RUST_BACKTRACE` says).
///
/// The older way to end, still used by the pool programs; new programs end
/// through `lesson::main` and `lesson::Failure` (exit 71 when the system
/// refuses a process, 74 when stdout cannot be written).
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(CLAIM_FAILED as u8)
        }
    }
}

/// Why a fork was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    /// The process runs other threads, so a child could inherit their held
    /// locks; see [`fork_async_safe`].
    #[error(
        "refusing to fork: this process runs {0} threads (fork copies their held locks into the child)"
    )]
    Threaded(usize),
    /// `fork(2)` itself failed (`EAGAIN`: process limit, `ENOMEM`).
    #[error("fork failed: {0}")]
    Fork(#[from] Errno),
    /// Making the pipe to talk to the child failed (`EMFILE`: too many
    /// open files).
    #[error("cannot make a pipe: {0}")]
    Pipe(Errno),
    /// Counting threads in `/proc/self/task` failed.
    #[error("cannot count this process's threads: {0}")]
    Proc(#[from] io::Error),
}

/// Number of threads in the calling process, from `/proc/self/task`.
pub fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// Forks a child that runs `child` and exits with the code it returns.
///
/// Refused with [`ForkError::Threaded`] unless this process runs exactly
/// one thread: then the child is a complete copy and may allocate, lock,
/// print, or panic. Stdout is flushed before the fork, so the child does
/// not inherit (and print a second time) half-written output, and again
/// before the child's `_exit`, so its own output is not lost.
pub fn fork_single_threaded<F: FnOnce() -> i32>(child: F) -> Result<Child, ForkError> {
    let threads = thread_count()?;
    if threads != 1 {
        return Err(ForkError::Threaded(threads));
    }
    let _ = io::stdout().flush();
    // SAFETY: the process has exactly one thread (checked just above, and
    // only this thread could start another), so the child is a full copy
    // with no lock held by a thread that is missing in it.
    Ok(unsafe {
        fork_async_safe(|| {
            let code = child();
            let _ = io::stdout().flush(); // `_exit` would drop a partial line
            code
        })
    }?)
}

/// Forks a child that runs `child` and `_exit`s with the code it returns,
/// whatever threads the parent runs. The child dies with the calling thread
/// (`PR_SET_PDEATHSIG`, see the module docs).
///
/// # Safety
///
/// If the parent runs other threads, `child` must only make
/// async-signal-safe calls (see `signal-safety(7)`): no allocation, no
/// `println!`, no locks, no `std::process::exit`, and no captured value
/// whose drop frees memory (a `Vec` moved in is dropped in the child). The
/// raw system calls that nix wraps (`write`, `close`, `kill`, `alarm`,
/// `execv` with arguments prepared before the fork, ...) are fine.
pub unsafe fn fork_async_safe<F: FnOnce() -> i32>(child: F) -> nix::Result<Child> {
    let parent = getpid();
    // SAFETY: the caller upholds the async-signal-safety contract for what
    // runs in the child; the child never returns from this function.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { child } => Ok(Child::adopt(child)),
        ForkResult::Child => {
            // `die_with_parent` makes two plain system calls (async-signal-
            // safe). If the parent died before the signal was armed, this
            // child was already re-parented: end now instead of living on.
            if process_toolkit::die_with_parent(parent).is_err() {
                // SAFETY: `_exit` is async-signal-safe.
                unsafe { libc::_exit(PARENT_GONE) }
            }
            // No allocation happens here unless `child` panics, and then
            // the panic machinery already broke the contract.
            let code = catch_unwind(AssertUnwindSafe(child)).unwrap_or(PANIC_EXIT);
            // SAFETY: `_exit` is async-signal-safe and ends the process
            // without running the parent's destructors or atexit handlers.
            unsafe { libc::_exit(code) }
        }
    }
}

/// Watchdog for a child that is expected to finish: long enough never to
/// fire on a loaded machine, short enough that a real hang still ends.
pub const FINISH_WATCHDOG_SECS: u32 = 30;

/// Arms a watchdog in the calling process: in `seconds` the kernel sends
/// `SIGALRM`, whose default action kills the process, so a parent that
/// waits sees `WaitStatus::Signaled(pid, SIGALRM, false)` instead of a
/// hang. Restores the default action and unblocks the signal first.
///
/// Async-signal-safe (`sigaction`, `sigprocmask` and `alarm` are on the
/// list): call it first thing in a child forked from a threaded parent.
pub fn arm_watchdog(seconds: u32) {
    // SAFETY: installing SIG_DFL runs no handler code of ours.
    let _ = unsafe { signal::signal(Signal::SIGALRM, signal::SigHandler::SigDfl) };
    let mut set = SigSet::empty();
    set.add(Signal::SIGALRM);
    let _ = signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
    alarm::set(seconds.max(1));
}

/// One `u64` in an anonymous `MAP_SHARED` page: made before `fork`, parent
/// and child see the same word (ordinary heap memory would be copied).
/// Unmapped on drop.
#[derive(Debug)]
pub struct SharedU64 {
    page: std::ptr::NonNull<libc::c_void>,
}

impl SharedU64 {
    const LEN: std::num::NonZeroUsize = std::num::NonZeroUsize::new(4096).unwrap();

    /// Maps a fresh zeroed shared page.
    pub fn new() -> nix::Result<Self> {
        use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous};
        // SAFETY: a fresh anonymous mapping at an address the kernel picks
        // aliases no Rust object.
        let page = unsafe {
            mmap_anonymous(
                None,
                Self::LEN,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }?;
        Ok(Self { page })
    }

    /// The shared word; other processes may change it at any time, so it is
    /// only ever reached as an atomic.
    pub fn word(&self) -> &AtomicU64 {
        // SAFETY: the page is mapped, zeroed, page-aligned (so aligned for
        // u64) and lives as long as `self`; all access is atomic.
        unsafe { AtomicU64::from_ptr(self.page.as_ptr().cast::<u64>()) }
    }
}

impl Drop for SharedU64 {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours, and no `&AtomicU64` borrowed from
        // `self` can outlive this call.
        let _ = unsafe { nix::sys::mman::munmap(self.page, Self::LEN.get()) };
    }
}

/// A child process this process forked, reaped exactly once.
///
/// Dropping an unreaped `Child` sends it `SIGKILL` and waits for it.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    status: Option<WaitStatus>,
}

impl Child {
    /// Takes ownership of `pid`, which must be a child of this process (a
    /// fork of ours, or an orphan reparented to us as a child subreaper):
    /// only then is the pid pinned until we reap it, so that `Drop` cannot
    /// signal an unrelated process that reused the number.
    pub fn adopt(pid: Pid) -> Self {
        Self { pid, status: None }
    }

    /// The child's process id.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Blocks until the child ends and returns how it ended (cached: a
    /// second call returns the same status).
    pub fn wait(&mut self) -> nix::Result<WaitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        loop {
            match waitpid(self.pid, None) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e),
                Ok(status) => {
                    self.status = Some(status);
                    return Ok(status);
                }
            }
        }
    }

    /// Reaps the child if it has ended, without blocking.
    pub fn try_wait(&mut self) -> nix::Result<Option<WaitStatus>> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        match waitpid(self.pid, Some(WaitPidFlag::WNOHANG))? {
            WaitStatus::StillAlive => Ok(None),
            status => {
                self.status = Some(status);
                Ok(Some(status))
            }
        }
    }

    /// Waits up to `limit` for the child to end; `None` if it still runs.
    /// Polls with short sleeps (1 ms growing to 10 ms), good enough for
    /// lessons; a pool would use a pidfd or `SIGCHLD` instead.
    pub fn wait_timeout(&mut self, limit: Duration) -> nix::Result<Option<WaitStatus>> {
        let deadline = Instant::now() + limit;
        let mut nap = Duration::from_millis(1);
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            sleep(nap.min(deadline - now));
            nap = (nap * 2).min(Duration::from_millis(10));
        }
    }

    /// Waits up to `limit`; if the child still runs then, kills it with
    /// `SIGKILL` and reaps it. Returns how it ended and whether it had to be
    /// killed (a hang that the deadline caught).
    pub fn wait_or_kill(&mut self, limit: Duration) -> nix::Result<(WaitStatus, bool)> {
        match self.wait_timeout(limit)? {
            Some(status) => Ok((status, false)),
            None => Ok((self.kill_and_reap()?, true)),
        }
    }

    /// Sends `signal` to the child, if it has not been reaped yet.
    pub fn signal(&self, sig: Signal) -> nix::Result<()> {
        match self.status {
            Some(_) => Ok(()),
            None => signal::kill(self.pid, sig),
        }
    }

    /// Kills the child with `SIGKILL` (unless it already ended) and reaps it.
    pub fn kill_and_reap(&mut self) -> nix::Result<WaitStatus> {
        if self.status.is_none() {
            match signal::kill(self.pid, Signal::SIGKILL) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err(e),
            }
        }
        self.wait()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.kill_and_reap();
    }
}

/// How a child is predicted to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// `_exit(code)`.
    Exit(i32),
    /// Killed by this signal (no core dump).
    Killed(Signal),
}

impl Ending {
    /// The exact `WaitStatus` the parent should see for child `pid`.
    pub fn status(self, pid: Pid) -> WaitStatus {
        match self {
            Ending::Exit(code) => WaitStatus::Exited(pid, code),
            Ending::Killed(sig) => WaitStatus::Signaled(pid, sig, false),
        }
    }
}

/// Waits for `child` (killing it at `limit`), prints one line with its pid
/// and exact status, and returns whether it ended as predicted.
pub fn report(label: &str, child: &mut Child, want: Ending, limit: Duration) -> nix::Result<bool> {
    let (status, killed) = child.wait_or_kill(limit)?;
    let ok = status == want.status(child.pid());
    println!(
        "{label:<22} child pid {:<7} -> {status:?}{}  {}",
        child.pid(),
        if killed {
            " (still running at the deadline: killed)"
        } else {
            ""
        },
        if ok { "as predicted" } else { "UNEXPECTED" },
    );
    Ok(ok)
}

/// Describes a wait status the way a shell user reads it: `exit code 7`,
/// `killed by SIGKILL`.
pub fn describe(status: WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exit code {code}"),
        WaitStatus::Signaled(_, sig, core) => {
            let core = if core { " (core dumped)" } else { "" };
            format!("killed by {}{core}", sig.as_str())
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_codes_and_signals() {
        let pid = Pid::from_raw(1);
        assert_eq!(describe(WaitStatus::Exited(pid, 7)), "exit code 7");
        assert_eq!(
            describe(WaitStatus::Signaled(pid, Signal::SIGKILL, false)),
            "killed by SIGKILL"
        );
    }

    #[test]
    fn fork_is_refused_while_another_thread_runs() {
        // A thread that is certainly alive during the call, whatever the
        // harness does: the safe fork must refuse (and so never fork here).
        let (stop, parked) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || parked.recv());
        match fork_single_threaded(|| 0) {
            Err(ForkError::Threaded(n)) => assert!(n >= 2),
            other => panic!("expected a refusal, got {other:?}"),
        }
        drop(stop);
        let _ = other.join();
    }
}
