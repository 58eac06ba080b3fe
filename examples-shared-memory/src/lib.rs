//! Memory shared between processes, done safely: mappings that really are
//! shared across fork, named segments that never leak, a lock-free ring
//! buffer and a mutex that survives its owner's death.
//!
//! Copy from here: [`mapping`] (anonymous `MAP_SHARED` memory handed out as
//! atomics), [`segment`] (a named `shm_open` segment unlinked as soon as
//! every opener has it), [`ring`] (an SPSC ring between two processes that
//! sleeps on a shared futex), [`robust_mutex`] (a pthread mutex that reports
//! its owner's death instead of staying locked forever).

// Sharing memory between processes.
pub mod file_map;
pub mod mapping;
pub mod ring;
pub mod robust_mutex;
pub mod segment;

// What the programs are built from.
pub mod array;
pub mod child;
pub mod counter;
pub mod interrupt;
pub mod manager;
pub mod measure;
pub mod named_segment;
pub mod owned_name;
pub mod ring_vs_pipe;
