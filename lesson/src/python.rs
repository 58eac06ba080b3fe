//! Running CPython from a lesson: which interpreter, which build it is, and
//! running a script under a time limit so that nothing outlives it.
//!
//! The interpreter is the one the user names (`--python-exe PATH`), else
//! the one in the environment variable [`ENV`] (`TVP_PYTHON`), else
//! `python3` on `PATH`. [`Interpreter::find`] asks it for its version and
//! whether it is a free-threaded build (`sysconfig`'s `Py_GIL_DISABLED`), so
//! every figure measured with it can carry [`Build::label`]
//! (`CPython 3.11.7 (GIL)`, `CPython 3.14.0 (free-threaded)`).
//!
//! [`run`] starts a command in its own process group (so a time limit stops
//! the script and every `multiprocessing` worker it forked at once), with
//! `PR_SET_PDEATHSIG = SIGINT` (if the Rust program dies, even by SIGKILL,
//! the script gets a `KeyboardInterrupt` and cleans up), reads its output on
//! two threads, and on a timeout stops the group in steps ([`stop_group`])
//! so CPython's resource tracker still unlinks what the script left.
//!
//! No usable interpreter is a usage problem of the machine, not a failed
//! claim: [`no_python`] turns it into one line and exit 2.

use std::error::Error;
use std::fmt;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use crate::Failure;

/// The environment variable that names the interpreter when no
/// `--python-exe` is given.
pub const ENV: &str = "TVP_PYTHON";

/// What a Python build is: its version and whether it has a GIL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Build {
    /// `sys.version_info` as `3.11.7`.
    pub version: String,
    /// Major and minor version, for choosing an API (`track=False` is 3.13+).
    pub major_minor: (u32, u32),
    /// `sysconfig.get_config_var("Py_GIL_DISABLED")` is 1: threads run
    /// Python code in parallel.
    pub free_threaded: bool,
}

impl Build {
    /// What [`Interpreter::find`] asks the interpreter to print.
    pub const PROBE: &'static str = "import sys, sysconfig; \
         print('%d.%d.%d' % sys.version_info[:3], sysconfig.get_config_var('Py_GIL_DISABLED'))";

    /// Reads the probe's output (`3.11.7 None`, `3.14.0 1`, `3.13.1 0`).
    ///
    /// ```
    /// use lesson::python::Build;
    /// let gil = Build::parse("3.11.7 None\n").unwrap();
    /// assert_eq!(gil.label(), "CPython 3.11.7 (GIL)");
    /// assert_eq!(gil.major_minor, (3, 11));
    /// let ft = Build::parse("3.14.0 1").unwrap();
    /// assert_eq!(ft.label(), "CPython 3.14.0 (free-threaded)");
    /// assert!(Build::parse("Python 3").is_none());
    /// ```
    pub fn parse(out: &str) -> Option<Self> {
        let mut words = out.split_whitespace();
        let version = words.next()?.to_string();
        let mut parts = version.split('.').map(|p| p.parse::<u32>());
        let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
            return None;
        };
        let free_threaded = words.next()? == "1";
        Some(Self {
            version,
            major_minor: (major, minor),
            free_threaded,
        })
    }

    /// `CPython 3.11.7 (GIL)` or `CPython 3.14.0 (free-threaded)`.
    pub fn label(&self) -> String {
        let lock = if self.free_threaded {
            "free-threaded"
        } else {
            "GIL"
        };
        format!("CPython {} ({lock})", self.version)
    }
}

/// A Python interpreter that answered the probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interpreter {
    /// How it was named (`python3`, `/usr/bin/python3.14t`).
    pub path: PathBuf,
    /// What it is.
    pub build: Build,
}

impl Interpreter {
    /// The interpreter named by `explicit` (a `--python-exe` flag), else by
    /// [`ENV`], else `python3`; runs it once (at most 10 s) to learn its
    /// [`Build`].
    pub fn find(explicit: Option<&Path>) -> Result<Self, PyError> {
        let path = match (explicit, std::env::var_os(ENV)) {
            (Some(p), _) => p.to_path_buf(),
            (None, Some(p)) if !p.is_empty() => PathBuf::from(p),
            _ => PathBuf::from("python3"),
        };
        let mut probe = Command::new(&path);
        probe.args(["-c", Build::PROBE]);
        let ran = run(&mut probe, Duration::from_secs(10)).map_err(|e| match e {
            PyError::Missing(_) => PyError::Missing(path.display().to_string()),
            other => other,
        })?;
        let build = match ran.status {
            Some(s) if s.success() => Build::parse(&ran.stdout),
            _ => None,
        };
        match build {
            Some(build) => Ok(Self { path, build }),
            None => Err(PyError::Unusable(format!(
                "{} did not answer as CPython 3 ({})",
                path.display(),
                ran.last_error_line()
            ))),
        }
    }

    /// A command that runs this interpreter.
    pub fn command(&self) -> Command {
        Command::new(&self.path)
    }
}

/// Why a Python run gave nothing to use.
#[derive(Debug)]
pub enum PyError {
    /// The interpreter is not there.
    Missing(String),
    /// It is there but did not answer as CPython 3 should.
    Unusable(String),
    /// It ran longer than the limit and was stopped.
    Timeout(Duration),
    /// It could not be started, or it failed (the last line it said).
    Failed(String),
}

impl fmt::Display for PyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(p) => write!(f, "no usable Python: {p} not found"),
            Self::Unusable(why) => write!(f, "no usable Python: {why}"),
            Self::Timeout(limit) => write!(f, "Python ran longer than {limit:?} and was stopped"),
            Self::Failed(why) => write!(f, "Python failed: {why}"),
        }
    }
}

impl Error for PyError {}

