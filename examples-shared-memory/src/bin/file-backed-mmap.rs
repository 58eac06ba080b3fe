//! Two unrelated processes share a file through memmap2; the data outlives
//! both; and truncating a mapped file turns the next touch into SIGBUS.
//!
//! Notice: the writer and the reader see each other's stores at once
//! (one page cache), `flush` (msync) only decides when the bytes reach the
//! disk, and a plain `read` finds them after both exited. Then a child
//! touches a page of a file that another process truncated under it: it
//! dies of SIGBUS, a signal and not an error return; the parent prints its
//! `WaitStatus`. Reach for a mapped file for data that must persist or be
//! shared by path; never let anyone shrink it while it is mapped (agree on
//! a lock, or use a memfd sealed with `F_SEAL_SHRINK`). Python: `mmap.mmap`.
//! Ctrl-C or SIGTERM: the program finishes, removes its temp file, exits
//! 130 or 143. The temp file carries the program's pid; each run first
//! removes those of runs that were SIGKILLed. The helpers' hidden role
//! flags take only a file the program made (name, size, owner marker).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use examples_shared_memory::file_map::{self, READER, WRITER};
use examples_shared_memory::interrupt;
use lesson::Failure;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::WaitStatus;
use nix::unistd::{getpid, getppid};

const WAIT: Duration = Duration::from_secs(10);

#[derive(Parser)]
struct Args {
    /// Size of the shared file in 4 KiB pages.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pages: u64,
    #[arg(long, hide = true, value_parser = ["writer", "reader"], requires = "path")]
    role: Option<String>,
    #[arg(long, hide = true, requires = "role")]
    path: Option<PathBuf>,
    /// Test hook: act as if Ctrl-C (or SIGTERM) came while the temp file exists.
    #[arg(long, hide = true, num_args = 0..=1, default_missing_value = "INT", value_parser = interrupt::parse_signal)]
    interrupt_self: Option<Signal>,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    if let (Some(role), Some(path)) = (&args.role, &args.path) {
        // Only a file our parent made, never one a user points us at.
        file_map::check_ours(path, getppid().as_raw()).map_err(Failure::usage)?;
        return Ok(file_map::play(role, path, WAIT).expect("clap allows only known roles")?);
    }
    lesson::interrupt::defer()?; // Ctrl-C: finish, remove the temp file, exit 130
    let exe = std::env::current_exe()?;
    let mut report = Vec::new(); // printed at the end, after cleanup
    let mut row = |label: &str, value: String| report.push(format!("{label:<28} {value}"));
    let bytes = args.pages as usize * 4096;
    let temp = file_map::temp_file(bytes)?; // removed on drop; sweeps dead runs' files first
    let path = temp.path().to_path_buf();
    let roles = ["writer", "reader"];
    let mut procs = Vec::new();
    for role in roles {
        procs.push(file_map::spawn_role(&exe, role, &path)?);
    }
    row("shared file", format!("{} ({bytes} bytes)", path.display()));
    if let Some(sig) = args.interrupt_self {
        kill(getpid(), sig)?; // the writer and reader ignore it
    }
    for (p, role) in procs.iter_mut().zip(roles) {
        let status = p.wait_timeout(WAIT)?;
        row(
            &format!("{role} process"),
            format!("pid {}   {status}", p.pid()),
        );
    }
    let persisted = file_map::first_two_words(&path)?; // no mapping left
    row(
        "file after both exited",
        format!("writer {:#x}, reader {:#x}", persisted.0, persisted.1),
    );
    let status = file_map::touch_after_truncate(&path, WAIT)?;
    row("touch after truncate", format!("{status:?}"));
    report.push("lesson: a mapped file is shared through the page cache and persists, but never shrink it while mapped: SIGBUS".to_string());
    drop(temp);
    lesson::interrupt::check()?;
    println!("{}", report.join("\n"));
    let sigbus = matches!(status, WaitStatus::Signaled(_, Signal::SIGBUS, _));
    if persisted != (WRITER, READER) || !sigbus {
        return Err(Failure::claim(format!(
            "expected both words in the file and a SIGBUS, got {persisted:x?} and {status:?}"
        )));
    }
    Ok(())
}
