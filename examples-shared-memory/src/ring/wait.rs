//! The ring's sleep/wake handshake: "spin briefly (or, where the peer needs
//! this CPU, yield it a few times), then sleep on a futex until the other
//! side made progress", without lost wake-ups and without a system call on
//! the fast path. A yield changes nothing in the handshake: it only looks
//! at the progress, like a spin, before the flag is raised.
//!
//! The sleeper raises `sleeping`, issues a SeqCst fence, reads the futex
//! word `seq` and checks its condition once more; only then does it sleep
//! (`FUTEX_WAIT` on `seq`). The other side publishes its progress, issues a
//! SeqCst fence, and wakes only if it sees `sleeping` (lowering it, so one
//! sleep costs one wake however many messages follow). The two fences
//! guarantee that at least one side sees the other's store: either the
//! sleeper sees the progress and does not sleep, or the waker sees the flag
//! and wakes. A wake that lands between the sleeper's check and its
//! `FUTEX_WAIT` changed `seq`, so `FUTEX_WAIT` returns at once. A wake that
//! lands between raising the flag and the check is spent on a check that
//! may still fail (not enough progress yet), so before sleeping the sleeper
//! makes sure its flag is still up, and starts over if it is not.
//!
//! [`Waiter`] is generic over the [`FutexWord`] it sleeps on so that a loom
//! model (`tests/loom.rs`) checks this very code, with loom atomics and a
//! modelled futex; the ring uses `AtomicU32` in its shared mapping with the
//! real `futex(2)`, shared between processes (no `FUTEX_PRIVATE_FLAG`).

use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use process_toolkit::handshake::{Flag, take_flag};

/// How many times a side checks the other's progress before it sleeps
/// (about 6 us on a current x86 core): long enough to catch a peer that is
/// running on another CPU, short enough not to burn much of the time slice
/// of a peer that waits for this CPU.
pub const SPINS: u32 = 256;

/// How many times a side on one CPU gives the CPU away (`sched_yield`)
/// before it sleeps. A peer that waits for this CPU runs at once and, as it
/// never went to sleep, needs no `FUTEX_WAKE`: a round trip between two
/// processes on one core then costs two `sched_yield` calls and two
/// switches, where sleeping costs two `FUTEX_WAIT`, two `FUTEX_WAKE` and
/// two switches (and a pipe two `write`, two `read` and two switches). A
/// peer that is not runnable here (asleep, or on another CPU) makes each
/// yield return at once: a few system calls lost before the sleep.
pub const YIELDS: u32 = 8;

/// Sleeps without a spin in front between two looks at the CPU set (see
/// [`Spin`]).
const RECHECK: u32 = 64;

/// Waits ended by a yield between two looks at the CPU set.
const RECHECK_YIELDED: u32 = 1024;

/// How long a side spins (or yields) before it sleeps: [`SPINS`] checks
/// while this process may run on more than one CPU; while it may run on
/// one only (`taskset -c 0`, a one-CPU container, a cpuset), no spin but
/// [`YIELDS`] `sched_yield` calls. On one CPU the peer cannot make progress
/// while we spin: it needs this very CPU, so a spin only delays it (with
/// both sides pinned to one core, 256 spins per wait made a 64 B round trip
/// five times slower than a pipe's); a yield hands the CPU over at once.
///
/// The CPU set (`sched_getaffinity`) is read when the handle is made and
/// again only after a wait that could not end on the fast path, never on
/// it: after every sleep that followed a spin (the spin failed, so one more
/// system call costs nothing), after every 64th sleep without one (`RECHECK`)
/// and every 1024th wait that a yield ended (`RECHECK_YIELDED`). So a process
/// moved onto one CPU stops spinning after its next wait, and one given
/// more CPUs spins again soon. A process pinned to one CPU whose peer was
/// last seen on another CPU spins all the same ([`Spin::apply`]).
#[derive(Debug, Clone)]
pub struct Spin {
    spins: u32,
    sleeps: u32,
    yielded: u32,
}

impl Default for Spin {
    fn default() -> Self {
        Self::new()
    }
}

impl Spin {
    /// The budget for this process's current CPU set.
    pub fn new() -> Self {
        Self {
            spins: spins_for_cpu_set(),
            sleeps: 0,
            yielded: 0,
        }
    }

    /// Checks before each sleep, spinning.
    pub fn spins(&self) -> u32 {
        self.spins
    }

    /// `sched_yield` calls before each sleep, after the spins: [`YIELDS`]
    /// on one CPU, none on more.
    pub fn yields(&self) -> u32 {
        if self.spins == 0 { YIELDS } else { 0 }
    }

