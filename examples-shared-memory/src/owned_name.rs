//! Names that say whose they are: `<prefix><pid>-<anything>`, for the
//! `/dev/shm` segments and temp files the programs make, and a sweep that
//! removes the ones whose owner is dead.
//!
//! A process killed by SIGKILL runs no cleanup, so a name it made and had
//! not yet removed stays behind. Every program that makes such names first
//! calls [`sweep`] on its own pattern: an entry is removed only if its name
//! matches `<prefix><digits>-`, it belongs to this user, and its owner has
//! ended: no process has that pid, or it is a zombie. (A helper killed with
//! its parent is an orphan, and stays a zombie until init reaps it, seconds
//! later on a busy machine.) A live owner, another
//! user's entry or a name of another pattern is never touched. (A pid that
//! was reused by an unrelated process keeps its stale entry until that
//! process ends: the sweep errs on the side of leaving things.)

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The pid in `name` if it is `<prefix><pid>-...`.
///
/// ```
/// use examples_shared_memory::owned_name::owner;
/// assert_eq!(owner("lesson-shm-42-0-ab", "lesson-shm-"), Some(42));
/// assert_eq!(owner("lesson-shm-x-0", "lesson-shm-"), None);
/// assert_eq!(owner("other-42-0", "lesson-shm-"), None);
/// ```
pub fn owner(name: &str, prefix: &str) -> Option<i32> {
    let (pid, _) = name.strip_prefix(prefix)?.split_once('-')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok().filter(|&p| p > 0)
}

/// Whether the owner `pid` has ended: gone, or a zombie that holds no
/// memory and can remove nothing ([`process_toolkit::has_exited`]).
pub fn is_dead(pid: i32) -> bool {
    process_toolkit::has_exited(pid)
}

/// Removes every entry of `dir` named `<prefix><pid>-...` that belongs to
/// this user and whose pid is dead; returns the paths removed.
pub fn sweep(dir: &Path, prefix: &str) -> io::Result<Vec<PathBuf>> {
    let me = std::fs::metadata("/proc/self")?.uid(); // this process's user
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| owner(n, prefix)) else {
            continue;
        };
        let ours = entry.metadata().is_ok_and(|m| m.uid() == me && m.is_file());
        if ours && is_dead(pid) && std::fs::remove_file(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dead_owners_of_the_pattern_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let dead = (400_000..).find(|&pid| is_dead(pid)).unwrap();
        let me = std::process::id();
        let names = [
            format!("lesson-x-{dead}-stale"),
            format!("lesson-x-{me}-live"),
            format!("lesson-y-{dead}-other-pattern"),
            format!("lesson-x-{dead}"),
            "lesson-x-abc-junk".to_string(),
        ];
        for n in &names {
            std::fs::write(dir.path().join(n), b"").unwrap();
        }
        let removed = sweep(dir.path(), "lesson-x-").unwrap();
        assert_eq!(removed, vec![dir.path().join(&names[0])]);
        for n in &names[1..] {
            assert!(dir.path().join(n).exists(), "{n} was swept");
        }
    }

    /// An owner that has exited but is not yet reaped (a zombie, as an
    /// orphan is until init gets to it) has ended: its name is swept.
    #[test]
    fn a_zombie_owner_counts_as_ended() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !is_dead(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let dir = tempfile::tempdir().unwrap();
        let name = dir.path().join(format!("lesson-z-{pid}-zombie"));
        std::fs::write(&name, b"").unwrap();
        let removed = sweep(dir.path(), "lesson-z-").unwrap();
        child.wait().unwrap(); // reaped only now: it was a zombie above
        assert_eq!(removed, vec![name]);
    }
}
