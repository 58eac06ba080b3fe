//! Memory shared between processes, done safely: mappings that really are
//! shared across fork, named segments that never leak, a lock-free ring
//! buffer and a mutex that survives its owner's death.

pub mod mapping;
