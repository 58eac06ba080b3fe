//! Processes: fork, start methods, a process pool that survives crashed
//! workers, and the gotchas of mixing fork with threads.
//!
//! Copy from here: [`pool`] is the pre-forked process pool (Python's
//! `multiprocessing.Pool`, minus the hang when a worker is killed), [`frame`]
//! its length-prefixed serde framing, [`fork`] the safe way to fork and reap a
//! child (the process toolkit's, plus [`fork::dies_with_parent`]),
//! [`forkserver`] a helper that forks workers on request, [`shutdown`] how a
//! pool program stops cleanly on Ctrl-C or `SIGTERM`.
//!
//! The process primitives (fork, the owned child, dying with the parent, a
//! shared mapping, CPU time, a signal flag, best-of timing) have one home,
//! the `process-toolkit` crate; this crate re-exports or calls them.

// The process pool (the `process-pool` crate), what the pool programs
// measure and break, and CPython's pools beside it.
pub use process_pool as pool;
pub use process_pool::frame;
pub mod cpu_work;
pub mod cpython_crash;
pub mod faults;
pub mod measure;
pub mod shutdown;
/// Ctrl-C and `SIGTERM` as a flag: the one home is the toolkit.
pub use process_toolkit::stop_signal;

// fork, start methods and the process gotchas.
pub mod fork;
pub mod forkserver;
pub mod pipes;
pub mod start;
pub mod zombies;

// How this crate's errors end a program (`lesson::Failure`).
pub mod failure;
