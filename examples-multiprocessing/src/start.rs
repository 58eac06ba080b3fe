//! Python's three start methods in Rust, each timed: `fork`, `fork` +
//! `exec`, and spawning a fresh program (`Command`, which uses
//! `posix_spawn`), plus memory to make the parent big.
//!
//! `fork` copies the parent's page tables (and later tears the child's copy
//! down), so its cost grows with the parent's resident memory; a fresh
//! program spawned through `posix_spawn` (glibc implements it with
//! `clone(CLONE_VM | CLONE_VFORK)`) copies no page tables, so its cost does
//! not. `fork` followed by `exec` pays for the fork first. See also
//! [`crate::forkserver`], the fourth way.
//!
//! Python: `multiprocessing.set_start_method("fork" | "spawn" |
//! "forkserver")`; `spawn` runs a fresh interpreter, as
//! [`time_spawn`] runs a fresh copy of the current executable. Python 3.14
//! makes `forkserver` the default start method on Linux, for
//! `multiprocessing` and for `ProcessPoolExecutor` alike (it was `fork`
//! through 3.13): code that needs fork (a child that inherits the parent's
//! memory or open objects) must ask for it, with
//! `multiprocessing.get_context("fork")` or
//! `ProcessPoolExecutor(mp_context=...)`.

use std::ffi::{CStr, CString};
use std::io;
use std::num::NonZeroUsize;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use nix::sys::mman::{MapFlags, MmapAdvise, ProtFlags, madvise, mmap_anonymous, munmap};
use nix::sys::wait::WaitStatus;

use crate::fork::{Child, ForkError, dies_with_parent, fork, fork_raw};
use crate::forkserver::ForkServer;
use process_toolkit::best_of;

/// What a child started each way inherits from its parent.
pub const INHERITS: [(&str, &str); 4] = [
    (
        "fork",
        "the parent's memory (copy-on-write), all its fds, only the calling thread",
    ),
    (
        "fork+exec",
        "a fresh image; fds without CLOEXEC, environment, cwd (but pays for the fork first)",
    ),
    (
        "spawn",
        "a fresh image via posix_spawn (no page-table copy); fds without CLOEXEC, environment, cwd",
    ),
    (
        "forkserver",
        "the server's memory as of its startup, not the parent's current state",
    ),
];

/// Exit code of a child whose `exec` failed, as shells use.
pub const EXEC_FAILED: i32 = 127;

/// Private anonymous memory whose every page is resident: what makes a
/// parent process "big". Transparent huge pages are turned off for it so
/// that fork copies one page-table entry per 4 KiB page, as it would for a
/// heap built from many allocations. Unmapped on drop.
///
/// ```
/// use examples_multiprocessing::start::{Ballast, resident_bytes};
///
/// let before = resident_bytes()?;
/// let ballast = Ballast::new(32 << 20)?;
/// assert!(resident_bytes()? >= before + (31 << 20));
/// drop(ballast); // unmapped: the memory goes back
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Ballast {
    ptr: NonNull<libc::c_void>,
    len: NonZeroUsize,
}

impl Ballast {
    /// Maps `bytes` of private memory and writes one byte per page so that
    /// every page is resident. `bytes` of 0 is an `InvalidInput` error.
    pub fn new(bytes: usize) -> io::Result<Self> {
        let len = NonZeroUsize::new(bytes)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "ballast of 0 bytes"))?;
        // SAFETY: a fresh anonymous mapping aliases no Rust object.
        let ptr = unsafe {
            mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE,
            )
        }?;
        let ballast = Self { ptr, len };
        // SAFETY: advice on our own mapping; it does not change its contents.
        let _ = unsafe { madvise(ptr, bytes, MmapAdvise::MADV_NOHUGEPAGE) };
        let base = ptr.as_ptr().cast::<u8>();
        for offset in (0..bytes).step_by(4096) {
            // SAFETY: `offset < bytes`, inside the mapping, which only this
            // process (and its copy-on-write children) can see.
            unsafe { base.add(offset).write_volatile(1) };
        }
        Ok(ballast)
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len.get()
    }

    /// Always false: a ballast has at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Drop for Ballast {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours and nothing borrows it.
        let _ = unsafe { munmap(self.ptr, self.len.get()) };
    }
}

/// This process's resident memory in bytes (`VmRSS` from `/proc/self/statm`).
pub fn resident_bytes() -> io::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable statm"))?;
    Ok(pages * 4096)
}

