//! A file mapped `MAP_SHARED` with memmap2, shared by unrelated processes
//! through the page cache, and what happens when someone truncates it.
//!
//! Every process that maps the same file sees the same pages at once;
//! `flush` (msync) only decides when they reach the disk. The data stays in
//! the file after every process has exited. The mapping does not pin the
//! file's size, though: if another process truncates the file, touching a
//! page past the new end raises SIGBUS, a signal, not an error return.
//! Guard against it: never truncate a file others map (agree on a lock),
//! or share a memfd sealed with `F_SEAL_SHRINK`. Python: `mmap.mmap(f.fileno(), n)`
//! dies the same way.
//!
//! ```
//! use std::sync::atomic::Ordering;
//! use examples_shared_memory::file_map::SharedFile;
//!
//! let file = tempfile::NamedTempFile::new()?;
//! file.as_file().set_len(4096)?;
//! let a = SharedFile::open(file.path())?;
//! let b = SharedFile::open(file.path())?; // another process, normally
//! a.words()[0].store(7, Ordering::Relaxed);
//! assert_eq!(b.words()[0].load(Ordering::Relaxed), 7);
//! a.flush()?;
//! assert_eq!(std::fs::read(file.path())?[..8], 7u64.to_ne_bytes());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use memmap2::MmapRaw;
use nix::sys::wait::WaitStatus;
use nix::{fcntl::OFlag, unistd::pipe2};

use crate::child::{self, Spawned};
use crate::owned_name;

/// The word the writer role stores in word 0 of the file.
pub const WRITER: u64 = 0xF11E_0000_000A;
/// The word the reader role stores in word 1 of the file.
pub const READER: u64 = 0xF11E_0000_000B;
/// Word 2 of every file [`temp_file`] makes ("lessonmm"): the owner marker
/// without which the roles refuse a file.
pub const MARKER: u64 = u64::from_le_bytes(*b"lessonmm");
/// How temp files are named: `lesson-mmap-<pid of the creator>-...`.
pub const PREFIX: &str = "lesson-mmap-";
/// Smallest file the roles accept: one page.
pub const MIN_LEN: u64 = 4096;

/// A read-write shared mapping of a whole file.
#[derive(Debug)]
pub struct SharedFile {
    map: MmapRaw,
}

impl SharedFile {
    /// Maps the whole of an existing, non-empty file, read-write, shared.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Self {
            map: MmapRaw::map_raw(&file)?,
        })
    }

    /// Mapped bytes (the file's size when it was mapped).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True for an empty mapping (memmap2 refuses those, so never).
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// The file as 64-bit atomics, shared with every process mapping it.
    /// Touching them after someone truncated the file raises SIGBUS.
    pub fn words(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is page-aligned and valid for `len` bytes for
        // as long as `self`; other processes change it only atomically.
        unsafe { std::slice::from_raw_parts(self.map.as_mut_ptr().cast(), self.len() / 8) }
    }

    /// Reads one byte with a volatile load. If the file was truncated below
    /// `offset`, the process gets SIGBUS here. Panics past the mapping.
    pub fn read_byte(&self, offset: usize) -> u8 {
        assert!(offset < self.len(), "offset {offset} past the mapping");
        // SAFETY: inside the mapping; a volatile byte read, which cannot
        // tear, through a raw pointer (no reference to shared memory).
        unsafe { self.map.as_ptr().add(offset).read_volatile() }
    }

    /// Writes dirty pages back to the file (msync) and waits for it.
    pub fn flush(&self) -> io::Result<()> {
        self.map.flush()
    }

    /// One side of a two-process handshake: stores `mine` in word `slot`
    /// (0 or 1), waits (at most `limit`) until the other word holds
    /// `theirs`, then flushes.
    pub fn exchange(&self, slot: usize, mine: u64, theirs: u64, limit: Duration) -> io::Result<()> {
        let words = self.words();
        words[slot].store(mine, Ordering::Release);
        let deadline = Instant::now() + limit;
        while words[1 - slot].load(Ordering::Acquire) != theirs {
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the other process never wrote",
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.flush()
    }
}

/// Maps the file at `path`, forks a child that waits, truncates the file to
/// 0 bytes from this (another) process, then lets the child read the last
/// mapped byte. Returns how the child ended: `Signaled(.., SIGBUS, false)`
/// (core dumps are off in the child). The file must be non-empty.
///
/// Forks, so the calling process must be single-threaded (else an error;
/// see [`child::fork`]).
pub fn touch_after_truncate(path: &Path, limit: Duration) -> io::Result<WaitStatus> {
    let map = SharedFile::open(path)?;
    let (go_r, go_w) = pipe2(OFlag::O_CLOEXEC)?;
    let (mut go_r, mut go_w) = (File::from(go_r), File::from(go_w));
    let last = map.len() - 1;
    let job = || {
        let _ = child::disable_core_dumps();
        let _ = go_r.read_exact(&mut [0u8]);
        i32::from(map.read_byte(last)) + 3 // not reached: SIGBUS
    };
    let mut toucher = child::fork(job)?;
    OpenOptions::new().write(true).open(path)?.set_len(0)?;
    go_w.write_all(&[1])?;
    toucher.wait_timeout(limit)
}

