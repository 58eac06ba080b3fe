//! TOCTOU (time of check to time of use) on a lock file, across processes.
//!
//! "If the lock file does not exist, create it" is two system calls. Two
//! processes that both check before either creates will both create (the
//! second `open(O_CREAT)` simply truncates the first one's file) and both
//! believe they hold the lock. The fix is to let the creation be the check:
//! `OpenOptions::create_new` (`O_CREAT | O_EXCL`) creates the file or fails
//! with `AlreadyExists`, atomically, in the kernel.
//!
//! [`race`] runs the race with real child processes (the program re-runs
//! itself with a hidden flag; see [`child`]) and forces the window: every
//! child reports its check, and only when all have checked does the parent
//! let them create.
//!
//! The lock files live in a [`work_dir`] named after the owner's pid, so a
//! later run can [`sweep_stale`] the directory of a run killed by
//! `SIGKILL` (which no cleanup survives); `SIGINT` and `SIGTERM` are the
//! program's to handle, and the children ignore them (their parent ends
//! them), so Ctrl-C on the process group cannot cut a child off half-way.

use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// How a process takes the lock file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Create {
    /// `if !path.exists() { File::create(path) }`: check, then act.
    CheckThenCreate,
    /// `OpenOptions::new().write(true).create_new(true)`: one step.
    CreateNew,
}

impl Create {
    /// A short label for output.
    pub fn label(self) -> &'static str {
        match self {
            Create::CheckThenCreate => "check, then create  (exists + File::create)",
            Create::CreateNew => "create_new          (O_CREAT | O_EXCL)",
        }
    }
}

/// The hidden flags with which `toctou-file` re-runs itself as a child
/// that calls [`child`] on `lock`.
pub fn child_args(lock: &Path, how: Create) -> Vec<std::ffi::OsString> {
    let mode = match how {
        Create::CheckThenCreate => "check-then-create",
        Create::CreateNew => "create-new",
    };
    vec![
        "--child-lock".into(),
        lock.into(),
        "--child-mode".into(),
        mode.into(),
    ]
}

/// Tries to take the lock at `path`, writing `owner` into it. `Ok(true)`:
/// this process believes it holds the lock.
pub fn take(path: &Path, how: Create, owner: &str) -> io::Result<bool> {
    match how {
        Create::CheckThenCreate => {
            // The caller checked `path.exists()` earlier; this create
            // succeeds whether or not someone created the file since.
            fs::write(path, owner)?;
            Ok(true)
        }
        Create::CreateNew => match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(mut file) => {
                file.write_all(owner.as_bytes())?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        },
    }
}

/// The child's side, run by the hidden flag: check, print `checked free`
/// (or `checked taken`), wait for a line on stdin, then take the lock and
/// print `holds` or `refused`. Stdin closing early (the parent died) ends
/// the child without touching the file.
pub fn child(path: &Path, how: Create, owner: &str) -> io::Result<()> {
    let free = !path.exists();
    let mut out = io::stdout().lock();
    writeln!(out, "checked {}", if free { "free" } else { "taken" })?;
    out.flush()?;
    let mut go = String::new();
    if io::stdin().lock().read_line(&mut go)? == 0 {
        return Ok(());
    }
    let verdict = if free && take(path, how, owner)? {
        "holds"
    } else {
        "refused"
    };
    writeln!(out, "{verdict}")?;
    out.flush()
}

/// A child process running [`child`]; killed and reaped on drop.
#[derive(Debug)]
pub struct Claimant {
    process: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Claimant {
    /// Starts `program` with `args` (which must make it call [`child`]).
    pub fn spawn(program: &Path, args: &[&std::ffi::OsStr]) -> io::Result<Self> {
        let mut process = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let (stdin, stdout) = match (process.stdin.take(), process.stdout.take()) {
            (Some(i), Some(o)) => (i, o),
            _ => return Err(io::Error::other("child has no pipes")),
        };
        Ok(Claimant {
            process,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
        })
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(io::Error::other("child exited before answering"));
        }
        Ok(line.trim().to_string())
    }