impl PyError {
    /// Whether this says there is no usable interpreter (rather than that
    /// a run of a working one went wrong).
    pub fn is_no_python(&self) -> bool {
        matches!(self, Self::Missing(_) | Self::Unusable(_))
    }
}

/// The ending for a program that needs Python: no usable interpreter is
/// one line and exit 2 (usage), anything else a failed run (exit 1).
pub fn no_python(err: PyError) -> Failure {
    if err.is_no_python() {
        Failure::usage(format_args!(
            "{err} (name one with --python-exe PATH or {ENV}=PATH)"
        ))
    } else {
        Failure::claim(err)
    }
}

/// What a finished (or stopped) run printed.
#[derive(Debug)]
pub struct Ran {
    /// How it ended; `None` when it ran past the limit and was stopped.
    pub status: Option<ExitStatus>,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
    /// From start to end (or to the stop).
    pub elapsed: Duration,
}

impl Ran {
    /// The last non-empty stderr line (a Python traceback ends with the
    /// exception), or `no message`.
    pub fn last_error_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map_or("no message", str::trim)
    }

    /// Its stdout if it exited 0; else the reason as a [`PyError`].
    pub fn success(self, limit: Duration) -> Result<String, PyError> {
        match self.status {
            None => Err(PyError::Timeout(limit)),
            Some(s) if s.success() => Ok(self.stdout),
            Some(s) => Err(PyError::Failed(format!("{s}: {}", self.last_error_line()))),
        }
    }
}

/// The process group of the run in progress, 0 when none runs.
static RUNNING: AtomicI32 = AtomicI32::new(0);

/// Runs `command` (stdin closed, output captured) for at most `limit`, in
/// its own process group, which is stopped in steps when the limit passes
/// or when a worker it forked outlives it. A command that cannot be found
/// is [`PyError::Missing`].
pub fn run(command: &mut Command, limit: Duration) -> Result<Ran, PyError> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let parent = nix::unistd::getpid();
    // SAFETY: runs in the forked child before exec and makes two system
    // calls (prctl, getppid), which are async-signal-safe. If the Rust
    // program dies (even by SIGKILL) the script gets SIGINT and cleans up
    // (its pools terminate, its shared memory is unlinked) instead of
    // running on; if it died before the signal was armed, no exec.
    unsafe {
        command.pre_exec(move || {
            process_toolkit::signal_when_parent_dies(parent, nix::sys::signal::Signal::SIGINT)
                .map_err(io::Error::other)
        });
    }
    let started = Instant::now();
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let name = command.get_program().to_string_lossy().into_owned();
            return Err(PyError::Missing(name));
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            let name = command.get_program().to_string_lossy().into_owned();
            return Err(PyError::Unusable(format!("{name}: {e}")));
        }
        Err(e) => return Err(PyError::Failed(e.to_string())),
    };
    let group = child.id() as i32;
    RUNNING.store(group, Ordering::SeqCst);
    // Read both pipes on threads so a chatty script never blocks on a full
    // pipe while we wait for it.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || drain(stdout.as_mut()));
    let err = std::thread::spawn(move || drain(stderr.as_mut()));
    let deadline = started + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => break None,
        }
    };
    let elapsed = started.elapsed();
    // Stop whatever is left of the group (a script that timed out, pool
    // workers the script failed to stop); reap the script.
    if status.is_none() || group_alive(group) {
        stop_group(group);
    }
    let _ = child.wait();
    RUNNING.store(0, Ordering::SeqCst);
    Ok(Ran {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        elapsed,
    })
}

/// Stops the run in progress, if any, as [`stop_group`] does. Only
/// async-signal-safe calls: a `SIGINT` handler may call it before `_exit`.
pub fn stop_running() {
    let group = RUNNING.load(Ordering::SeqCst);
    if group > 0 {
        stop_group(group);
    }
}

fn group_alive(group: i32) -> bool {
    // SAFETY: signal 0 only checks that the group exists.
    unsafe { libc::kill(-group, 0) == 0 }
}

fn drain(r: Option<&mut impl Read>) -> String {
    let mut bytes = Vec::new();
    if let Some(r) = r {
        let _ = r.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
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
/// Only async-signal-safe calls, so a signal handler can use it.
pub fn stop_group(group: i32) {
    // SAFETY: kill, waitpid and nanosleep on plain integers; `group` is
    // the script's pid and `-group` exactly the group made for it.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_interpreter_is_no_python_and_exit_2() {
        let err = Interpreter::find(Some(Path::new("/nonexistent/python3"))).unwrap_err();
        assert!(err.is_no_python(), "{err}");
        let f = no_python(err);
        assert_eq!(f.code(), crate::USAGE);
        assert!(f.line().starts_with("no usable Python"), "{}", f.line());
    }

    #[test]
    fn a_program_that_is_not_python_is_unusable() {
        let err = Interpreter::find(Some(Path::new("/bin/false"))).unwrap_err();
        assert!(matches!(err, PyError::Unusable(_)), "{err}");
    }

    #[test]
    fn the_interpreter_here_is_labelled_with_its_build() {
        // Only where python3 exists (CI installs it).
        if let Ok(py) = Interpreter::find(None) {
            let label = py.build.label();
            assert!(label.starts_with("CPython 3."), "{label}");
            assert!(label.ends_with("(GIL)") || label.ends_with("(free-threaded)"));
        }
    }

    #[test]
    fn a_script_past_its_limit_is_stopped() {
        let mut sleep = Command::new("sleep");
        sleep.arg("30");
        let ran = run(&mut sleep, Duration::from_millis(100)).unwrap();
        assert!(ran.status.is_none());
        assert!(ran.elapsed < Duration::from_secs(5));
    }
}
