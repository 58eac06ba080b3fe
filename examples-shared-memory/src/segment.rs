//! A named shared-memory segment (`shm_open`) that another, unrelated
//! process opens by name, and that never leaks a name in `/dev/shm`.
//!
//! The creator makes the segment with `O_CREAT | O_EXCL` under a fresh
//! unique name, mode 0600 (only this user). The name is needed only until
//! every opener has the segment mapped: [`Segment::unlink_after_attached`]
//! waits for the openers, then removes the name. The memory lives on for as
//! long as anyone has it mapped, but from then on a SIGKILL of anyone leaks
//! nothing. The owner's `Drop` unlinks too, so the name disappears even if
//! no opener ever came. The one window left, a SIGKILL of the creator
//! between create and the last attach, is closed by the next run: names
//! carry the creator's pid, and [`sweep_stale`] (called before creating)
//! removes those whose creator is dead.
//!
//! The first 64 bytes are a header: a counter that [`Segment::open`]
//! increments, so the creator knows when everyone has attached, and an
//! owner marker ([`MARKER`]) without which `open` refuses a segment, so an
//! opener never writes into someone else's memory. The caller's words
//! follow it ([`Segment::words`]).
//!
//! Python: `shared_memory.SharedMemory(create=True)` keeps its name until
//! someone calls `unlink()`; a process killed before that leaks it in
//! `/dev/shm`, and the resource tracker either warns about "leaked
//! shared_memory objects" or, registered in the opener too, unlinks a
//! segment the creator still uses (bpo-39959). Python 3.13 added
//! `SharedMemory(track=False)` for that tracker problem (gh-82300): the
//! segment is then not registered, and unlinking it is entirely up to you.
//!
//! ```
//! use std::sync::atomic::Ordering;
//! use std::time::Duration;
//! use examples_shared_memory::segment::Segment;
//!
//! let mut owner = Segment::create(4096)?;
//! let opener = Segment::open(owner.name())?; // normally another process
//! owner.unlink_after_attached(1, Duration::from_secs(1))?;
//! assert!(!Segment::exists(owner.name()));
//! opener.words()[0].store(42, Ordering::Relaxed);
//! assert_eq!(owner.words()[0].load(Ordering::Relaxed), 42);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memmap2::MmapRaw;
use nix::fcntl::OFlag;
use nix::sys::mman::{shm_open, shm_unlink};
use nix::sys::stat::Mode;

use crate::owned_name;

/// Every name this crate creates starts with this (after the `/`).
pub const PREFIX: &str = "lesson-shm-";

/// Bytes reserved at the start of each segment: the attach counter, then
/// the owner marker.
pub const HEADER: usize = 64;

/// The word at byte 8 of every segment this crate creates ("lessonsh").
pub const MARKER: u64 = u64::from_le_bytes(*b"lessonsh");

/// A mapped named segment; the creator's instance unlinks the name on drop.
#[derive(Debug)]
pub struct Segment {
    name: String,
    map: MmapRaw,
    /// Only the creator unlinks, and only once.
    linked: bool,
}

