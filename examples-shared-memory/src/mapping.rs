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

// One home for the shared anonymous mapping: the process toolkit's.
pub use process_toolkit::SharedMapping;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
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
