//! Threads inside one process: a model of CPython's GIL, thread pools,
//! channels and the synchronisation primitives of Python's `threading`.

pub mod gil;
pub mod work;