    /// Applies this budget to `waiter`, whose peer last said it ran on
    /// `peer` (a [`cpu_tag`]). A peer that ran on this very CPU cannot make
    /// progress while we spin, even where the CPU set has more CPUs (the
    /// scheduler put both sides on one of them, say while other work keeps
    /// the rest busy): then the wait yields instead, as on one CPU.
    /// A peer last seen on another CPU makes the wait spin even where this
    /// side may run on one CPU only (the pair pinned apart): the spin takes
    /// no CPU the peer needs.
    pub fn apply<'a, W: FutexWord>(&self, waiter: Waiter<'a, W>, peer: u32) -> Waiter<'a, W> {
        match peer {
            0 => waiter.with_spins(self.spins()).with_yields(self.yields()),
            p if p == cpu_tag() => waiter.with_spins(0).with_yields(YIELDS),
            _ => waiter.with_spins(SPINS).with_yields(0),
        }
    }

    /// Called after each wait, with how it ended.
    pub fn waited(&mut self, how: Waited) {
        let recheck = match how {
            Waited::Spun | Waited::TimedOut => false,
            Waited::Yielded => {
                self.yielded = self.yielded.wrapping_add(1);
                self.yielded % RECHECK_YIELDED == 0
            }
            Waited::Slept => {
                self.sleeps = self.sleeps.wrapping_add(1);
                self.spins > 0 || self.sleeps % RECHECK == 0
            }
        };
        if recheck {
            self.spins = spins_for_cpu_set();
        }
    }
}

/// The CPU this thread runs on plus one, or 0 if unknown: what each side of
/// a ring publishes for the other ([`Spin::apply`]). `sched_getcpu` reads
/// it from the kernel's rseq area (glibc 2.35 and later; older ones ask the
/// vDSO): no system call on x86-64.
pub fn cpu_tag() -> u32 {
    // SAFETY: no arguments, no memory; -1 on failure.
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).map_or(0, |c| c.saturating_add(1))
}

/// [`SPINS`], or 0 if this thread may run on one CPU only (or the set cannot
/// be read: then spinning is the old, safe default).
fn spins_for_cpu_set() -> u32 {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `set` is a live cpu_set_t of `size` bytes for the kernel to
    // fill; CPU_COUNT only reads it.
    let one =
        unsafe { libc::sched_getaffinity(0, size, &mut set) == 0 && libc::CPU_COUNT(&set) == 1 };
    if one { 0 } else { SPINS }
}

/// A 32-bit atomic word that a thread (or process) can sleep on: a
/// [`Flag`] (the handshake's atomics) that can also be waited on.
pub trait FutexWord: Flag {
    /// Atomic add, returning the previous value.
    fn fetch_add(&self, value: u32, order: Ordering) -> u32;
    /// Gives this CPU to another runnable thread, if there is one
    /// (`sched_yield`).
    fn yield_now();
    /// Sleeps while the word holds `expected`, until [`FutexWord::wake`] or
    /// the timeout; may return early for no reason (callers look again).
    fn wait(&self, expected: u32, timeout: Option<Duration>);
    /// Wakes every sleeper on this word.
    fn wake(&self);
}

impl FutexWord for AtomicU32 {
    fn fetch_add(&self, value: u32, order: Ordering) -> u32 {
        AtomicU32::fetch_add(self, value, order)
    }
    fn yield_now() {
        std::thread::yield_now()
    }

    /// `FUTEX_WAIT` without `FUTEX_PRIVATE_FLAG`: keyed by the physical
    /// page, so a waker in another process that maps it reaches us.
    fn wait(&self, expected: u32, timeout: Option<Duration>) {
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: t.subsec_nanos() as libc::c_long,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `self` is a live, aligned u32 for the duration of the
        // call; the kernel only reads it and `ts_ptr` (null or a live
        // timespec). Errors (EAGAIN: value changed, EINTR, ETIMEDOUT) all
        // mean "look again", which every caller does.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                ts_ptr,
                ptr::null::<u32>(),
                0u32,
            );
        }
    }

    /// `FUTEX_WAKE` for all sleepers on the word, in any process.
    fn wake(&self) {
        // SAFETY: `self` is live and aligned; FUTEX_WAKE does not touch
        // memory beyond hashing its address.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.as_ptr(),
                libc::FUTEX_WAKE,
                i32::MAX,
                ptr::null::<libc::timespec>(),
                ptr::null::<u32>(),
                0u32,
            );
        }
    }
}

/// How a [`Waiter::wait_or_sleep`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// Ready without a sleep or a yield (at once, or while spinning).
    Spun,
    /// Ready after a yield, without a sleep.
    Yielded,
    /// Ready after at least one `FUTEX_WAIT`.
    Slept,
    /// Not ready before the timeout.
    TimedOut,
}

/// One direction of "sleep until the other side made progress": `seq` is
/// the futex word, `sleeping` the flag that says someone sleeps on it.
#[derive(Debug)]
pub struct Waiter<'a, W: FutexWord> {
    seq: &'a W,
    sleeping: &'a W,
    spins: u32,
    yields: u32,
}

impl<'a, W: FutexWord> Waiter<'a, W> {
    /// A waiter on `seq` with its flag `sleeping` (both start at 0).
    pub fn new(seq: &'a W, sleeping: &'a W) -> Self {
        Self {
            seq,
            sleeping,
            spins: SPINS,
            yields: 0,
        }
    }

    /// The same with `spins` checks before sleeping (a model uses 0).
    pub fn with_spins(self, spins: u32) -> Self {
        Self { spins, ..self }
    }

