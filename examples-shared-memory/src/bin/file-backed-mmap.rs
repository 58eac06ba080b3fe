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
//! Ctrl-C: the program finishes, removes its temp file, exits 130.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Parser;
use examples_shared_memory::file_map::{self, READER, WRITER};
use examples_shared_memory::interrupt;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::WaitStatus;
use nix::unistd::getpid;

const WAIT: Duration = Duration::from_secs(10);

#[derive(Parser)]
struct Args {
    /// Size of the shared file in 4 KiB pages (1 to 1024).
    #[arg(long, default_value_t = 2, value_parser = lesson::at_least_one)]
    pages: usize,
    #[arg(long, hide = true)]
    role: Option<String>,
    #[arg(long, hide = true)]
    path: Option<PathBuf>,
    /// Test hook: act as if Ctrl-C came while the temp file exists.
    #[arg(long, hide = true)]
    interrupt_self: bool,
}

fn main() -> Result<()> {
    let args: Args = lesson::args();
    if args.pages > 1024 {
        lesson::usage_error("--pages must be at most 1024");
    }
    match (args.role.as_deref(), &args.path) {
        (Some(role), Some(path)) => match file_map::play(role, path, WAIT) {
            Some(played) => return Ok(played?),
            None => lesson::usage_error("unknown hidden role"),
        },
        (None, None) => {}
        _ => lesson::usage_error("unknown hidden role"),
    }
    interrupt::defer()?; // Ctrl-C: finish, remove the temp file, exit 130
    let exe = std::env::current_exe()?;
    let mut report = Vec::new(); // printed at the end, after cleanup
    let mut row = |label: &str, value: String| report.push(format!("{label:<28} {value}"));
    let temp = file_map::temp_file(args.pages * 4096)?; // removed on drop
    let path = temp.path().to_path_buf();
    let roles = ["writer", "reader"];
    let mut procs = Vec::new();
    for role in roles {
        procs.push(file_map::spawn_role(&exe, role, &path)?);
    }
    let (shown, bytes) = (path.display(), args.pages * 4096);
    row("shared file", format!("{shown} ({bytes} bytes)"));
    if args.interrupt_self {
        kill(getpid(), Signal::SIGINT)?; // the writer and reader ignore it
    }
    for (p, role) in procs.iter_mut().zip(roles) {
        let status = p.wait_timeout(WAIT)?;
        let (label, pid) = (format!("{role} process"), p.pid());
        row(&label, format!("pid {pid}   {status}"));
    }
    let persisted = file_map::first_two_words(&path)?; // no mapping left
    let both = format!("writer {:#x}, reader {:#x}", persisted.0, persisted.1);
    row("file after both exited", both);

    // SAFETY: this process never starts a thread (spawn made none).
    let status = unsafe { file_map::touch_after_truncate(&path, WAIT) }?;
    row("touch after truncate", format!("{status:?}"));
    report.push("lesson: a mapped file is shared through the page cache and persists, but never shrink it while mapped: SIGBUS".to_string());
    drop(temp);
    let sigbus = matches!(status, WaitStatus::Signaled(_, Signal::SIGBUS, _));
    interrupt::exit_if_requested();
    println!("{}", report.join("\n"));
    if persisted != (WRITER, READER) || !sigbus {
        bail!("expected both words in the file and a SIGBUS, got {persisted:x?} and {status:?}");
    }
    Ok(())
}
