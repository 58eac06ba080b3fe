//! A named segment (`shm_open`) that a second, unrelated process opens by
//! name, and that leaves nothing in /dev/shm, even when its creator is
//! SIGKILLed.
//!
//! Notice: the creator unlinks the name as soon as the opener has the
//! segment mapped, so the name is gone while both still use the memory, and
//! killing the creator after that leaks nothing. The last row kills a
//! creator that keeps its name until exit, as Python's
//! `shared_memory.SharedMemory(create=True)` does until `unlink()`: the name
//! stays in /dev/shm (this program then removes it). Reach for a named
//! segment when the other process is not your fork child. Ctrl-C: the
//! program finishes its short steps, removes every name, exits 130.

use std::io::{BufRead, BufReader, Read};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use examples_shared_memory::{child, interrupt, segment::Segment};
use nix::sys::signal::{Signal, kill};
use nix::unistd::getpid;

const GREETING: u64 = 0x5EED_0000_0001;
const WAIT: Duration = Duration::from_secs(10);

#[derive(Parser)]
struct Args {
    /// Usable bytes in the segment (16 to 2^30: two words).
    #[arg(long, default_value_t = 4096, value_parser = lesson::at_least_one)]
    bytes: usize,
    #[arg(long, hide = true)]
    role: Option<String>,
    #[arg(long, hide = true)]
    name: Option<String>,
    /// Test hook: act as if Ctrl-C came while a creator holds its name.
    #[arg(long, hide = true)]
    interrupt_self: bool,
}

fn main() -> Result<()> {
    let args: Args = lesson::args();
    if !(16..=1 << 30).contains(&args.bytes) {
        lesson::usage_error("--bytes must be between 16 and 2^30");
    }
    match (args.role.as_deref(), args.name) {
        (Some("open"), Some(name)) => {
            let seg = Segment::open(&name)?;
            let greeting = seg.words()[0].load(Ordering::Acquire);
            seg.words()[1].store(greeting + 1, Ordering::Release);
            return Ok(());
        }
        (Some(role @ ("create" | "create-keep")), None) => {
            let mut seg = Segment::create(args.bytes)?;
            seg.words()[0].store(GREETING, Ordering::Release);
            println!("{}", seg.name());
            if role == "create" {
                seg.unlink_after_attached(1, WAIT)?;
            }
            println!("ready");
            // Wait to be killed (or for the parent's end of stdin to close).
            return Ok(std::io::stdin().read_to_end(&mut Vec::new()).map(drop)?);
        }
        (None, None) => {}
        _ => lesson::usage_error("unknown hidden role"),
    }
    interrupt::defer()?; // Ctrl-C: finish, clean up, then exit 130
    let exe = std::env::current_exe()?;
    let mut report = Vec::new(); // printed at the end, after cleanup

    let mut seg = Segment::create(args.bytes)?;
    seg.words()[0].store(GREETING, Ordering::Release);
    let mut opener =
        child::spawn(Command::new(&exe).args(["--role", "open", "--name", seg.name()]))?;
    seg.unlink_after_attached(1, WAIT)?;
    let gone_in_use = !Segment::exists(seg.name());
    let status = opener.wait_timeout(WAIT)?;
    let reply = seg.words()[1].load(Ordering::Acquire);
    report.push(format!(
        "segment {}   opener pid {}   {status}",
        seg.name(),
        opener.pid()
    ));
    report.push(format!(
        "  opener read {GREETING:#x}, wrote {reply:#x}; name gone while both mapped it: {gone_in_use}"
    ));

    let mut rows = Vec::new();
    for role in ["create", "create-keep"] {
        let mut creator = child::spawn(Command::new(&exe).args(["--role", role]))?;
        let mut out = BufReader::new(creator.inner().stdout.take().context("no stdout")?);
        let (mut name, mut ready) = (String::new(), String::new());
        out.read_line(&mut name)?;
        let name = name.trim().to_string();
        let opened = Segment::open(&name).with_context(|| format!("open {name}"))?;
        if args.interrupt_self && role == "create-keep" {
            for pid in [getpid(), creator.pid()] {
                kill(pid, Signal::SIGINT)?; // what Ctrl-C sends the process group
            }
        }
        out.read_line(&mut ready)?;
        let signal = creator.kill()?;
        let leaked = Segment::exists(&name);
        let greeting = opened.words()[0].load(Ordering::Acquire);
        report.push(format!(
            "{:<28} creator pid {} killed by signal {}   /dev/shm{name} left: {leaked}   memory still reads {greeting:#x}",
            if role == "create" { "unlinked once opened" } else { "kept its name (Python-style)" },
            creator.pid(),
            signal.unwrap_or(0)
        ));
        if leaked {
            nix::sys::mman::shm_unlink(name.as_str())?; // clean up the demonstrated leak
        }
        rows.push((leaked, greeting));
    }
    report.push(
        "lesson: unlink a named segment once every process has it open; then no kill can leak it"
            .to_string(),
    );
    let expected = [(false, GREETING), (true, GREETING)];
    interrupt::exit_if_requested();
    println!("{}", report.join("\n"));
    if !gone_in_use || !status.success() || reply != GREETING + 1 || rows != expected {
        bail!(
            "expected the name gone while in use, a reply, and a leak only for the keep-name creator"
        );
    }
    Ok(())
}
