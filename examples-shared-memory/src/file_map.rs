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

use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::sync::atomic::AtomicU64;

use memmap2::MmapRaw;

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
}