/// What a process started as `--role <role> --path <path>` does: the
/// `writer` stores [`WRITER`] in word 0 and the `reader` [`READER`] in word
/// 1, and each waits (at most `limit`) to see the other's word. `None` for
/// an unknown role. Call [`check_ours`] first: the roles are reachable
/// from the command line.
pub fn play(role: &str, path: &Path, limit: Duration) -> Option<io::Result<()>> {
    let (slot, mine, theirs) = match role {
        "writer" => (0, WRITER, READER),
        "reader" => (1, READER, WRITER),
        _ => return None,
    };
    Some(SharedFile::open(path).and_then(|f| f.exchange(slot, mine, theirs, limit)))
}

/// Whether `path` is a file that `owner` made with [`temp_file`]: a
/// regular file named `lesson-mmap-<owner>-...`, at least [`MIN_LEN`]
/// bytes, whole pages, with [`MARKER`] in word 2. Anything else is an
/// error saying what is missing, and the file is not written.
pub fn check_ours(path: &Path, owner: i32) -> Result<(), String> {
    let shown = path.display();
    let refuse = |why: String| {
        Err(format!(
            "refusing {shown}: {why}; the roles take only a file this program made"
        ))
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if owned_name::owner(name, PREFIX) != Some(owner) {
        return refuse(format!("its name is not {PREFIX}{owner}-..."));
    }
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() || meta.len() < MIN_LEN || meta.len() % MIN_LEN != 0 {
        return refuse(format!(
            "not a regular file of whole pages ({} bytes)",
            meta.len()
        ));
    }
    let mut word = [0u8; 8];
    let mut file = File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    file.read_exact(&mut [0u8; 16])
        .and_then(|()| file.read_exact(&mut word))
        .map_err(|e| format!("{shown}: {e}"))?;
    if u64::from_ne_bytes(word) != MARKER {
        return refuse("no owner marker".to_string());
    }
    Ok(())
}

/// Starts `exe --role <role> --path <path>` (see [`play`]) as a child that
/// is killed and reaped when the handle drops.
pub fn spawn_role(exe: &Path, role: &str, path: &Path) -> io::Result<Spawned> {
    child::spawn(
        Command::new(exe)
            .args(["--role", role])
            .arg("--path")
            .arg(path),
    )
}

/// A temp file of `len` bytes (whole pages, at least one), zero but for
/// [`MARKER`] in word 2, named `lesson-mmap-<pid>-...` so a leftover says
/// whose it is; removed when the handle drops. First removes the temp
/// files of owners that died (SIGKILL runs no cleanup; see
/// [`owned_name::sweep`]).
pub fn temp_file(len: usize) -> io::Result<tempfile::NamedTempFile> {
    owned_name::sweep(&std::env::temp_dir(), PREFIX)?;
    let prefix = format!("{PREFIX}{}-", std::process::id());
    let mut temp = tempfile::Builder::new().prefix(&prefix).tempfile()?;
    temp.as_file()
        .set_len((len as u64).max(MIN_LEN).next_multiple_of(MIN_LEN))?;
    temp.write_all(&[[0u8; 16].as_slice(), &MARKER.to_ne_bytes()].concat())?;
    temp.flush()?;
    Ok(temp)
}

/// The first two 64-bit words of the file at `path`, read with plain
/// `read(2)`, no mapping: what persisted after the mappers exited.
pub fn first_two_words(path: &Path) -> io::Result<(u64, u64)> {
    let bytes = std::fs::read(path)?;
    let word = |i: usize| {
        bytes
            .get(i * 8..i * 8 + 8)
            .map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap_or_default()))
    };
    Ok((word(0), word(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_file_this_program_made_is_accepted() {
        let me = std::process::id() as i32;
        let ours = temp_file(4096).unwrap();
        assert_eq!(check_ours(ours.path(), me), Ok(()));
        assert!(check_ours(ours.path(), me + 1).is_err(), "another owner");
        let dir = tempfile::tempdir().unwrap();
        let named = |n: &str, bytes: &[u8]| {
            let p = dir.path().join(n);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let foreign = named("notes.txt", &[1u8; 8192]);
        let short = named(&format!("{PREFIX}{me}-short"), &[0u8; 10]);
        let unmarked = named(&format!("{PREFIX}{me}-unmarked"), &[0u8; 4096]);
        for (path, why) in [
            (&foreign, "its name is not"),
            (&short, "whole pages (10 bytes)"),
            (&unmarked, "no owner marker"),
        ] {
            let err = check_ours(path, me).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
        assert_eq!(
            std::fs::read(&foreign).unwrap(),
            vec![1u8; 8192],
            "untouched"
        );
    }
}
