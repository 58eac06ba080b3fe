//! The start and the end of every program in this workspace.
//!
//! A lesson program is `fn main() -> ExitCode { lesson::main(run) }`: its
//! `run` begins with [`args`] and returns `Ok(())` when the claim held, or a
//! [`Failure`] that says in one line what went wrong and which exit code
//! that is. That gives every program the same contract:
//!
//! - bad flags print one line on stderr and exit [`USAGE`] (2), never a
//!   panic; each limit is stated once, in clap (`value_parser!(u64)
//!   .range(1..=64)` or [`at_least_one`]), so `--help` and the error agree;
//! - `--help` and `--version` print as usual and exit 0;
//! - a claim that did not hold exits [`CLAIM_FAILED`] (1), with one line;
//! - the system refusing a thread, a process, memory or a descriptor exits
//!   [`SYSTEM`] (71), with one line naming the cause (never a Debug dump,
//!   never the same text twice, never a backtrace);
//! - output that cannot be written (stdout on a full disk or `/dev/full`)
//!   exits [`OUTPUT`] (74), with one line, after the program's own cleanup
//!   (its `Drop`s) ran;
//! - piped into `head -1`, the program ends quietly instead of panicking
//!   with "failed printing to stdout: Broken pipe";
//! - other codes (3 for a detected deadlock, 130 for Ctrl-C, ...) are
//!   documented in the program's `//!` headline and made with
//!   [`Failure::with_code`].
//!
//! ```no_run
//! use clap::Parser;
//! use lesson::Failure;
//! use std::process::ExitCode;
//!
//! #[derive(Parser)]
//! struct Args {
//!     /// Worker threads.
//!     #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
//!     threads: u32,
//! }
//!
//! fn main() -> ExitCode {
//!     lesson::main(run)
//! }
//!
//! fn run() -> Result<(), Failure> {
//!     let args: Args = lesson::args();
//!     let handle = std::thread::Builder::new().spawn(|| 6 * 7)?; // exit 71 if refused
//!     let answer = handle.join().map_err(|_| Failure::claim("the thread panicked"))?;
//!     println!("threads: {}, answer: {answer}", args.threads);
//!     if answer != 42 {
//!         return Err(Failure::claim(format!("expected 42, got {answer}")));
//!     }
//!     println!("lesson: ...");
//!     Ok(())
//! }
//! ```

mod end;
pub mod interrupt;
pub mod python;
#[cfg(feature = "testing")]
pub mod testing;

pub use end::{CLAIM_FAILED, Failure, OUTPUT, SYSTEM, main, one_line};

use std::fmt::Display;
use std::process::exit;

/// Exit code for a usage error (bad flag or value), as clap and BSD's
/// `sysexits` conventions use.
pub const USAGE: i32 = 2;

/// Parses the command line into `T`, or prints one line and exits 2.
///
/// Also restores the default `SIGPIPE` action, which the Rust runtime
/// ignores: with it ignored, writing to a closed pipe makes `println!` panic;
/// restored, the program ends silently as `cat` or `grep` would.
pub fn args<T: clap::Parser>() -> T {
    quiet_on_closed_pipe();
    end::report_output_errors_in_one_line();
    match T::try_parse() {
        Ok(args) => args,
        Err(err) => match err.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                err.exit()
            }
            _ => {
                // clap renders "error: ...", a blank line and a hint to try
                // --help; the first line carries the whole message.
                let rendered = err.render().to_string();
                let first = rendered.lines().next().unwrap_or("error: bad arguments");
                eprintln!("{first}");
                exit(USAGE)
            }
        },
    }
}

/// Prints `error: {message}` on one line and exits 2, for values that are
/// well-formed but unusable (a size that cannot fit in memory, say).
pub fn usage_error(message: impl Display) -> ! {
    eprintln!("error: {message}");
    exit(USAGE)
}

/// A clap value parser for counts that must be at least one
/// (`--threads 0` is refused with a clear message).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e} (expected a whole number, at least 1)")),
    }
}

fn quiet_on_closed_pipe() {
    // SAFETY: called at the start of main, before any thread exists;
    // installing SIG_DFL for SIGPIPE has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_one_refuses_zero_and_junk() {
        assert_eq!(at_least_one("3"), Ok(3));
        assert!(at_least_one("0").unwrap_err().contains("at least 1"));
        assert!(at_least_one("abc").is_err());
        assert!(at_least_one("-1").is_err());
    }
}
