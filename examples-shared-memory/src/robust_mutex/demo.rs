//! The two stories the `robust-mutex` program tells, as functions that fork
//! (call them only from a single-threaded process, never from `#[test]`).
//!
//! - [`owner_dies`]: a child takes the lock, does half of a two-field
//!   update and is killed (SIGKILL) holding the lock; the parent gets
//!   `EOWNERDEAD`, repairs the data, marks it consistent and goes on.
//! - [`handoff`]: the parent holds a lock, a child blocks on it (we wait
//!   until `/proc` shows the child asleep), the parent unlocks: does the
//!   child wake up? With the robust pthread mutex it does. With a
//!   `std::sync::Mutex` in shared memory it does not: its futex is
//!   process-private, so the parent's `FUTEX_WAKE` is keyed to the parent's
//!   address space and never reaches the child, which would sleep forever.
//!   A watchdog notices after [`HANDOFF_WAIT`], kills the child and reports
//!   its status. This is deterministic: the child is known to sleep in the
//!   futex before the unlock.

use std::fmt;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;

use super::{LockError, Plain, RobustMutex};
use crate::child;
use crate::mapping::SharedMapping;

/// How long a child may take to wake after the lock was released before
/// the watchdog calls the wake-up lost (a working hand-off takes well under
/// a millisecond; the margin is for a loaded machine).
pub const HANDOFF_WAIT: Duration = Duration::from_secs(2);
/// How long we wait for the child to fall asleep on the lock.
const ASLEEP_WAIT: Duration = Duration::from_secs(10);

/// Two balances that must always add up to [`TOTAL`], and the amount of a
/// transfer in flight (a one-entry journal).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accounts {
    /// Debited first.
    pub a: u64,
    /// Credited second.
    pub b: u64,
    /// Non-zero while a transfer is half done.
    pub pending: u64,
}

// SAFETY: three integers, repr(C): any bit pattern is a value.
unsafe impl Plain for Accounts {}

/// What `a + b` must be.
pub const TOTAL: u64 = 100;

/// What [`owner_dies`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// How the child ended (`Signaled(.., SIGKILL, ..)` expected).
    pub child: WaitStatus,
    /// Whether the next lock reported `EOWNERDEAD`.
    pub owner_died: bool,
    /// The data as the dead owner left it.
    pub found: Accounts,
    /// The data after the repair.
    pub repaired: Accounts,
    /// Whether a plain `lock()` worked after `make_consistent`.
    pub usable_after: bool,
}

impl Recovery {
    /// The claim: the death was reported, the data found broken, repaired,
    /// and the lock usable again.
    pub fn recovered(&self) -> bool {
        let (f, r) = (&self.found, &self.repaired);
        self.owner_died && f.a + f.b != TOTAL && r.a + r.b == TOTAL && self.usable_after
    }
}

/// Five aligned lines: the owner's end, the next lock, the data before and
/// after the repair, the lock afterwards.
impl fmt::Display for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let next = match self.owner_died {
            true => "EOWNERDEAD (OwnerDied guard)",
            false => "Ok, no death noticed",
        };
        writeln!(f, "owner          {:?}", self.child)?;
        writeln!(f, "next lock      {next}")?;
        for (what, d) in [("found", &self.found), ("repaired", &self.repaired)] {
            let sum = d.a + d.b;
            writeln!(
                f,
                "{what:<14} a={} b={} pending={}  a+b={sum}",
                d.a, d.b, d.pending
            )?;
        }
        let after = if self.usable_after { "works" } else { "FAILS" };
        write!(f, "after consistent: lock {after}")
    }
}

/// A child dies holding the lock halfway through moving 10 from `a` to
/// `b`; the parent recovers.
///
/// Forks, so the calling process must be single-threaded (else an error;
/// see [`child::fork`]).
pub fn owner_dies() -> io::Result<Recovery> {
    let m = RobustMutex::new(Accounts {
        a: TOTAL,
        b: 0,
        pending: 0,
    })?;
    let body = || {
        let Ok(mut g) = m.lock() else { return 3 };
        g.pending = 10;
        g.a -= 10;
        // Dies before `b += 10`: SIGKILL cannot be caught, nothing unlocks.
        // SAFETY: raise only sends a signal to this process.
        unsafe { libc::raise(libc::SIGKILL) };
        4
    };
    let mut child = child::fork(body)?;
    let status = child.wait()?;
    let (owner_died, found, repaired) = match m.lock() {
        Ok(g) => (false, *g, *g),
        Err(LockError::OwnerDied(mut g)) => {
            let found = *g;
            if g.a + g.b != TOTAL {
                // Redo the journalled transfer: the debit happened, the
                // credit did not.
                g.b += g.pending;
            }
            g.pending = 0;
            g.make_consistent()?;
            (true, found, *g)
        }
        Err(e) => return Err(io::Error::other(e.to_string())),
    };
    let usable_after = m.lock().is_ok();
    Ok(Recovery {
        child: status,
        owner_died,
        found,
        repaired,
        usable_after,
    })
}

