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

use anyhow::{Result, bail};
use clap::Parser;
use examples_shared_memory::interrupt;
use examples_shared_memory::named_segment::{self, GREETING};

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
        (Some("open"), Some(name)) => return Ok(named_segment::open_and_reply(&name)?),
        (Some(role @ ("create" | "create-keep")), None) => {
            return named_segment::create_and_wait(args.bytes, role == "create");
        }
        (None, None) => {}
        _ => lesson::usage_error("unknown hidden role"),
    }
    interrupt::defer()?; // Ctrl-C: finish, clean up, then exit 130
    let exe = std::env::current_exe()?;
    let mut report = Vec::new(); // printed at the end, after cleanup

    let h = named_segment::hand_off(&exe, args.bytes)?;
    let (name, pid, status, reply) = (&h.name, h.opener, h.status, h.reply);
    report.push(format!("segment {name}   opener pid {pid}   {status}"));
    report.push(format!(
        "  opener read {GREETING:#x}, wrote {reply:#x}; name gone while both mapped it: {}",
        h.gone_in_use
    ));

    let mut rows = Vec::new();
    for (role, label) in [
        ("create", "unlinked once opened"),
        ("create-keep", "kept its name (Python-style)"),
    ] {
        let interrupt_self = args.interrupt_self && role == "create-keep";
        let k = named_segment::kill_creator(&exe, role, interrupt_self)?;
        let (pid, signal, name, leaked, greeting) =
            (k.pid, k.signal.unwrap_or(0), &k.name, k.leaked, k.greeting);
        report.push(format!(
            "{label:<28} creator pid {pid} killed by signal {signal}   /dev/shm{name} left: {leaked}   memory still reads {greeting:#x}"
        ));
        rows.push((leaked, greeting));
    }
    report.push(
        "lesson: unlink a named segment once every process has it open; then no kill can leak it"
            .to_string(),
    );
    let expected = [(false, GREETING), (true, GREETING)];
    interrupt::exit_if_requested();
    println!("{}", report.join("\n"));
    if !h.gone_in_use || !status.success() || reply != GREETING + 1 || rows != expected {
        bail!(
            "expected the name gone while in use, a reply, and a leak only for the keep-name creator"
        );
    }
    Ok(())
}
