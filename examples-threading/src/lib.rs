//! Threads inside one process: a model of CPython's GIL, thread pools,
//! channels and the synchronisation primitives of Python's `threading`.

pub mod gil;
pub mod work;
pub mod bounded_buffer;
pub mod event;
pub mod pending;
pub mod semaphore;
pub mod sync;
pub mod thread_pool;
pub mod timer;
