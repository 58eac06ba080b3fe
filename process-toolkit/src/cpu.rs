//! CPU time: load stretches wall time, not CPU time.

use std::time::Duration;

/// CPU time used so far by the calling thread (`CLOCK_THREAD_CPUTIME_ID`).
///
/// ```
/// let before = process_toolkit::thread_cpu_time();
/// let mut x = 1u64;
/// for i in 0..1_000_000 { x = std::hint::black_box(x.wrapping_mul(i | 1)); }
/// assert!(process_toolkit::thread_cpu_time() >= before);
/// ```
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// User + system CPU time of a live process, from `/proc/<pid>/stat`
/// (clock-tick resolution, usually 10 ms). `None` if it is gone.
///
/// ```
/// assert!(process_toolkit::process_cpu_time(std::process::id() as i32).is_some());
/// assert!(process_toolkit::process_cpu_time(-5).is_none());
/// ```
pub fn process_cpu_time(pid: i32) -> Option<Duration> {
    let rest = stat_after_name(pid)?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

/// Whether the process `pid` has ended: no process has that pid, or the
/// one that has it is a zombie (`Z` or `X` in `/proc/<pid>/stat`), which
/// has released its memory, mappings and descriptors and waits only to be
/// reaped. An orphan's zombie can wait seconds for init to reap it; a
/// sweep of what dead processes left must not wait for that.
///
/// ```
/// assert!(!process_toolkit::has_exited(std::process::id() as i32));
/// assert!(process_toolkit::has_exited(-5));
/// ```
pub fn has_exited(pid: i32) -> bool {
    if pid <= 0 {
        return true;
    }
    // No stat: gone. The state is the first field after the name.
    match stat_after_name(pid) {
        None => true,
        Some(rest) => matches!(rest.chars().next(), Some('Z' | 'X')),
    }
}

/// The fields of `/proc/<pid>/stat` after the command name (which is in
/// parentheses and may hold spaces), starting with the state; `None` if
/// the process is gone.
fn stat_after_name(pid: i32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    Some(rest.to_string())
}

/// What `getrusage` says; see [`rusage`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time in user mode.
    pub user: Duration,
    /// CPU time in the kernel.
    pub system: Duration,
    /// Times a thread gave up the CPU to wait (a lock, a read).
    pub voluntary_switches: u64,
    /// Times the scheduler took the CPU away (more runnable threads than cores).
    pub involuntary_switches: u64,
    /// Peak resident memory, in KiB.
    pub max_rss_kib: u64,
}

impl Usage {
    /// User + system time.
    ///
    /// ```
    /// use std::time::Duration;
    /// let u = process_toolkit::Usage { user: Duration::from_millis(2), system: Duration::from_millis(1), ..Default::default() };
    /// assert_eq!(u.cpu(), Duration::from_millis(3));
    /// ```
    pub fn cpu(&self) -> Duration {
        self.user + self.system
    }
}

/// `getrusage(who)`: `libc::RUSAGE_SELF` (this process), `RUSAGE_THREAD`,
/// or `RUSAGE_CHILDREN` (the reaped children). Zeros if the call fails
/// (it cannot, on Linux, with these arguments).
///
/// ```
/// let me = process_toolkit::rusage(libc::RUSAGE_SELF);
/// assert!(me.max_rss_kib > 0);
/// ```
pub fn rusage(who: libc::c_int) -> Usage {
    // SAFETY: rusage is plain data; an all-zero value is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a live, writable rusage.
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return Usage::default();
    }
    let time = |tv: libc::timeval| Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000);
    Usage {
        user: time(ru.ru_utime),
        system: time(ru.ru_stime),
        voluntary_switches: ru.ru_nvcsw as u64,
        involuntary_switches: ru.ru_nivcsw as u64,
        max_rss_kib: ru.ru_maxrss as u64,
    }
}
