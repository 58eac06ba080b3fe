//! Memory that is really shared with the children a process forks.
//!
//! `memmap2::MmapOptions::map_anon` is `MAP_PRIVATE`: after `fork` each
//! side gets its own copy-on-write pages and a child's writes never reach
//! the parent. [`SharedMapping`] maps anonymous memory `MAP_SHARED`, so
//! parent and children see the same physical pages.
//!
//! Memory that another process writes is never handed out as `&mut [T]` or
//! `&[u8]` (that would let the compiler assume nobody else changes it): it
//! is reached through atomics ([`SharedMapping::atomic_u64s`]) or through
//! the raw pointer with volatile or atomic access.
//!
//! Python: `multiprocessing.RawArray` / `multiprocessing.Value(lock=False)`.
//!
//! ```
//! use std::sync::atomic::Ordering;
//! use examples_shared_memory::mapping::SharedMapping;
//!
//! let map = SharedMapping::new(4096)?;
//! let words = map.atomic_u64s();
//! assert_eq!(words.len(), 512);
//! words[3].fetch_add(7, Ordering::Relaxed);
//! assert_eq!(words[3].load(Ordering::Relaxed), 7);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};

use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous, munmap};

/// An anonymous `MAP_SHARED` mapping, zero-filled, page-aligned, unmapped on
/// drop. Created before `fork`, it is the same memory in parent and child.
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
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a mapping has at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The first byte. Writes through it must not race with other accesses
    /// to the same bytes unless they are atomic.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The mapping as 64-bit atomics (the tail that does not fill a whole
    /// word is left out).
    pub fn atomic_u64s(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is page-aligned, so aligned for AtomicU64; it
        // is valid for `len` bytes for as long as `self` lives; AtomicU64 has
        // the size of u64 and permits shared mutation by anyone, including
        // other processes, through atomic operations.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<AtomicU64>(), self.len / 8) }
    }

    /// The mapping as 32-bit atomics (what a futex waits on).
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn zero_length_is_an_error() {
        assert_eq!(
            SharedMapping::new(0).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn starts_zeroed_and_views_agree() {
        let map = SharedMapping::new(10_000).unwrap();
        assert_eq!(map.atomic_u64s().len(), 1250);
        assert!(
            map.atomic_u64s()
                .iter()
                .all(|w| w.load(Ordering::Relaxed) == 0)
        );
        map.atomic_u64s()[1].store(u64::MAX, Ordering::Relaxed);
        assert_eq!(map.atomic_u32s()[2].load(Ordering::Relaxed), u32::MAX);
        assert_eq!(map.atomic_u32s()[3].load(Ordering::Relaxed), u32::MAX);
    }
}