/// The wall time of the fastest of `reps` runs of `once` (at least one
/// run): the cost of the operation itself, with as little of other
/// processes' load as this machine allows. The choosing is the toolkit's
/// [`best_of`]; this only times each run.
pub fn fastest<E>(reps: usize, mut once: impl FnMut() -> Result<(), E>) -> Result<Duration, E> {
    best_of(reps, || {
        let start = Instant::now();
        once().map(|()| start.elapsed())
    })
}

/// Why starting a child went wrong.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Forking was refused or failed.
    #[error(transparent)]
    Fork(#[from] ForkError),
    /// A system call (pipe, waitpid) failed.
    #[error("{0}")]
    Sys(#[from] nix::errno::Errno),
    /// Spawning the program failed.
    #[error("spawn: {0}")]
    Spawn(#[from] io::Error),
    /// The child ran but did not exit 0.
    #[error("child ended with {0}")]
    Child(String),
}

fn expect_success(status: WaitStatus) -> Result<(), StartError> {
    match status {
        WaitStatus::Exited(_, 0) => Ok(()),
        other => Err(StartError::Child(crate::fork::describe(other))),
    }
}

/// `fork`: a child that exits at once, reaped; the best of `reps` runs.
/// The process must be single-threaded.
pub fn time_fork(reps: usize) -> Result<Duration, StartError> {
    // The child exits at once; `fork` refuses a threaded parent.
    fastest(reps, || {
        expect_success(fork(dies_with_parent(|| 0))?.wait()?)
    })
}

/// Starts `program args` with a raw `fork` + `execv`. Safe from a
/// multi-threaded parent too: the arguments are built before the fork and
/// the child calls only `execv` and, if that fails, `_exit(127)`.
pub fn fork_exec(program: &Path, args: &[&str]) -> Result<Child, StartError> {
    let to_c =
        |bytes: &[u8]| CString::new(bytes).map_err(|e| StartError::Spawn(io::Error::other(e)));
    let path = to_c(program.as_os_str().as_bytes())?;
    let mut argv = vec![path.clone()];
    for arg in args {
        argv.push(to_c(arg.as_bytes())?);
    }
    let argv: Vec<&CStr> = argv.iter().map(CString::as_c_str).collect();
    // SAFETY: the child calls only execv (async-signal-safe, arguments
    // prepared above) and returns a constant, after which it `_exit`s.
    let child = unsafe {
        fork_raw(dies_with_parent(|| {
            let _ = nix::unistd::execv(&path, &argv);
            EXEC_FAILED
        }))
    }
    .map_err(ForkError::Fork)?;
    Ok(child)
}

/// `fork` + `execv(program, args)`, waited for; the best of `reps` runs.
pub fn time_fork_exec(program: &Path, args: &[&str], reps: usize) -> Result<Duration, StartError> {
    fastest(reps, || expect_success(fork_exec(program, args)?.wait()?))
}

/// Spawns `program args` with `Command` (`posix_spawn`) and waits for it;
/// the best of `reps` runs. Its stdout and stderr are discarded.
pub fn time_spawn(program: &Path, args: &[&str], reps: usize) -> Result<Duration, StartError> {
    fastest(reps, || {
        let status = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(StartError::Child(status.to_string()))
        }
    })
}

/// A forked child's resident memory at its start, in MiB, as the child
/// itself reads it: the parent's pages it shares copy-on-write count. The
/// process must be single-threaded.
pub fn resident_mib_in_fork_child() -> Result<u64, StartError> {
    let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // Single-threaded parent (checked): the child may read /proc freely.
    let mut child = fork(dies_with_parent(|| {
        let mib = resident_bytes().map_or(u64::MAX, |b| b >> 20);
        i32::from(nix::unistd::write(&tx, &mib.to_le_bytes()).is_err())
    }))?;
    drop(tx);
    let mut raw = [0_u8; 8];
    std::io::Read::read_exact(&mut std::fs::File::from(rx), &mut raw)?;
    expect_success(child.wait()?)?;
    Ok(u64::from_le_bytes(raw))
}

/// Runs `program args`, which must print its resident memory in MiB (as
/// [`resident_bytes`] `>> 20`) on stdout, and returns that figure.
pub fn resident_mib_in_spawned(program: &Path, args: &[&str]) -> Result<u64, StartError> {
    let out = Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(StartError::Child(out.status.to_string()));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| StartError::Spawn(io::Error::other(e)))
}

/// A forkserver request for [`forkserver_task`]: exit 0 at once.
pub const TASK_NOTHING: u32 = 0;
/// A forkserver request for [`forkserver_task`]: exit with this worker's
/// resident memory in MiB (capped at 255, the largest exit code).
pub const TASK_REPORT_RESIDENT: u32 = 1;

