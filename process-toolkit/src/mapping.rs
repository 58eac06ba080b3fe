//! Memory that is really shared with the children a process forks.

use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};

/// An anonymous `MAP_SHARED` mapping, zero-filled, page-aligned, unmapped
/// on drop. Made before `fork`, it is the same memory in parent and child.
///
/// `memmap2::MmapOptions::map_anon` is `MAP_PRIVATE`: after `fork` each
/// side gets copy-on-write pages and a child's writes never reach the
/// parent. Memory another process writes is never handed out as `&mut [T]`
/// or `&[u8]`: it is reached through atomics ([`atomic_u64s`],
/// [`atomic_u32s`]) or through the raw pointer with volatile or atomic
/// access. Python: `multiprocessing.RawArray`.
///
/// [`atomic_u64s`]: Self::atomic_u64s
/// [`atomic_u32s`]: Self::atomic_u32s
///
/// ```
/// use std::sync::atomic::Ordering;
/// use process_toolkit::{SharedMapping, fork_raw};
///
/// let map = SharedMapping::new(4096)?;
/// let words = map.atomic_u64s();
/// // SAFETY: the child makes one atomic store.
/// let mut child = unsafe { fork_raw(|| { words[3].store(7, Ordering::SeqCst); 0 }) }?;
/// child.wait()?;
/// assert_eq!(words[3].load(Ordering::SeqCst), 7); // the child's write is ours too
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct SharedMapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; every access that
// can race goes through atomics or raw pointers, never through references
// that assume exclusivity.
unsafe impl Send for SharedMapping {}
// SAFETY: as above; `&SharedMapping` only hands out atomics and raw pointers.
unsafe impl Sync for SharedMapping {}

impl SharedMapping {
    /// Maps `len` bytes (rounded up to whole pages by the kernel) of zeroed,
    /// shared, read-write memory. `len` of 0 is an `InvalidInput` error.
    ///
    /// ```
    /// use process_toolkit::SharedMapping;
    ///
    /// assert!(SharedMapping::new(0).is_err());
    /// assert_eq!(SharedMapping::new(100)?.len(), 100);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(len: usize) -> io::Result<Self> {
        let length = NonZeroUsize::new(len)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "mapping length is 0"))?;
        // SAFETY: a fresh anonymous mapping at an address the kernel picks
        // aliases no existing Rust object.
        let ptr = unsafe {
            mmap_anonymous(
                None,
                length,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }?;
        Ok(Self {
            ptr: ptr.cast(),
            len,
        })
    }

    /// Length in bytes, as requested.
    ///
    /// ```
    /// assert_eq!(process_toolkit::SharedMapping::new(10)?.len(), 10);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a mapping has at least one byte.
    ///
    /// ```
    /// assert!(!process_toolkit::SharedMapping::new(1)?.is_empty());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The first byte. Writes through it must not race with other accesses
    /// to the same bytes unless they are atomic.
    ///
    /// ```
    /// let map = process_toolkit::SharedMapping::new(8)?;
    /// // SAFETY: in bounds, and no other process touches the mapping yet.
    /// unsafe { map.as_ptr().write_volatile(42) };
    /// assert_eq!(map.atomic_u64s()[0].load(std::sync::atomic::Ordering::SeqCst), 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The mapping as 64-bit atomics (a tail shorter than a word is left out).
    ///
    /// ```
    /// assert_eq!(process_toolkit::SharedMapping::new(20)?.atomic_u64s().len(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn atomic_u64s(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is page-aligned, so aligned for AtomicU64; it
        // is valid for `len` bytes for as long as `self` lives; AtomicU64 has
        // the size of u64 and permits shared mutation by anyone, including
        // other processes, through atomic operations.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<AtomicU64>(), self.len / 8) }
    }

    /// The mapping as 32-bit atomics (what a futex waits on).
    ///
    /// ```
    /// assert_eq!(process_toolkit::SharedMapping::new(20)?.atomic_u32s().len(), 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn atomic_u32s(&self) -> &[AtomicU32] {
        // SAFETY: as for `atomic_u64s`, with 4-byte words.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<AtomicU32>(), self.len / 4) }
    }
}

impl Drop for SharedMapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned and were not
        // unmapped before; the slices handed out borrow `self`, so none
        // outlives this call.
        let _ = unsafe { munmap(self.ptr.cast(), self.len) };
    }
}
