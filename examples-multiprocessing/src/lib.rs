//! Processes: fork, start methods, a process pool that survives crashed
//! workers, and the gotchas of mixing fork with threads.
//!
//! Copy from here: [`pool`] is the pre-forked process pool (Python's
//! `multiprocessing.Pool`, minus the hang when a worker is killed), [`frame`]
//! its length-prefixed serde framing, [`fork`] the safe way to fork and reap a
//! child, [`forkserver`] a helper that forks workers on request.

// The process pool (the `process-pool` crate) and what it is built from.
pub use process_pool as pool;
pub use process_pool::frame;
pub mod cpu_work;
pub mod cpython_crash;
pub mod failure;
pub mod faults;
pub mod measure;
/// Ctrl-C and `SIGTERM` as a flag: the one home is the toolkit.
pub use process_toolkit::stop_signal;

// fork, start methods and the process gotchas.
pub mod fork;
pub mod forkserver;
pub mod pipes;
pub mod shutdown;
pub mod start;
pub mod zombies;
