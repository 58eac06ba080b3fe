//! The benchmark harness the programs share: CPU time, cheapest-of timing,
//! pinning to one CPU (and finding two to pin a pair apart), and the verdict of a program's
//! own speed claim (checked in an optimised build, re-measured a bounded
//! number of times, "not checked" on a busy machine).
//!
//! Nothing here knows about shared memory; getrusage and best-of are the
//! process toolkit's.

use std::io;
use std::time::Duration;

/// User + system CPU time used so far by this process plus every child it
/// has reaped ([`process_toolkit::rusage`] of `RUSAGE_SELF` and
/// `RUSAGE_CHILDREN`). Unlike wall time, it does not grow while a process
/// waits for a busy CPU.
pub fn cpu_time() -> Duration {
    let [me, children] = [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN].map(process_toolkit::rusage);
    me.cpu() + children.cpu()
}

/// A result ordered by its cost alone (`.0`), so that
/// [`process_toolkit::best_of`] keeps the cheapest whole result (`.1`).
#[derive(Debug, Clone, Copy)]
pub struct ByCost<C, T>(pub C, pub T);

impl<C: PartialEq, T> PartialEq for ByCost<C, T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<C: PartialOrd, T> PartialOrd for ByCost<C, T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.0.partial_cmp(&other.0)
    }
}

/// [`process_toolkit::best_of`] `runs` runs of `measure`, the cheapest by
/// `cost` (on a busy machine a run can only be slowed down, never sped
/// up). Any failed run is the error.
pub fn cheapest<T, E, C: PartialOrd>(
    runs: usize,
    mut measure: impl FnMut() -> Result<T, E>,
    cost: impl Fn(&T) -> C,
) -> Result<T, E> {
    process_toolkit::best_of(runs, || measure().map(|t| ByCost(cost(&t), t))).map(|b| b.1)
}

/// The calling thread (in a single-threaded program: the process, and the
/// children it forks meanwhile) pinned to one CPU, the first it may run on;
/// dropping it restores the CPU set it had.
pub struct OnOneCpu {
    cpu: usize,
    before: libc::cpu_set_t,
}

impl OnOneCpu {
    /// Pins to the first CPU of this thread's CPU set ([`first_cpu`]).
    pub fn pin() -> io::Result<Self> {
        Self::on(first_cpu()?)
    }

    /// Pins to CPU `cpu`.
    pub fn on(cpu: usize) -> io::Result<Self> {
        let before = cpu_set()?;
        pin_to(cpu)?;
        Ok(Self { cpu, before })
    }

    /// The CPU pinned to.
    pub fn cpu(&self) -> usize {
        self.cpu
    }
}

impl Drop for OnOneCpu {
    fn drop(&mut self) {
        // SAFETY: the kernel only reads `before`, a live cpu_set_t. If it
        // fails (a CPU went offline), the thread stays pinned: slower, not
        // wrong.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&self.before), &self.before) };
    }
}

impl std::fmt::Debug for OnOneCpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnOneCpu").field("cpu", &self.cpu).finish()
    }
}

/// The first CPU this thread may run on.
pub fn first_cpu() -> io::Result<usize> {
    cpus(&cpu_set()?)
        .next()
        .ok_or_else(|| io::Error::other("no CPU in the affinity mask"))
}

/// The first two CPUs this thread may run on, in order; `None` if it may
/// run on one only. Two processes pinned one to each run side by side, as
/// the scheduler may or may not place them unpinned.
pub fn first_two_cpus() -> io::Result<Option<[usize; 2]>> {
    let set = cpu_set()?;
    let mut cpus = cpus(&set);
    Ok(cpus.next().zip(cpus.next()).map(|(a, b)| [a, b]))
}

/// The CPUs in `set`, in order.
fn cpus(set: &libc::cpu_set_t) -> impl Iterator<Item = usize> + '_ {
    // SAFETY: CPU_ISSET only reads the set, within CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize).filter(move |&c| unsafe { libc::CPU_ISSET(c, set) })
}

/// This thread's CPU set.
fn cpu_set() -> io::Result<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live cpu_set_t of that size for the kernel to fill.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(set)
}

