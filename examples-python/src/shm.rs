//! What `python-opens-rust-shm` does: Rust creates a named segment
//! ([`examples_shared_memory::segment::Segment`]), a `python3` child
//! attaches to it with `multiprocessing.shared_memory.SharedMemory(name=)`,
//! checks the word Rust wrote and writes one back.
//!
//! The gotcha (gh-82300): in CPython up to 3.12, and by default after, the
//! attaching process registers the segment with its resource tracker, which
//! unlinks it when that process exits, although it did not create it: the
//! creator's name is gone. The fix, chosen by the interpreter's version in
//! the child (`python/attach_shm.py`): `SharedMemory(name=, track=False)`
//! from 3.13, `resource_tracker.unregister(name, "shared_memory")` before.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use examples_shared_memory::segment::{HEADER, Segment};
use lesson::python::{Interpreter, PyError};

/// The child's source.
pub const CHILD: &str = include_str!("../python/attach_shm.py");

/// The word Rust writes for Python to check.
pub const GREETING: u64 = 0x5275_7374_2d73_686d; // "Rust-shm"

/// How the child attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// As the docs show: its tracker unlinks the segment at exit.
    Naive,
    /// Untracked (`track=False`, or unregistered on 3.12 and before).
    Fixed,
}

/// What one attach showed.
#[derive(Debug)]
pub struct Shown {
    /// The segment's name.
    pub name: String,
    /// What the child said (`read 0x.. wrote 0x.. via ..`).
    pub said: String,
    /// The word the child wrote back, read by Rust.
    pub reply: u64,
    /// Whether the name was still in /dev/shm once the child and its
    /// resource tracker had ended.
    pub name_left: bool,
}

/// Creates a segment, lets the child attach `how`, and reads what it did.
/// `before_child` runs once the segment exists (a test hook stops here).
pub fn attach(
    python: &Interpreter,
    how: Attach,
    before_child: impl FnOnce(),
) -> Result<Shown, lesson::Failure> {
    let seg = Segment::create(64)?;
    seg.words()[0].store(GREETING, Ordering::Release);
    before_child();
    lesson::interrupt::check()?; // Drop unlinks the name
    let mode = if how == Attach::Naive {
        "naive"
    } else {
        "fixed"
    };
    let limit = Duration::from_secs(30);
    let mut cmd = python.command();
    let name = seg.name().trim_start_matches('/');
    cmd.args([
        "-c",
        CHILD,
        name,
        mode,
        &HEADER.to_string(),
        &GREETING.to_string(),
    ]);
    let said = lesson::python::run(&mut cmd, limit)
        .and_then(|ran| ran.success(limit))
        .map_err(|e: PyError| lesson::Failure::claim(e))?;
    let reply = seg.words()[1].load(Ordering::Acquire);
    // The tracker may unlink a moment after the child ended.
    let give_up = Instant::now() + Duration::from_secs(3);
    while how == Attach::Naive && Segment::exists(seg.name()) && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Shown {
        name: seg.name().to_string(),
        said: said.trim().to_string(),
        reply,
        name_left: Segment::exists(seg.name()),
    })
}

/// The names in /dev/shm that this process made and left.
pub fn left_by_me() -> Vec<String> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/dev/shm")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| Segment::creator(n) == Some(me))
                .collect()
        })
        .unwrap_or_default()
}