/// The work a lesson's forkserver does (start it with
/// `ForkServer::start(forkserver_task)`): see [`TASK_NOTHING`] and
/// [`TASK_REPORT_RESIDENT`].
pub fn forkserver_task(task: u32) -> i32 {
    match task {
        TASK_REPORT_RESIDENT => resident_bytes().map_or(255, |b| (b >> 20).min(255) as i32),
        _ => 0,
    }
}

/// Runs `task` in a forkserver worker and returns its exit code.
fn run_in_forkserver(server: &mut ForkServer, task: u32) -> Result<i32, StartError> {
    match server.run(task)? {
        (_, WaitStatus::Exited(_, code)) => Ok(code),
        (_, other) => Err(StartError::Child(crate::fork::describe(other))),
    }
}

/// The four ways to start a child, each timed (best of `reps`) from this
/// process as it is now.
#[derive(Clone, Copy, Debug)]
pub struct Timings {
    /// `fork`, child exits at once.
    pub fork: Duration,
    /// `fork` + `execv` of the program.
    pub fork_exec: Duration,
    /// `Command::spawn` of the program (`posix_spawn`).
    pub spawn: Duration,
    /// A forkserver round trip: request, fork from the server, reap, reply.
    pub forkserver: Duration,
}

impl Timings {
    /// Times each method; `program args` must exit 0 at once, and `server`
    /// must run [`forkserver_task`]. The process must be single-threaded.
    pub fn measure(
        server: &mut ForkServer,
        program: &Path,
        args: &[&str],
        reps: usize,
    ) -> Result<Self, StartError> {
        Ok(Self {
            fork: time_fork(reps)?,
            fork_exec: time_fork_exec(program, args, reps)?,
            spawn: time_spawn(program, args, reps)?,
            forkserver: fastest(reps, || match run_in_forkserver(server, TASK_NOTHING)? {
                0 => Ok(()),
                code => Err(StartError::Child(format!("exit code {code}"))),
            })?,
        })
    }
}

impl Timings {
    /// The column heads of [`Timings::row`].
    pub fn header() -> String {
        let heads = ["parent RSS", "fork", "fork+exec", "spawn", "forkserver"];
        format!(
            "{:>12} {:>11} {:>11} {:>11} {:>11}",
            heads[0], heads[1], heads[2], heads[3], heads[4]
        )
    }

    /// One aligned row: the parent's resident MiB, then each time in ms.
    pub fn row(&self, resident_mib: u64) -> String {
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        let (a, b, c, d) = (
            ms(self.fork),
            ms(self.fork_exec),
            ms(self.spawn),
            ms(self.forkserver),
        );
        format!("{resident_mib:>8} MiB {a:>11} {b:>11} {c:>11} {d:>11}")
    }

    /// The faster of two measurements of each method: more runs of the
    /// same best-of.
    pub fn best(self, other: Self) -> Self {
        Self {
            fork: self.fork.min(other.fork),
            fork_exec: self.fork_exec.min(other.fork_exec),
            spawn: self.spawn.min(other.spawn),
            forkserver: self.forkserver.min(other.forkserver),
        }
    }
}

/// Grows this process by `mib` MiB of resident [`Ballast`], then times
/// every method from it ([`Timings::measure`]); returns the times and the
/// ballast (drop it to shrink back).
pub fn measure_with_parent_of(
    mib: u64,
    server: &mut ForkServer,
    program: &Path,
    args: &[&str],
    reps: usize,
) -> Result<(Timings, Ballast), StartError> {
    let ballast = Ballast::new((mib << 20) as usize)?;
    Ok((Timings::measure(server, program, args, reps)?, ballast))
}

/// The parent sizes a sweep up to `max_mib` visits, in MiB: 16, 64, 256
/// and 1024, as far as `max_mib` allows.
pub fn sizes_mib(max_mib: u64) -> Vec<u64> {
    [16, 64, 256, 1024]
        .into_iter()
        .filter(|&m| m <= max_mib)
        .collect()
}

/// How much slower fork and spawn got between a small and a big parent.
#[derive(Clone, Copy, Debug)]
pub struct Growth {
    /// fork's time with the big parent over its time with the small one.
    pub fork: f64,
    /// The same for spawn.
    pub spawn: f64,
}

impl Growth {
    /// The growth from `small` to `big`.
    pub fn between(small: &Timings, big: &Timings) -> Self {
        let ratio = |new: Duration, old: Duration| new.as_secs_f64() / old.as_secs_f64();
        Self {
            fork: ratio(big.fork, small.fork),
            spawn: ratio(big.spawn, small.spawn),
        }
    }