/// Pins the calling thread to CPU `cpu` for good. Only system calls on
/// stack memory (no allocation), so a child forked from a threaded process
/// may call it.
pub fn pin_to(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: plain data; zeroed is the empty set.
    let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu < CPU_SETSIZE` (checked); CPU_SET writes inside `one`.
    unsafe { libc::CPU_SET(cpu, &mut one) };
    // SAFETY: the kernel only reads `one`, a live cpu_set_t.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&one), &one) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What became of a program's own speed claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The claim held on the last measurement.
    Held,
    /// The claim was not checked, and why (a debug build, a busy machine).
    NotChecked(String),
    /// The claim missed on every measurement, on a machine that was not
    /// busy.
    Missed,
}

impl Verdict {
    /// The line a program prints when its `claim` was not checked:
    /// `note: <claim> not checked: <why>`.
    pub fn note(&self, claim: &str) -> Option<String> {
        match self {
            Verdict::NotChecked(why) => Some(format!("note: {claim} not checked: {why}")),
            _ => None,
        }
    }
}

/// Measurements of a speed claim before it is called missed.
pub const SPEED_ROUNDS: usize = 3;

/// Measures with `measure` and checks the speed claim `holds` on the
/// result. Only an optimised build checks it (unoptimised code says little
/// about the mechanism); while it misses, `measure` runs again, up to
/// [`SPEED_ROUNDS`] times in all. If it still misses and the machine is
/// busy (see [`busy`]), the verdict is [`Verdict::NotChecked`], not
/// [`Verdict::Missed`]. Returns the last measurement and the verdict.
pub fn speed_claim<T, E>(
    mut measure: impl FnMut() -> Result<T, E>,
    holds: impl Fn(&T) -> bool,
) -> Result<(T, Verdict), E> {
    let mut figures = measure()?;
    if cfg!(debug_assertions) {
        let why = "debug build (for real figures: cargo run --release)";
        return Ok((figures, Verdict::NotChecked(why.to_string())));
    }
    for round in 1..=SPEED_ROUNDS {
        if holds(&figures) {
            return Ok((figures, Verdict::Held));
        }
        if round < SPEED_ROUNDS {
            figures = measure()?;
        }
    }
    Ok(match busy() {
        Some(why) => (figures, Verdict::NotChecked(why)),
        None => (figures, Verdict::Missed),
    })
}

/// Why this machine counts as busy, if it does: other runnable tasks, or a
/// 1-minute load average of at least half its CPUs (the programs here use
/// all of them). `None` when `/proc/loadavg` cannot be read.
pub fn busy() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace();
    let load: f64 = fields.next()?.parse().ok()?;
    let running: u32 = fields.nth(2)?.split('/').next()?.parse().ok()?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // `running` counts this process too.
    let others = running.saturating_sub(1);
    (others > 0 || load >= cpus as f64 / 2.0).then(|| {
        format!("machine busy (load {load:.1} on {cpus} CPUs, {others} other tasks running)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheapest_keeps_the_cheapest_and_stops_at_an_error() {
        let mut costs = [(5, 'a'), (2, 'b'), (9, 'c')].into_iter();
        let best = cheapest(3, || Ok::<_, ()>(costs.next().unwrap()), |&(c, _)| c);
        assert_eq!(best, Ok((2, 'b')));
        let mut n = 0;
        let failed = cheapest(
            3,
            || {
                n += 1;
                if n == 2 { Err("second") } else { Ok(n) }
            },
            |&c| c,
        );
        assert_eq!(failed, Err("second"));
    }

    #[test]
    fn the_first_two_cpus_start_with_the_first() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let two = first_two_cpus().unwrap();
        assert_eq!(two.is_some(), cpus > 1, "{two:?}");
        if let Some([a, b]) = two {
            assert_eq!(a, first_cpu().unwrap());
            assert!(b > a);
        }
        let pinned = OnOneCpu::pin().unwrap();
        assert_eq!(first_two_cpus().unwrap(), None);
        drop(pinned);
    }

    #[test]
    fn a_speed_claim_is_measured_at_least_once() {
        let mut runs = 0;
        let (_, verdict) = speed_claim(
            || {
                runs += 1;
                Ok::<_, ()>(runs)
            },
            |_| false,
        )
        .unwrap();
        assert!((1..=SPEED_ROUNDS).contains(&runs));
        if cfg!(debug_assertions) {
            assert!(matches!(verdict, Verdict::NotChecked(why) if why.contains("debug")));
        } else {
            assert_ne!(verdict, Verdict::Held);
        }
    }
}
