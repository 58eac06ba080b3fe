//! A named segment (`shm_open`) that a second, unrelated process opens by
//! name, and that leaves nothing in /dev/shm, even when its creator is
//! SIGKILLed.
//!
//! Notice: the creator unlinks the name as soon as the opener has the
//! segment mapped, so the name is gone while both still use the memory, and
//! killing the creator after that leaks nothing. The last row kills a
//! creator that keeps its name until exit, as Python's
//! `shared_memory.SharedMemory(create=True)` does until `unlink()`: the name
//! stays in /dev/shm (this program then removes it). Python 3.13 added
//! `SharedMemory(track=False)` (gh-82300) so that the resource tracker no
//! longer unlinks a segment another process still uses; then nobody
//! unlinks it for you. Names carry the creator's pid, and each run first
//! removes the names of dead creators, closing the window a SIGKILL before
//! the unlink leaves. Reach for a named segment when the other process is
//! not your fork child. Ctrl-C or SIGTERM: the program finishes its short
//! steps, removes every name, exits 130 or 143.

use std::process::ExitCode;

use clap::Parser;
use examples_shared_memory::named_segment::{self, GREETING};
use examples_shared_memory::{interrupt, segment};
use lesson::Failure;
use nix::sys::signal::Signal;

#[derive(Parser)]
struct Args {
    /// Usable bytes in the segment (two words at least).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(16..=1 << 30))]
    bytes: u64,
    #[arg(long, hide = true, value_parser = ["open", "create", "create-keep"])]
    role: Option<String>,
    #[arg(long, hide = true, requires = "role")]
    name: Option<String>,
    /// Test hook: act as if Ctrl-C (or SIGTERM) came while a creator holds its name.
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "INT", value_parser = interrupt::parse_signal)]
    interrupt_self: Option<Signal>,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let bytes = args.bytes as usize;
    if let Some(role) = &args.role {
        let played = named_segment::play(role, args.name.as_deref(), bytes);
        let played = played
            .ok_or_else(|| Failure::usage("--role open takes --name, the other roles none"))?;
        return played.map_err(refused);
    }
    lesson::interrupt::defer()?; // Ctrl-C: finish, clean up, then exit 130
    segment::sweep_stale()?; // what SIGKILLed runs left
    let exe = std::env::current_exe()?;
    let mut report = Vec::new(); // printed at the end, after cleanup
    let h = named_segment::hand_off(&exe, bytes)?;
    let (name, pid, status, reply, gone) = (&h.name, h.opener, h.status, h.reply, h.gone_in_use);
    report.push(format!("segment {name}   opener pid {pid}   {status}"));
    report.push(format!(
        "  opener read {GREETING:#x}, wrote {reply:#x}; name gone while both mapped it: {gone}"
    ));
    let mut rows = Vec::new();
    let killed = [
        ("create", "unlinked once opened", None),
        (
            "create-keep",
            "kept its name (Python-style)",
            args.interrupt_self,
        ),
    ];
    for (role, label, signal) in killed {
        let k = named_segment::kill_creator(&exe, role, signal)?;
        let (pid, sig, name, leaked, greeting) =
            (k.pid, k.signal.unwrap_or(0), &k.name, k.leaked, k.greeting);
        report.push(format!("{label:<28} creator pid {pid} killed by signal {sig}   /dev/shm{name} left: {leaked}   memory still reads {greeting:#x}"));
        rows.push((leaked, greeting));
    }
    report.push(
        "lesson: unlink a named segment once every process has it open; then no kill can leak it"
            .into(),
    );
    lesson::interrupt::check()?;
    println!("{}", report.join("\n"));
    let claim = gone && status.success() && reply == GREETING + 1;
    if !claim || rows != [(false, GREETING), (true, GREETING)] {
        let line = "expected the name gone while in use, a reply, and a leak only for the keep-name creator";
        return Err(Failure::claim(line));
    }
    Ok(())
}

/// A segment the opener will not touch is bad input (exit 2); any other
/// error is the system's.
fn refused(err: std::io::Error) -> Failure {
    match err.kind() {
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::PermissionDenied => {
            Failure::usage(err)
        }
        _ => err.into(),
    }
}
