//! The real GIL, from Rust: CPython embedded with PyO3, Python threads that
//! call native code holding the lock and releasing it, the convoy effect
//! measured beside the model of `examples_threading::gil`, and Python
//! attaching to shared memory that Rust created.
//!
//! Needs CPython 3 with its shared library (`libpython3.x.so`) at build and
//! run time; build.rs puts its directory in the binaries' rpath, so
//! `cargo run -p examples-python --bin NAME` needs no other step.

pub mod convoy;
pub mod embed;
pub mod native;
pub mod release;
pub mod shm;
