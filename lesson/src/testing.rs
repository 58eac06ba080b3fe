//! What the integration tests of every crate do the same way: run a program
//! with a time limit, check the usage-error contract, pipe it into
//! `head -1`, find the figures it printed, and check it left nothing behind
//! (no process, no `/dev/shm` entry, no temp file).
//!
//! Behind the cargo feature `testing`, so the programs themselves never link
//! `assert_cmd`; a crate enables it for its tests only:
//!
//! ```toml
//! [dev-dependencies]
//! lesson = { workspace = true, features = ["testing"] }
//! ```
//!
//! ```no_run
//! use lesson::testing::{assert_usage_error, number_after, run_ok, serial};
//!
//! // In a crate's tests: env!("CARGO_BIN_EXE_<program>").
//! let bin = "/path/to/program";
//! let (out, _err) = run_ok(bin, &["--threads", "3"], 60);
//! assert_eq!(number_after::<u64>(&out, "threads"), 3);
//! assert_usage_error(bin, &["--threads", "0"]);
//! ```
//!
//! The module is compiled only with the feature, so `cargo test -p lesson`
//! alone skips its unit tests and doctests; run them with
//! `cargo test -p lesson --features testing`.
//!
//! Every helper panics with the program's output when a check fails, so a
//! failing test says what the program printed.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use assert_cmd::Command;

use crate::USAGE;

static SERIAL: Mutex<()> = Mutex::new(());

/// One run at a time, for programs whose claims depend on timing or CPU:
/// hold the guard around such runs. Tests in one test binary run on
/// parallel threads and share this lock (each test binary has its own).
/// A test that panicked while holding it does not poison the others.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs a prepared command; returns (exit code, stdout, stderr).
///
/// Panics if either output is not UTF-8, and, with both outputs, if the program ended by a signal: the
/// `timeout` on `cmd` killed it (a hang) or it crashed.
pub fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("the program starts");
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (stdout, stderr) = (lossy(&out.stdout), lossy(&out.stderr));
    for (name, bytes, text) in [
        ("stdout", &out.stdout, &stdout),
        ("stderr", &out.stderr, &stderr),
    ] {
        assert!(
            std::str::from_utf8(bytes).is_ok(),
            "{cmd:?} printed invalid UTF-8 on {name}:\n{text}"
        );
    }
    let code = out.status.code().unwrap_or_else(|| {
        panic!(
            "{cmd:?} ended by a signal ({:?}; a hang past its time limit?)\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        )
    });
    (code, stdout, stderr)
}

/// Runs `bin args` with a time limit of `secs` seconds and without
/// `RUST_BACKTRACE` (so stderr does not depend on the caller's shell);
/// returns (exit code, stdout, stderr). See [`output`] for the panics.
pub fn run(bin: &str, args: &[&str], secs: u64) -> (i32, String, String) {
    output(
        Command::new(bin)
            .args(args)
            .env_remove("RUST_BACKTRACE")
            .timeout(Duration::from_secs(secs)),
    )
}

/// [`run`], then asserts exit 0 and that stdout has its `lesson: ` line;
/// returns (stdout, stderr). The lesson is not always last: a program may
/// add a note after it (a claim not checked on a loaded machine); use
/// [`assert_lesson_last`] where it must be.
pub fn run_ok(bin: &str, args: &[&str], secs: u64) -> (String, String) {
    let (code, stdout, stderr) = run(bin, args, secs);
    assert_eq!(
        code, 0,
        "{bin} {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("lesson: ")),
        "no lesson line:\n{stdout}"
    );
    (stdout, stderr)
}

/// Asserts that the last line of `stdout` starts with `lesson: `.
pub fn assert_lesson_last(stdout: &str) {
    assert!(
        stdout.lines().last().unwrap_or("").starts_with("lesson: "),
        "the last line is not the lesson:\n{stdout}"
    );
}

/// Asserts the usage-error contract of [`crate::args`] and
/// [`crate::usage_error`] for `bin args`: exit 2, exactly one line on
/// stderr starting with `error:`, nothing on stdout (30 s time limit).
pub fn assert_usage_error(bin: &str, args: &[&str]) {
    let (code, stdout, stderr) = run(bin, args, 30);
    assert_eq!(code, USAGE, "{bin} {args:?}: {stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{bin} {args:?}: {stderr}");
    assert!(stderr.starts_with("error:"), "{bin} {args:?}: {stderr}");
    assert!(stdout.is_empty(), "{bin} {args:?}: {stdout}");
}