    fn go(&mut self) -> io::Result<()> {
        match self.stdin.take() {
            Some(mut stdin) => stdin.write_all(b"go\n"),
            None => Ok(()),
        }
    }
}

impl Drop for Claimant {
    fn drop(&mut self) {
        drop(self.stdin.take());
        // A child that already exited makes kill fail harmlessly; wait reaps.
        if let Ok(None) = self.process.try_wait() {
            let _ = self.process.kill();
        }
        let _ = self.process.wait();
    }
}

/// What each process of one round said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The check: did it see the lock file absent?
    pub saw_free: bool,
    /// Does it believe it holds the lock?
    pub holds: bool,
}

/// One round: start `processes` children (`args_for(i)` gives child i's
/// arguments), wait until every one has checked, then let them all take
/// the lock. Every child is reaped before this returns.
pub fn race(
    program: &Path,
    processes: usize,
    args_for: impl Fn(usize) -> Vec<std::ffi::OsString>,
) -> io::Result<Vec<Verdict>> {
    let mut children = Vec::with_capacity(processes);
    for i in 0..processes {
        let args = args_for(i);
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let child = Claimant::spawn(program, &args).map_err(|e| {
            let line = format!(
                "out of processes: could not start child {} of {processes} ({e})",
                i + 1
            );
            io::Error::new(e.kind(), line)
        })?;
        children.push(child);
    }
    let mut saw_free = Vec::with_capacity(processes);
    for child in &mut children {
        saw_free.push(child.line()? == "checked free");
    }
    // Everyone has checked; nobody has created yet. Now let them act.
    for child in &mut children {
        child.go()?;
    }
    let mut verdicts = Vec::with_capacity(processes);
    for (child, saw_free) in children.iter_mut().zip(saw_free) {
        let holds = child.line()? == "holds";
        verdicts.push(Verdict { saw_free, holds });
    }
    Ok(verdicts)
}

/// Every work directory's name starts with this, then the owner's pid.
pub const PREFIX: &str = "toctou-file-";

/// A fresh directory for one run's lock files, in the temp dir, named
/// `toctou-file-<pid>-<random>`; removed when dropped.
pub fn work_dir() -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{}-", std::process::id()))
        .tempdir()
}

/// Removes the work directories in `temp` whose owner (the pid in the
/// name) has ended and which belong to this user: what runs killed by
/// `SIGKILL` left ([`process_toolkit::owned_name::sweep`]). Returns the
/// paths removed. A directory whose pid was reused by a live process stays
/// until that process is gone.
pub fn sweep_stale(temp: &Path) -> io::Result<Vec<PathBuf>> {
    process_toolkit::owned_name::sweep(temp, PREFIX)
}

/// One round in `dir`: `processes` children race for lock file
/// `round-<round>.<how>.lock`; returns how many believe they hold it.
pub fn holders(
    program: &Path,
    dir: &Path,
    processes: usize,
    how: Create,
    round: usize,
) -> io::Result<usize> {
    let lock = dir.join(format!("round-{round}.{how:?}.lock"));
    let verdicts = race(program, processes, |_| child_args(&lock, how))?;
    Ok(verdicts.iter().filter(|v| v.holds).count())
}

/// `rounds` rounds of [`holders`] in `dir`; `check` runs before and after
/// each (a signal flag, say): its error stops the run, and wins over a
/// round's error that came after it (a child cut off by the same Ctrl-C).
pub fn holders_per_round<E: From<io::Error>>(
    program: &Path,
    dir: &Path,
    processes: usize,
    how: Create,
    rounds: usize,
    mut check: impl FnMut() -> Result<(), E>,
) -> Result<Vec<usize>, E> {
    (0..rounds)
        .map(|round| {
            check()?;
            let held = holders(program, dir, processes, how, round);
            check()?;
            Ok(held?)
        })
        .collect()
}