    /// The same with `yields` checks, each after a yield, once the spins
    /// are over and before sleeping.
    pub fn with_yields(self, yields: u32) -> Self {
        Self { yields, ..self }
    }

    /// Waits until `ready()` holds (true) or about `timeout` passed
    /// (false); `None` waits for ever, `Some(Duration::ZERO)` only looks
    /// once. `ready` must read the other side's progress with `Acquire`.
    /// The clock is read only once the spinning is over, so the fast path
    /// makes no system call at all.
    pub fn wait(&self, ready: impl FnMut() -> bool, timeout: Option<Duration>) -> bool {
        self.wait_or_sleep(ready, timeout) != Waited::TimedOut
    }

    /// [`Waiter::wait`] that also says whether it yielded or went to sleep
    /// (so a [`Spin`] can learn from it).
    pub fn wait_or_sleep(
        &self,
        mut ready: impl FnMut() -> bool,
        timeout: Option<Duration>,
    ) -> Waited {
        if timeout == Some(Duration::ZERO) {
            return if ready() {
                Waited::Spun
            } else {
                Waited::TimedOut
            };
        }
        for _ in 0..self.spins {
            if ready() {
                return Waited::Spun;
            }
            std::hint::spin_loop();
        }
        for _ in 0..self.yields {
            W::yield_now();
            if ready() {
                return Waited::Yielded;
            }
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut slept = false;
        loop {
            self.sleeping.store(1, Ordering::SeqCst);
            W::fence(Ordering::SeqCst);
            let seq = self.seq.load(Ordering::Acquire);
            if ready() {
                self.sleeping.store(0, Ordering::Relaxed);
                return if slept { Waited::Slept } else { Waited::Spun };
            }
            // A waker that saw our flag has lowered it and spent its one
            // wake, perhaps before we read `seq`. If its progress was not
            // enough for us (a producer may need more space than one record
            // freed), sleeping now would wait for a wake nobody sends: the
            // flag is down, so the next progress stays silent. Raise the
            // flag and look again instead. (If we still see our flag here,
            // any waker that lowers it later bumps `seq` after our read of
            // it, so `FUTEX_WAIT` returns at once or is woken.)
            if self.sleeping.load(Ordering::Acquire) == 0 {
                continue;
            }
            let timeout = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => {
                        self.sleeping.store(0, Ordering::Relaxed);
                        return Waited::TimedOut;
                    }
                },
            };
            self.seq.wait(seq, timeout);
            slept = true;
            self.sleeping.store(0, Ordering::Relaxed);
        }
    }

    /// Call after publishing progress (with `Release`): wakes the other
    /// side if it sleeps. Lowering the flag here means one wake per sleep:
    /// until the woken side runs again (which may take a while on a busy
    /// machine), further progress makes no system call.
    pub fn wake(&self) {
        if take_flag(self.sleeping) {
            self.wake_always();
        }
    }

    /// Wakes the other side whether or not it sleeps (used when closing).
    pub fn wake_always(&self) {
        self.seq.fetch_add(1, Ordering::Release);
        self.seq.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::OnOneCpu;

    #[test]
    fn a_thread_on_one_cpu_does_not_spin() {
        let before = Spin::new();
        let pinned = OnOneCpu::pin().unwrap();
        assert_eq!(Spin::new().spins(), 0);
        assert_eq!(Spin::new().yields(), YIELDS);
        // A handle made before the pinning learns it at its next sleep.
        let mut learns = before.clone();
        learns.waited(Waited::Slept);
        assert_eq!(learns.spins(), 0);
        // On one CPU a peer seen there changes nothing; on more, a peer on
        // this CPU turns the spin into yields.
        let here = cpu_tag();
        assert_ne!(here, 0);
        let spin = Spin::new();
        let w = |peer| {
            let (seq, flag) = (AtomicU32::new(0), AtomicU32::new(0));
            let w = spin.apply(Waiter::new(&seq, &flag), peer);
            (w.spins, w.yields)
        };
        assert_eq!(w(here), (0, YIELDS));
        // A peer surely elsewhere (pinned apart): spinning pays.
        assert_eq!(w(u32::MAX), (SPINS, 0));
        drop(pinned);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let expected = if cpus > 1 { SPINS } else { 0 };
        assert_eq!(before.spins(), expected);
        assert_eq!(Spin::new().spins(), expected);
        assert_eq!(Spin::new().yields(), if cpus > 1 { 0 } else { YIELDS });
        let spin = Spin::new();
        let (seq, flag) = (AtomicU32::new(0), AtomicU32::new(0));
        let budget = |peer| {
            let w = spin.apply(Waiter::new(&seq, &flag), peer);
            (w.spins, w.yields)
        };
        assert_eq!(budget(0), (spin.spins(), spin.yields()), "unknown peer");
        if cpus > 1 {
            // The thread may move between the two looks; only a peer that
            // is surely elsewhere can be checked.
            assert_eq!(budget(u32::MAX), (SPINS, 0));
        }
    }
}
