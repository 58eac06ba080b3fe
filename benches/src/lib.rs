//! Workloads shared by the criterion benches and `compare`, the
//! side-by-side table of threads against processes on this machine.
//!
//! Each module is one question; the benches in `benches/` and the
//! `compare` program call the same functions, so a table row and a
//! criterion plot measure the same code. The workloads themselves (the CPU
//! job, the GIL model, the pools, the shared ring) come from the example
//! crates; this crate only arranges and times them.

pub mod chart;
pub mod compare;
pub mod contention;
pub mod distributed;
pub mod interrupt;
pub mod ipc;
pub mod pools;
pub mod python;
pub mod report;
pub mod spawn;