    /// The lesson's claim: fork got at least 2x slower, and grew at least
    /// twice as much as spawn did. The expected growth (16 to 256 MiB) is
    /// far larger, so the margin holds on a loaded 2-core machine.
    pub fn holds(&self) -> bool {
        self.fork >= 2.0 && self.fork >= 2.0 * self.spawn
    }
}

/// Rounds of measurement before a missed growth claim counts as failed.
pub const ROUNDS: usize = 3;

/// The growth from the `small` parent's timings `first` to the `big`
/// parent's `last`, measured again while the claim misses (a busy machine
/// slows single runs down, never speeds them up), up to [`ROUNDS`] rounds in
/// all, keeping each method's fastest; prints a note per extra round.
/// `program args` and `server` are as for [`Timings::measure`].
pub fn growth_with_retries(
    (mut first, mut last): (Timings, Timings),
    (small, big): (u64, u64),
    server: &mut ForkServer,
    program: &Path,
    args: &[&str],
    reps: usize,
) -> Result<Growth, StartError> {
    for round in 2..=ROUNDS {
        if Growth::between(&first, &last).holds() {
            break;
        }
        println!(
            "note: the claim missed (a busy machine?): {small} and {big} MiB again, round {round} of {ROUNDS}"
        );
        first = first.best(measure_with_parent_of(small, server, program, args, reps)?.0);
        last = last.best(measure_with_parent_of(big, server, program, args, reps)?.0);
    }
    Ok(Growth::between(&first, &last))
}

/// Each kind of child's own resident memory at its start, in MiB: what it
/// really inherited from this process.
#[derive(Clone, Copy, Debug)]
pub struct ChildMemory {
    /// A forked child (shares every resident page, copy-on-write).
    pub fork: u64,
    /// A spawned program (`program args` must print its resident MiB).
    pub spawn: u64,
    /// A forkserver worker (capped at 255).
    pub forkserver: u64,
}

impl std::fmt::Display for ChildMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (fork, spawn, server) = (
            mib_text(self.fork),
            mib_text(self.spawn),
            mib_text(self.forkserver),
        );
        write!(
            f,
            "fork {fork} (shared copy-on-write), spawn {spawn}, forkserver {server}"
        )
    }
}

impl ChildMemory {
    /// Whether only the forked child holds most of a `parent_mib` parent:
    /// at least 3/4 of it, the others under half.
    pub fn only_fork_inherits(&self, parent_mib: u64) -> bool {
        self.fork >= parent_mib * 3 / 4
            && self.spawn < parent_mib / 2
            && self.forkserver < parent_mib / 2
    }

    /// Measures all three; the process must be single-threaded.
    pub fn measure(
        server: &mut ForkServer,
        program: &Path,
        args: &[&str],
    ) -> Result<Self, StartError> {
        Ok(Self {
            fork: resident_mib_in_fork_child()?,
            spawn: resident_mib_in_spawned(program, args)?,
            forkserver: u64::try_from(run_in_forkserver(server, TASK_REPORT_RESIDENT)?)
                .unwrap_or(0),
        })
    }
}

/// `12 MiB`, or `<1 MiB` for 0 (sizes are rounded down).
pub fn mib_text(mib: u64) -> String {
    if mib == 0 {
        "<1 MiB".to_string()
    } else {
        format!("{mib} MiB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ballast_has_its_size_and_refuses_zero() {
        // Residency is checked by the doctest on `Ballast`, in a process of
        // its own: here other tests allocate and free at the same time.
        assert_eq!(Ballast::new(8 << 20).unwrap().len(), 8 << 20);
        assert!(Ballast::new(0).is_err());
        assert!(resident_bytes().unwrap() > 0);
    }

    #[test]
    fn sizes_below_one_mib_read_as_such() {
        assert_eq!(mib_text(0), "<1 MiB");
        assert_eq!(mib_text(256), "256 MiB");
    }

    #[test]
    fn forkserver_task_nothing_exits_zero() {
        assert_eq!(forkserver_task(TASK_NOTHING), 0);
        let mib = forkserver_task(TASK_REPORT_RESIDENT);
        assert!((0..=255).contains(&mib));
    }

    #[test]
    fn fastest_runs_every_rep() {
        let mut calls = 0;
        let best = fastest(3, || {
            calls += 1;
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(calls, 3);
        assert!(best < Duration::from_secs(1));
    }
}
