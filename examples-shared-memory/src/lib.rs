//! Memory shared between processes, done safely: mappings that really are
//! shared across fork, named segments that never leak, a lock-free ring
//! buffer and a mutex that survives its owner's death.

pub mod mapping;
pub mod child;
pub mod segment;
pub mod counter;
pub mod array;
pub mod manager;
pub mod file_map;
pub mod interrupt;
pub mod ring;
pub mod robust_mutex;
