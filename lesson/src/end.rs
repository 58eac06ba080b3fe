//! The one way a program ends: [`main`] runs the program's `run`, and turns
//! what it returns (or a failed write to stdout) into one line on stderr and
//! a documented exit code.

use std::error::Error;
use std::fmt::{self, Display};
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit code when the program's claim did not hold on this run.
pub const CLAIM_FAILED: i32 = 1;

/// Exit code when the system refused what the program needed: a thread, a
/// process, memory, a descriptor, a pipe (BSD `sysexits`' `EX_OSERR`).
pub const SYSTEM: i32 = 71;

/// Exit code when the program's output could not be written (stdout on a
/// full disk or `/dev/full`; `sysexits`' `EX_IOERR`).
pub const OUTPUT: i32 = 74;

/// Why a program stopped short: one line of text and the exit code it
/// documents. `?` on any `std::error::Error` makes a [`SYSTEM`] failure
/// whose line is the error and its causes, each said once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    code: i32,
    line: String,
}

impl Failure {
    /// The claim did not hold (exit [`CLAIM_FAILED`]).
    pub fn claim(line: impl Display) -> Self {
        Self::with_code(CLAIM_FAILED, line)
    }

    /// A value the flags let through but the program cannot use (exit
    /// [`USAGE`](crate::USAGE)); prefer a clap range where one can say it.
    pub fn usage(line: impl Display) -> Self {
        Self::with_code(crate::USAGE, line)
    }

    /// The system refused a resource (exit [`SYSTEM`]).
    pub fn system(line: impl Display) -> Self {
        Self::with_code(SYSTEM, line)
    }

    /// Stopped by a signal after cleaning up: exit `128 + signal`, as shells
    /// report it (130 for `SIGINT`, 143 for `SIGTERM`).
    pub fn interrupted(signal: i32) -> Self {
        let name = match signal {
            libc::SIGINT => "SIGINT".to_string(),
            libc::SIGTERM => "SIGTERM".to_string(),
            libc::SIGHUP => "SIGHUP".to_string(),
            other => format!("signal {other}"),
        };
        Self::with_code(
            128 + signal,
            format_args!("stopped by {name}, after cleaning up"),
        )
    }

    /// Any other documented exit code (3 for a detected deadlock, say).
    pub fn with_code(code: i32, line: impl Display) -> Self {
        let line = line.to_string();
        // One line, whatever the caller handed in.
        let line = line.lines().map(str::trim).collect::<Vec<_>>().join("; ");
        Self { code, line }
    }

    /// The exit code this failure ends the program with.
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The line printed on stderr (after `error: `).
    pub fn line(&self) -> &str {
        &self.line
    }
}

impl Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

impl<E: Error> From<E> for Failure {
    fn from(err: E) -> Self {
        Self::system(one_line(&err))
    }
}

/// An error and its chain of causes on one line, joined by `: `, leaving
/// out a cause whose text is already there (io errors wrapped by `thiserror`
/// or `anyhow` often repeat their source: "Too many open files (os error
/// 24): Too many open files (os error 24)" becomes the first half).
///
/// ```
/// let err = std::io::Error::from_raw_os_error(24);
/// assert_eq!(lesson::one_line(&err), "Too many open files (os error 24)");
/// ```
pub fn one_line(err: &dyn Error) -> String {
    let mut line = err.to_string();
    let mut cause = err.source();
    while let Some(next) = cause {
        let text = next.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = next.source();
    }
    line.lines().map(str::trim).collect::<Vec<_>>().join("; ")
}

/// Runs a program's `run` and ends it: exit 0 when it returned `Ok` and its
/// output was written; otherwise one line on stderr (`error: ...`) and the
/// failure's code. A write to stdout that failed (`println!` panics then)
/// unwinds through the program's `Drop`s, so its children and files are
/// cleaned up, and ends with [`OUTPUT`] instead of a panic message.
pub fn main(run: impl FnOnce() -> Result<(), Failure>) -> ExitCode {
    report_output_errors_in_one_line();
    let outcome = panic::catch_unwind(AssertUnwindSafe(run));
    let flushed = io::stdout().flush();
    let code = match outcome {
        _ if OUTPUT_FAILED.load(Ordering::SeqCst) => OUTPUT,
        Ok(Ok(())) => match flushed {
            Ok(()) => 0,
            Err(err) => {
                say(format_args!("cannot write the output: {err}"));
                OUTPUT
            }
        },
        Ok(Err(failure)) => {
            say(&failure);
            failure.code
        }
        Err(payload) => panic::resume_unwind(payload),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Set once a write to stdout failed and was reported.
static OUTPUT_FAILED: AtomicBool = AtomicBool::new(false);

fn say(line: impl Display) {
    // stderr may be closed too; then there is nowhere to say it.
    let _ = writeln!(io::stderr(), "error: {line}");
}

/// Installs (once) a panic hook that turns std's "failed printing to
/// stdout" panic into one line on stderr, said once however many threads
/// hit it; any other panic goes to the hook that was there before.
pub(crate) fn report_output_errors_in_one_line() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if let Some(cause) = message.strip_prefix("failed printing to stdout: ") {
                if !OUTPUT_FAILED.swap(true, Ordering::SeqCst) {
                    say(format_args!("cannot write the output: {cause}"));
                }
            } else {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapped(io::Error);
    impl Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}", self.0)
        }
    }
    impl Error for Wrapped {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_repeated_cause_is_said_once() {
        let err = Wrapped(io::Error::from_raw_os_error(24));
        assert_eq!(one_line(&err), "Too many open files (os error 24)");
        let failure = Failure::from(err);
        assert_eq!(failure.code(), SYSTEM);
    }

    #[test]
    fn a_failure_is_one_line_with_its_code() {
        let f = Failure::claim("first\nsecond");
        assert_eq!((f.code(), f.line()), (CLAIM_FAILED, "first; second"));
        assert_eq!(Failure::interrupted(libc::SIGTERM).code(), 143);
        assert_eq!(Failure::usage("x").code(), crate::USAGE);
    }
}