/// [`assert_usage_error`] for each flag set in `cases`.
///
/// ```no_run
/// lesson::testing::assert_usage_errors(
///     "/path/to/program",
///     &[&["--threads", "0"], &["--threads", "abc"], &["--bogus"]],
/// );
/// ```
pub fn assert_usage_errors(bin: &str, cases: &[&[&str]]) {
    for args in cases {
        assert_usage_error(bin, args);
    }
}

/// Runs `bin args` with stdout on `/dev/full` (every write fails with
/// `ENOSPC`) and asserts the output-error contract of [`crate::main`]: exit
/// [`crate::OUTPUT`] (74), exactly one line on stderr naming the failed
/// write, no panic message. Returns that line.
pub fn assert_output_error(bin: &str, args: &[&str], secs: u64) -> String {
    // assert_cmd captures stdout; a shell hands the program /dev/full.
    let (code, _, stderr) = output(
        Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" > /dev/full"#)
            .arg(bin)
            .args(args)
            .env_remove("RUST_BACKTRACE")
            .timeout(Duration::from_secs(secs)),
    );
    assert_eq!(code, crate::OUTPUT, "{bin} {args:?} > /dev/full: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "{bin} {args:?} > /dev/full: {stderr}"
    );
    assert!(
        stderr.starts_with("error: cannot write the output"),
        "{bin} {args:?} > /dev/full: {stderr}"
    );
    stderr
}

/// `sh -c '<command> | head -1'`, for tests that add an environment or
/// check stderr their own way. `command` is a shell command line: quote
/// the program's path (`format!("'{bin}' --quick")`).
pub fn under_head(command: &str) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(format!("{command} | head -1"));
    sh
}

/// Runs `command | head -1` (see [`under_head`]) with a time limit and
/// asserts the program went quietly: the pipeline exits 0, stdout is
/// exactly one line, stderr is empty (no "Broken pipe" panic). Returns
/// that line.
pub fn assert_quiet_under_head(command: &str, secs: u64) -> String {
    let (code, stdout, stderr) = output(under_head(command).timeout(Duration::from_secs(secs)));
    assert_eq!(code, 0, "{command} | head -1: {stdout}{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{command} | head -1: {stdout}");
    assert!(stderr.is_empty(), "{command} | head -1: {stderr}");
    stdout
}

/// Asserts that `text` contains every one of `parts`; the message names
/// the missing part and shows the whole text.
///
/// ```
/// lesson::testing::assert_contains_all("woke 6 of 6\nlesson: x", &["woke 6", "lesson: "]);
/// ```
pub fn assert_contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "no {part:?} in:\n{text}");
    }
}

/// The first line of `out` that contains `key`; panics with `out` if none.
pub fn line_with<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(key))
        .unwrap_or_else(|| panic!("no line with {key:?} in:\n{out}"))
}

/// The first line of `out` that starts with `label`; panics with `out` if
/// none.
pub fn line_starting<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no line starting {label:?} in:\n{out}"))
}

/// The number in the word right after `word` in `text` (the first
/// occurrence of `word` that a number follows); panics if there is none.
///
/// ```
/// use lesson::testing::number_after;
/// let line = "racy   expected 150   got 50   lost 100";
/// assert_eq!(number_after::<i64>(line, "lost"), 100);
/// ```
pub fn number_after<T: FromStr>(text: &str, word: &str) -> T {
    text.match_indices(word)
        .find_map(|(at, _)| {
            text[at + word.len()..]
                .split_whitespace()
                .next()
                .and_then(|w| w.parse().ok())
        })
        .unwrap_or_else(|| panic!("no number after {word:?} in {text:?}"))
}

/// Polls `left` every 20 ms until it returns nothing or `limit` passes;
/// returns what was left last (empty when all went). For processes, give
/// PID 1 a moment: it reaps orphans lazily on these machines.
pub fn wait_gone<T>(limit: Duration, mut left: impl FnMut() -> Vec<T>) -> Vec<T> {
    let deadline = Instant::now() + limit;
    loop {
        let now = left();
        if now.is_empty() || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `done` every 5 ms until it holds or `limit` passes; returns
/// whether it held (a program has forked its workers, say).
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `/proc/<pid>` exists (a zombie still counts).
pub fn pid_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// A process as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The command name (at most 15 bytes of the executable's name).
    pub comm: String,
    /// `R`, `S`, `D`, `Z` (zombie), ...
    pub state: char,
    /// The parent's pid.
    pub ppid: u32,
}

/// Reads `/proc/<pid>/stat`; `None` if the process is gone.
pub fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name sits in parentheses and may itself contain ") ".
    let (head, rest) = text.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Stat { comm, state, ppid })
}

