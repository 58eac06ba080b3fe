//! Threads inside one process: a model of CPython's GIL, thread pools,
//! channels and the synchronisation primitives of Python's `threading`.
//!
//! Copy from here: [`gil`] (a faithful model of CPython's GIL, to measure
//! what it costs), [`thread_pool`] (`ThreadPoolExecutor` on crossbeam
//! channels), [`semaphore`], [`event`], [`timer`]. The primitives are written
//! against [`sync`], so loom checks the same code (`RUSTFLAGS="--cfg loom"`).

// The GIL model and the workloads it is measured on (`work` gathers them).
pub mod cpu_job;
pub mod false_sharing;
pub mod fan_out;
pub mod gil;
pub mod measure;
pub mod slow_server;
pub mod wait_job;
pub mod work;

// Starting threads so that a refused spawn is an error, never a hang; the
// verdict of a speed check.
pub mod spawn;
pub mod verdict;

// Pools and primitives, loom-checked through `sync`.
pub mod bounded_buffer;
pub mod event;
pub mod pending;
pub mod semaphore;
pub mod sync;
pub mod thread_pool;
pub mod timer;

// The scenarios the programs run, each reusable on its own.
pub mod daemon;
pub mod occupancy;
pub mod queue_lifecycle;
pub mod scratch;
pub mod stencil;
