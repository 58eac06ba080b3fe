//! Probes for tests (the `testing` feature): what a pool leaves behind.

use std::io;
use std::time::{Duration, Instant};

use crate::Pool;

/// Pids of this process's children that exist right now, running or
/// zombie, from `/proc/self/task/*/children`.
///
/// ```
/// assert!(process_pool::testing::live_children().is_ok());
/// ```
pub fn live_children() -> io::Result<Vec<i32>> {
    let mut pids = Vec::new();
    for task in std::fs::read_dir("/proc/self/task")? {
        let text = std::fs::read_to_string(task?.path().join("children")).unwrap_or_default();
        pids.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    Ok(pids)
}

/// The open file descriptors of process `pid` (this process for `None`).
///
/// ```
/// assert!(process_pool::testing::open_fds(None)?.contains(&0));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn open_fds(pid: Option<i32>) -> io::Result<Vec<i32>> {
    let dir = pid.map_or("/proc/self/fd".to_string(), |p| format!("/proc/{p}/fd"));
    let mut fds: Vec<i32> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // Drop the descriptor `read_dir` itself used (closed by now).
    fds.retain(|fd| std::fs::read_link(format!("{dir}/{fd}")).is_ok());
    fds.sort_unstable();
    Ok(fds)
}

/// How many descriptors each current worker holds that are not in
/// `before` (this process's [`open_fds`] from before the pool): 2 each,
/// its own pipe ends. A just-forked worker gets up to `patience`; a worker
/// that died and is not yet replaced is left out.
///
/// ```no_run
/// let before = process_pool::testing::open_fds(None)?;
/// let pool = process_pool::Pool::new(2)?;
/// let fds = process_pool::testing::new_fds_per_worker(&pool, &before, std::time::Duration::from_secs(1))?;
/// assert_eq!(fds, [2, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn new_fds_per_worker(
    pool: &Pool,
    before: &[i32],
    patience: Duration,
) -> io::Result<Vec<usize>> {
    let deadline = Instant::now() + patience;
    loop {
        let mut counts = Vec::new();
        for pid in pool.pids() {
            let fds = match open_fds(Some(pid)) {
                Ok(fds) => fds,
                // Died, and the pool has not taken in the death yet: a
                // dead worker holds nothing.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            counts.push(fds.iter().filter(|fd| !before.contains(fd)).count());
        }
        if counts.iter().all(|&n| n == 2) || Instant::now() > deadline {
            return Ok(counts);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// CPU time the current workers have used so far (clock ticks).
///
/// ```no_run
/// let pool = process_pool::Pool::new(2)?;
/// let _ = process_pool::testing::cpu_time(&pool);
/// # Ok::<(), process_pool::Error>(())
/// ```
pub fn cpu_time(pool: &Pool) -> Duration {
    pool.pids()
        .into_iter()
        .filter_map(process_toolkit::process_cpu_time)
        .sum()
}
