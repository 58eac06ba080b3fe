//! The processes of a named-segment handoff: a creator that publishes a
//! [`Segment`] by name, an unrelated opener that maps it by that name, and
//! a creator killed by SIGKILL to see whether its name leaks.
//!
//! The roles run in child processes started from the program's own
//! executable (`exe --role open --name NAME`, `exe --role create` or
//! `create-keep`); [`open_and_reply`] and [`create_and_wait`] are what those
//! roles do, [`hand_off`] and [`kill_creator`] drive them from the parent.
//! Every name this module creates is unlinked before it returns, also the
//! one a killed `create-keep` creator leaked.

use crate::child;
use crate::segment::Segment;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpid, getppid};
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The word the creator writes first; the opener answers with it plus one.
pub const GREETING: u64 = 0x5EED_0000_0001;

/// How long any child step may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// What `exe --role <role> [--name NAME]` does: `open` runs
/// [`open_and_reply`], `create` and `create-keep` run [`create_and_wait`];
/// `None` for a role and name that do not go together.
pub fn play(role: &str, name: Option<&str>, bytes: usize) -> Option<io::Result<()>> {
    match (role, name) {
        ("open", Some(name)) => Some(open_and_reply(name)),
        ("create", None) => Some(create_and_wait(bytes, true)),
        ("create-keep", None) => Some(create_and_wait(bytes, false)),
        _ => None,
    }
}

/// The opener role: map the segment `name`, read the greeting, reply. Only
/// a segment that this process's parent created is opened (its pid is in
/// the name, and [`Segment::open`] checks the owner marker): the role is
/// reachable from the command line, and must not write into anyone else's
/// memory.
pub fn open_and_reply(name: &str) -> io::Result<()> {
    if Segment::creator(name) != Some(getppid().as_raw()) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{name} was not created by this program's parent; refusing to open it"),
        ));
    }
    let seg = Segment::open(name)?;
    let greeting = seg.words()[0].load(Ordering::Acquire);
    seg.words()[1].store(greeting + 1, Ordering::Release);
    Ok(())
}

/// The creator role: create a segment of `bytes`, greet, print its name;
/// with `unlink_once_opened`, unlink the name once one opener has it. Then
/// print `ready` and wait to be killed (or for stdin to close).
pub fn create_and_wait(bytes: usize, unlink_once_opened: bool) -> io::Result<()> {
    let mut seg = Segment::create(bytes)?;
    seg.words()[0].store(GREETING, Ordering::Release);
    println!("{}", seg.name());
    if unlink_once_opened {
        seg.unlink_after_attached(1, WAIT)?;
    }
    println!("ready");
    std::io::stdin().read_to_end(&mut Vec::new()).map(drop)
}

/// What [`hand_off`] saw.
#[derive(Debug)]
pub struct Handoff {
    /// The segment's name (gone by the time this is returned).
    pub name: String,
    /// The opener's pid.
    pub opener: Pid,
    /// The opener's exit status.
    pub status: ExitStatus,
    /// What the opener wrote back.
    pub reply: u64,
    /// Whether the name was gone while both processes still mapped it.
    pub gone_in_use: bool,
}

/// Creates a segment here, lets a child (`exe --role open`) open it by
/// name, and unlinks the name as soon as the child has it mapped.
pub fn hand_off(exe: &Path, bytes: usize) -> io::Result<Handoff> {
    let mut seg = Segment::create(bytes)?;
    seg.words()[0].store(GREETING, Ordering::Release);
    let mut opener =
        child::spawn(Command::new(exe).args(["--role", "open", "--name", seg.name()]))?;
    seg.unlink_after_attached(1, WAIT)?;
    let gone_in_use = !Segment::exists(seg.name());
    let status = opener.wait_timeout(WAIT)?;
    let reply = seg.words()[1].load(Ordering::Acquire);
    let (name, opener) = (seg.name().to_string(), opener.pid());
    Ok(Handoff {
        name,
        opener,
        status,
        reply,
        gone_in_use,
    })
}

/// What [`kill_creator`] saw.
#[derive(Debug)]
pub struct Killed {
    /// The creator's pid.
    pub pid: Pid,
    /// The signal that ended it, if a signal did.
    pub signal: Option<i32>,
    /// The segment's name.
    pub name: String,
    /// Whether the name was still in /dev/shm after the kill (then removed).
    pub leaked: bool,
    /// The greeting, read through this process's mapping after the kill.
    pub greeting: u64,
}

/// Starts a creator (`exe --role <role>`), opens its segment by name, then
/// SIGKILLs it and looks for its name. With `interrupt_self`, sends that
/// signal to this process and the creator first, as Ctrl-C would.
pub fn kill_creator(exe: &Path, role: &str, interrupt_self: Option<Signal>) -> io::Result<Killed> {
    let mut creator = child::spawn(Command::new(exe).args(["--role", role]))?;
    let stdout = creator.inner().stdout.take();
    let mut out = BufReader::new(stdout.ok_or_else(|| io::Error::other("creator has no stdout"))?);
    let (mut name, mut ready) = (String::new(), String::new());
    out.read_line(&mut name)?;
    let name = name.trim().to_string();
    // The creator is our child: its pid is in the name, which must be one
    // of this crate's before we open it.
    if Segment::creator(&name) != Some(creator.pid().as_raw()) {
        let what = format!("the creator announced {name:?}, not a segment of its own");
        return Err(io::Error::new(io::ErrorKind::InvalidData, what));
    }
    let opened = Segment::open(&name)?;
    if let Some(signal) = interrupt_self {
        for pid in [getpid(), creator.pid()] {
            kill(pid, signal)?; // what Ctrl-C (or kill) sends the process group
        }
    }
    out.read_line(&mut ready)?;
    let signal = creator.kill()?;
    let leaked = Segment::exists(&name);
    let greeting = opened.words()[0].load(Ordering::Acquire);
    if leaked {
        nix::sys::mman::shm_unlink(name.as_str())?; // clean up the demonstrated leak
    }
    Ok(Killed {
        pid: creator.pid(),
        signal,
        name,
        leaked,
        greeting,
    })
}