/// Something that releases a lock when dropped (a guard).
pub trait Held {}
impl<T> Held for T {}

/// A lock living in shared memory, as [`handoff`] uses it.
pub trait SharedLock {
    /// A short name for the output.
    fn name(&self) -> &'static str;
    /// Takes the lock; the returned value releases it when dropped.
    fn hold(&self) -> Box<dyn Held + '_>;
}

impl SharedLock for RobustMutex<u64> {
    fn name(&self) -> &'static str {
        "robust pthread mutex"
    }
    fn hold(&self) -> Box<dyn Held + '_> {
        match self.lock() {
            Ok(g) | Err(LockError::OwnerDied(g)) => Box::new(g),
            Err(e) => panic!("robust mutex: {e}"),
        }
    }
}

/// A `std::sync::Mutex` placed in a shared mapping: what not to do.
pub struct StdMutexInSharedMemory {
    map: SharedMapping,
}

impl StdMutexInSharedMemory {
    /// Moves a fresh `Mutex<u64>` into a new shared mapping.
    pub fn new() -> io::Result<Self> {
        let map = SharedMapping::new(std::mem::size_of::<Mutex<u64>>())?;
        // SAFETY: the fresh mapping is page-aligned and large enough; we
        // write the value once before anyone can see it.
        unsafe { map.as_ptr().cast::<Mutex<u64>>().write(Mutex::new(0)) };
        Ok(Self { map })
    }

    fn mutex(&self) -> &Mutex<u64> {
        // SAFETY: initialised in `new`, lives as long as the mapping. A
        // `&Mutex` is fine to share (all its state is atomics/UnsafeCell);
        // what is wrong is using it from two processes, which is the point.
        unsafe { &*self.map.as_ptr().cast::<Mutex<u64>>() }
    }
}

impl SharedLock for StdMutexInSharedMemory {
    fn name(&self) -> &'static str {
        "std::sync::Mutex"
    }
    fn hold(&self) -> Box<dyn Held + '_> {
        Box::new(self.mutex().lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// What [`handoff`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handoff {
    /// The child got the lock this long after the parent released it.
    Woke(Duration),
    /// The child still slept [`HANDOFF_WAIT`] after the release: the
    /// watchdog killed it; its wait status.
    Lost(WaitStatus),
}

impl fmt::Display for Handoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Handoff::Woke(t) => write!(
                f,
                "waiter woke {:.1} us after unlock",
                t.as_secs_f64() * 1e6
            ),
            Handoff::Lost(s) => write!(
                f,
                "waiter still asleep {HANDOFF_WAIT:?} after unlock: wake-up lost; watchdog: {s:?}"
            ),
        }
    }
}

/// The parent holds `lock`, a child blocks on it, the parent releases it:
/// does the child wake?
///
/// Forks, so the calling process must be single-threaded (else an error;
/// see [`child::fork`]).
pub fn handoff<L: SharedLock>(lock: &L) -> io::Result<Handoff> {
    // flags[0]: the child is about to lock; flags[1]: the child got it.
    let flags = SharedMapping::new(8)?;
    let [locking, got] = &flags.atomic_u32s()[..2] else {
        unreachable!("8 bytes are two u32s")
    };
    let held = lock.hold();
    let body = || {
        locking.store(1, Ordering::SeqCst);
        let _g = lock.hold();
        got.store(1, Ordering::SeqCst);
        0
    };
    let mut child = child::fork(body)?;
    let pid = child.pid();
    wait_until_asleep(pid, locking)?;
    drop(held);
    let released = Instant::now();
    while released.elapsed() < HANDOFF_WAIT {
        if got.load(Ordering::SeqCst) == 1 {
            let woke = released.elapsed();
            return match child.wait()? {
                WaitStatus::Exited(_, 0) => Ok(Handoff::Woke(woke)),
                other => Err(io::Error::other(format!("child ended {other:?}"))),
            };
        }
        std::thread::sleep(Duration::from_micros(20));
    }
    Ok(Handoff::Lost(child.kill_and_wait()?))
}

/// Waits until the child said it is about to lock and the kernel shows it
/// sleeping (state `S`): then it sleeps in the lock's futex.
fn wait_until_asleep(pid: Pid, locking: &AtomicU32) -> io::Result<()> {
    let start = Instant::now();
    while start.elapsed() < ASLEEP_WAIT {
        if locking.load(Ordering::SeqCst) == 1 && process_state(pid)? == 'S' {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "the child never blocked on the lock",
    ))
}

/// The state letter in `/proc/<pid>/stat` (`R`, `S`, `D`, `Z`, ...).
pub fn process_state(pid: Pid) -> io::Result<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // "pid (comm) S ...": comm may hold spaces and parentheses.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .ok_or_else(|| io::Error::other("unexpected /proc/<pid>/stat"))
}