/// Pids of every process in `/proc`.
pub fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Children of `pid`, zombies included.
pub fn children_of(pid: u32) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&p| stat(p).is_some_and(|s| s.ppid == pid))
        .collect()
}

/// Live processes whose executable is the file `bin` (so a run of the same
/// program from another target dir does not count). A zombie has no
/// executable left, so it is not listed.
pub fn running(bin: &str) -> Vec<u32> {
    let target = std::fs::canonicalize(bin).unwrap_or_else(|_| bin.into());
    all_pids()
        .into_iter()
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == target))
        .collect()
}

/// [`running`] plus zombies whose command name is `bin`'s file name (first
/// 15 bytes, as the kernel keeps it): every process of `bin` still in the
/// process table.
pub fn processes_of(bin: &str) -> Vec<u32> {
    let name = Path::new(bin)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let comm: String = name.chars().take(15).collect();
    let mut found = running(bin);
    found.extend(
        all_pids()
            .into_iter()
            .filter(|&p| stat(p).is_some_and(|s| s.state == 'Z' && s.comm == comm)),
    );
    found.sort_unstable();
    found.dedup();
    found
}

/// Pids of processes whose command line contains `needle`.
pub fn processes_with_cmdline(needle: &str) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .collect()
}

/// Every pid a program printed: numbers inside `Pid(...)` and the
/// comma-separated numbers in the word after `pid` or `pids`.
///
/// ```
/// use lesson::testing::printed_pids;
/// let out = "child pid 41 exited\nworkers pids 7,8 Exited(Pid(9), 0)";
/// assert_eq!(printed_pids(out), vec![7, 8, 9, 41]);
/// ```
pub fn printed_pids(out: &str) -> Vec<u32> {
    let mut found: Vec<u32> = out
        .split("Pid(")
        .skip(1)
        .filter_map(|rest| rest.split(')').next()?.parse().ok())
        .collect();
    let words: Vec<&str> = out.split_whitespace().collect();
    for pair in words.windows(2) {
        if pair[0] == "pid" || pair[0] == "pids" {
            found.extend(
                pair[1]
                    .split(',')
                    .filter_map(|p| p.trim_end_matches(')').parse::<u32>().ok()),
            );
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// Asserts that every pid in `pids` leaves `/proc` within `limit`.
pub fn assert_pids_gone(pids: &[u32], limit: Duration, context: &dyn Debug) {
    let left = wait_gone(limit, || {
        pids.iter().copied().filter(|&p| pid_exists(p)).collect()
    });
    assert!(left.is_empty(), "{context:?} left processes {left:?}");
}

/// Names of the entries in `dir` (`/dev/shm`, a temp dir); empty if `dir`
/// cannot be read. Take it before a run and compare after.
pub fn entries(dir: impl AsRef<Path>) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_found_and_its_stat_read() {
        let me = std::process::id();
        let s = stat(me).expect("own stat");
        assert_ne!(s.state, 'Z');
        assert!(pid_exists(me));
        assert!(children_of(s.ppid).contains(&me));
        let exe = std::env::current_exe().unwrap();
        assert!(running(exe.to_str().unwrap()).contains(&me));
        assert!(processes_of(exe.to_str().unwrap()).contains(&me));
    }

    #[test]
    fn figures_and_lines_are_found() {
        let out = "a   got 5 of 7\nb   lost 0\nlesson: x\n";
        assert_eq!(line_with(out, "lost"), "b   lost 0");
        assert_eq!(line_starting(out, "a "), "a   got 5 of 7");
        assert_eq!(number_after::<u8>(out, "of"), 7);
        assert_lesson_last(out);
    }

    #[test]
    fn wait_gone_returns_what_is_left() {
        assert!(wait_gone(Duration::ZERO, Vec::<u32>::new).is_empty());
        assert_eq!(wait_gone(Duration::ZERO, || vec![1]), vec![1]);
        assert!(wait_until(Duration::ZERO, || true));
        assert!(!wait_until(Duration::ZERO, || false));
    }

    #[test]
    fn shell_under_head_is_quiet_and_one_line() {
        assert_eq!(assert_quiet_under_head("yes", 30), "y\n");
    }
}