impl Segment {
    /// Creates a segment of `len` usable bytes (plus the header) under a
    /// new unique name, mode 0600, and maps it.
    pub fn create(len: usize) -> io::Result<Self> {
        let size = len
            .checked_add(HEADER)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "segment too large"))?;
        for _ in 0..16 {
            let name = unique_name();
            let fd = match shm_open(
                name.as_str(),
                OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR,
                Mode::S_IRUSR | Mode::S_IWUSR,
            ) {
                Ok(fd) => fd,
                Err(nix::errno::Errno::EEXIST) => continue,
                Err(e) => return Err(e.into()),
            };
            // The name exists from here on: remove it again on any error.
            let file = File::from(fd);
            let mapped = file
                .set_len(size as u64)
                .and_then(|()| MmapRaw::map_raw(&file));
            let map = match mapped {
                Ok(map) => map,
                Err(e) => {
                    let _ = shm_unlink(name.as_str());
                    return Err(e);
                }
            };
            let seg = Segment {
                name,
                map,
                linked: true,
            };
            seg.marker().store(MARKER, Ordering::Release);
            return Ok(seg);
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no free segment name",
        ))
    }

    /// Opens and maps an existing segment by name, and counts itself as
    /// attached. The opener never unlinks. A segment shorter than the
    /// header or without the owner marker is refused (`InvalidData`)
    /// before anything is written to it.
    pub fn open(name: &str) -> io::Result<Self> {
        let fd = shm_open(name, OFlag::O_RDWR, Mode::empty()).map_err(|e| {
            io::Error::new(io::Error::from(e).kind(), format!("{name}: {}", e.desc()))
        })?;
        let file = File::from(fd);
        let not_ours = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{name} is not a segment of this crate ({why})"),
            )
        };
        if (file.metadata()?.len() as usize) < HEADER {
            return Err(not_ours("shorter than its header"));
        }
        let seg = Segment {
            name: name.to_string(),
            map: MmapRaw::map_raw(&file)?,
            linked: false,
        };
        if seg.marker().load(Ordering::Acquire) != MARKER {
            return Err(not_ours("no owner marker"));
        }
        seg.attached().fetch_add(1, Ordering::AcqRel);
        Ok(seg)
    }

    /// The pid of the process that created segment `name` (it is in the
    /// name), if `name` is one of this crate's.
    pub fn creator(name: &str) -> Option<i32> {
        owned_name::owner(name.trim_start_matches('/'), PREFIX)
    }

    /// The name, with its leading `/`, as `shm_open` takes it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Usable bytes after the header.
    pub fn len(&self) -> usize {
        self.map.len() - HEADER
    }

    /// True when there are no usable bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The usable bytes as 64-bit atomics, shared with every process that
    /// has the segment mapped.
    pub fn words(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is page-aligned and HEADER is a multiple of 8,
        // so the words are aligned; they lie inside the mapping, which lives
        // as long as `self`; other processes change them only atomically.
        unsafe {
            std::slice::from_raw_parts(
                self.map.as_mut_ptr().add(HEADER).cast::<AtomicU64>(),
                self.len() / 8,
            )
        }
    }

    fn attached(&self) -> &AtomicU64 {
        // SAFETY: the first 8 bytes of the page-aligned mapping, valid for
        // as long as `self`, changed by every process only atomically.
        unsafe { AtomicU64::from_ptr(self.map.as_mut_ptr().cast()) }
    }

    fn marker(&self) -> &AtomicU64 {
        // SAFETY: bytes 8..16 of the mapping (at least HEADER long, checked
        // by both constructors), 8-aligned, accessed only atomically.
        unsafe { AtomicU64::from_ptr(self.map.as_mut_ptr().add(8).cast()) }
    }

    /// How many openers have attached so far.
    pub fn attach_count(&self) -> u64 {
        self.attached().load(Ordering::Acquire)
    }

    /// Removes the name now (the memory stays mapped). Only the creator
    /// does it; later calls, and calls on an opener, do nothing.
    pub fn unlink(&mut self) -> io::Result<()> {
        if self.linked {
            self.linked = false;
            shm_unlink(self.name.as_str())?;
        }
        Ok(())
    }

    /// Waits until `openers` processes have attached (at most `limit`),
    /// then unlinks. On timeout it unlinks anyway and returns `TimedOut`.
    pub fn unlink_after_attached(&mut self, openers: u64, limit: Duration) -> io::Result<()> {
        let deadline = Instant::now() + limit;
        while self.attach_count() < openers && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(100));
        }
        let attached = self.attach_count();
        self.unlink()?;
        if attached < openers {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{attached} of {openers} openers attached to {}", self.name),
            ));
        }
        Ok(())
    }

    /// True while `name` is in `/dev/shm` (Linux keeps POSIX shm there).
    pub fn exists(name: &str) -> bool {
        Self::path(name).exists()
    }

    /// Where a name lives in the file system.
    pub fn path(name: &str) -> PathBuf {
        PathBuf::from("/dev/shm").join(name.trim_start_matches('/'))
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        let _ = self.unlink();
    }
}

/// Removes the `/dev/shm` names of this crate whose creator is dead (see
/// [`owned_name::sweep`]); returns how many. Call it before creating.
pub fn sweep_stale() -> io::Result<usize> {
    Ok(owned_name::sweep(Path::new("/dev/shm"), PREFIX)?.len())
}

/// `/lesson-shm-<pid>-<counter>-<nanoseconds>`: the pid tells whose it is.
fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "/{PREFIX}{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_0600_with_prefix_and_dropped_without_trace() {
        let seg = Segment::create(100).unwrap();
        let name = seg.name().to_string();
        assert!(name.starts_with(&format!("/{PREFIX}{}-", std::process::id())));
        let mode = std::fs::metadata(Segment::path(&name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(seg.words().len(), 100 / 8);
        drop(seg);
        assert!(!Segment::exists(&name));
    }

    #[test]
    fn opener_sees_writes_and_keeps_memory_after_unlink() {
        let mut owner = Segment::create(4096).unwrap();
        let opener = Segment::open(owner.name()).unwrap();
        assert_eq!(owner.attach_count(), 1);
        owner
            .unlink_after_attached(1, Duration::from_secs(1))
            .unwrap();
        assert!(!Segment::exists(owner.name()));
        assert!(Segment::open(owner.name()).is_err());
        owner.words()[5].store(7, Ordering::Relaxed);
        drop(owner);
        assert_eq!(opener.words()[5].load(Ordering::Relaxed), 7);
    }

    #[test]
    fn missing_opener_times_out_but_still_unlinks() {
        let mut owner = Segment::create(8).unwrap();
        let err = owner
            .unlink_after_attached(1, Duration::from_millis(20))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(!Segment::exists(owner.name()));
    }

    #[test]
    fn opening_an_unknown_name_fails() {
        assert!(Segment::open("/lesson-shm-does-not-exist").is_err());
    }

    #[test]
    fn a_segment_without_the_marker_is_refused_untouched() {
        let name = format!("/{PREFIX}{}-foreign", std::process::id());
        let fd = shm_open(
            name.as_str(),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_RDWR,
            Mode::S_IRUSR | Mode::S_IWUSR,
        )
        .unwrap();
        let file = File::from(fd);
        file.set_len(4096).unwrap();
        let err = Segment::open(&name).unwrap_err();
        let bytes = std::fs::read(Segment::path(&name)).unwrap();
        shm_unlink(name.as_str()).unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("no owner marker"), "{err}");
        assert!(bytes.iter().all(|&b| b == 0), "the opener wrote into it");
        assert_eq!(Segment::creator(&name), Some(std::process::id() as i32));
    }
}
