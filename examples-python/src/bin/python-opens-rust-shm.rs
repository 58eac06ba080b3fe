//! Python opens Rust's shared memory: a `python3` child attaches by name with `SharedMemory(name=...)`.
//!
//! Rust creates a named segment (`shm_open`, under a name that carries its
//! pid), writes a word, and runs `python3` (or `--python-exe`), which
//! attaches with `multiprocessing.shared_memory.SharedMemory(name=...)`,
//! checks the word and writes one back. Notice the gotcha (gh-82300): the
//! child's resource tracker unlinks, at the child's exit, a segment the
//! child did not create, so the name is gone under Rust's feet. The fix is
//! the second row: `track=False` from Python 3.13, and on 3.12 and before
//! `resource_tracker.unregister(shm._name, "shared_memory")`, chosen by the
//! child's version; then the creator unlinks, as it should. Reach for this
//! when Python and Rust processes share data without pickling.
//!
//! Nothing is left in /dev/shm: Rust unlinks on every path, Ctrl-C and
//! SIGTERM clean up and exit 130/143, and each run first sweeps the names
//! of creators that were SIGKILLed. Exit 1 when a claim failed, 2 for a bad
//! flag or no usable Python.
use clap::Parser;
use examples_python::shm::{self, Attach, GREETING};
use examples_shared_memory::segment;
use lesson::Failure;
use lesson::python::{Interpreter, no_python};

#[derive(Parser)]
struct Args {
    /// The interpreter to run (default: $TVP_PYTHON, else python3).
    #[arg(long)]
    python_exe: Option<std::path::PathBuf>,
    /// Test hook: send this signal to itself once the first segment exists.
    #[arg(long, hide = true, value_parser = ["INT", "TERM"])]
    interrupt_self: Option<String>,
}

fn main() -> std::process::ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let a: Args = lesson::args();
    lesson::interrupt::defer()?; // Ctrl-C: the segment's Drop unlinks, then exit 130
    let swept = segment::sweep_stale()?;
    let py = Interpreter::find(a.python_exe.as_deref()).map_err(no_python)?;
    println!(
        "child: {}; swept {swept} stale names of dead creators",
        py.build.label()
    );
    let signal = match a.interrupt_self.as_deref() {
        Some("INT") => libc::SIGINT,
        Some(_) => libc::SIGTERM,
        None => 0,
    };
    let raise = || {
        if signal != 0 {
            // SAFETY: raise only delivers a signal to this thread; the
            // handler installed by `defer` stores it in an atomic.
            unsafe { libc::raise(signal) };
        }
    };
    let naive = shm::attach(&py, Attach::Naive, raise)?;
    let fixed = shm::attach(&py, Attach::Fixed, || {})?;
    lesson::interrupt::check()?;
    for (label, s, meaning) in [
        (
            "naive",
            &naive,
            "its tracker unlinked a segment it did not create",
        ),
        ("fixed", &fixed, "the creator unlinks it"),
    ] {
        println!("{label}: {}  {}", s.name, s.said);
        let (reply, left) = (s.reply, s.name_left);
        println!(
            "  Rust read back {reply:#x}; name left after the child exited: {left} ({meaning})"
        );
    }
    let left = shm::left_by_me();
    println!("/dev/shm names of this run left at the end: {}", left.len());
    println!(
        "lesson: a Python process that attaches to another's segment must not track it (track=False, 3.13+)"
    );
    let replied = [&naive, &fixed].iter().all(|s| s.reply == GREETING + 1);
    if !replied || naive.name_left || !fixed.name_left || !left.is_empty() {
        let line = "expected both replies, the naive name unlinked by Python's tracker, the fixed one kept, nothing left";
        return Err(Failure::claim(line));
    }
    Ok(())
}
