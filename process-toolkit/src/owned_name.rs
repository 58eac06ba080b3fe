//! Names that say whose they are: `<prefix><pid>-<anything>`, for the
//! `/dev/shm` segments, temp files and temp directories a program makes,
//! and a sweep that removes the ones whose owner has ended.
//!
//! A process killed by SIGKILL runs no cleanup, so a name it made and had
//! not yet removed stays behind. A program that makes such names first
//! calls [`sweep`] on its own pattern: an entry is removed only if its name
//! matches `<prefix><digits>-`, it belongs to this user, it is a file or a
//! directory (a symlink is never followed), and its owner has ended: no
//! process has that pid, or it is a zombie ([`crate::has_exited`]; a helper
//! killed with its parent is an orphan, and stays a zombie until init
//! reaps it, seconds later on a busy machine). A live owner, another user's
//! entry or a name of another pattern is never touched. (A pid that was
//! reused by an unrelated process keeps its stale entry until that process
//! ends: the sweep errs on the side of leaving things.)
//!
//! Python: nothing built in; `multiprocessing`'s resource tracker removes
//! what a crashed program registered, but only while the tracker lives.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The pid in `name` if it is `<prefix><pid>-...`.
///
/// ```
/// use process_toolkit::owned_name::owner;
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
/// memory and can remove nothing ([`crate::has_exited`]).
pub fn is_dead(pid: i32) -> bool {
    crate::has_exited(pid)
}

/// Removes every entry of `dir` named `<prefix><pid>-...` that is a file or
/// directory of this user and whose owner has ended; returns the paths
/// removed. Another process sweeping the same directory at the same time
/// is not an error.
pub fn sweep(dir: &Path, prefix: &str) -> io::Result<Vec<PathBuf>> {
    let me = std::fs::metadata("/proc/self")?.uid(); // this process's user
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| owner(n, prefix)) else {
            continue;
        };
        // symlink_metadata: a symlink planted under the prefix is not
        // followed, and not ours to remove.
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue; // gone already
        };
        if meta.uid() != me || !is_dead(pid) {
            continue;
        }
        let gone = if meta.is_dir() {
            std::fs::remove_dir_all(entry.path())
        } else if meta.is_file() {
            std::fs::remove_file(entry.path())
        } else {
            continue;
        };
        match gone {
            Ok(()) => removed.push(entry.path()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("owned-name-test-{}", std::process::id()))
    }

    #[test]
    fn only_ended_owners_of_the_pattern_are_swept() {
        let dir = temp_dir().with_extension("a");
        std::fs::create_dir_all(&dir).unwrap();
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
            std::fs::write(dir.join(n), b"").unwrap();
        }
        let stale_dir = dir.join(format!("lesson-x-{dead}-dir"));
        std::fs::create_dir_all(stale_dir.join("inside")).unwrap();
        let link = dir.join(format!("lesson-x-{dead}-link"));
        std::os::unix::fs::symlink(dir.join(&names[1]), &link).unwrap();
        let mut removed = sweep(&dir, "lesson-x-").unwrap();
        removed.sort();
        let left: Vec<bool> = names.iter().map(|n| dir.join(n).exists()).collect();
        let link_left = link.symlink_metadata().is_ok();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(removed, vec![stale_dir, dir.join(&names[0])]);
        assert_eq!(left, [false, true, true, true, true]);
        assert!(link_left, "a symlink was removed");
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
        let dir = temp_dir().with_extension("z");
        std::fs::create_dir_all(&dir).unwrap();
        let name = dir.join(format!("lesson-z-{pid}-zombie"));
        std::fs::write(&name, b"").unwrap();
        let removed = sweep(&dir, "lesson-z-").unwrap();
        child.wait().unwrap(); // reaped only now: it was a zombie above
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(removed, vec![name]);
    }
}
