//! The process primitives, each written once: take this crate (or copy
//! this folder) into a project that forks.
//!
//! | need | here | Python |
//! |---|---|---|
//! | fork from a single-threaded process, run any code in the child | [`fork()`] | `os.fork()` |
//! | fork from a threaded process, child makes only async-signal-safe calls | [`fork_raw`] (`unsafe`) | — |
//! | a child that is reaped exactly once, killed and reaped if dropped | [`Child`] | `Popen.wait`, `Process.join` |
//! | a child that dies when its parent dies | [`die_with_parent`] | `Process(daemon=True)` (only at a clean exit) |
//! | memory that parent and forked children really share | [`SharedMapping`] | `multiprocessing.RawArray` |
//! | sleep until the other side makes progress, with no lost wake-up | [`handshake`] (model-checked) | `threading.Condition` |
//! | look again for a while before sleeping, so a wake-up is rarely needed | [`linger`] | — |
//! | CPU time of this thread, of a process, rusage | [`thread_cpu_time`], [`process_cpu_time`], [`rusage`] | `time.thread_time`, `resource.getrusage` |
//! | whether a pid has ended (gone, or a zombie) | [`has_exited`] | `psutil.pid_exists` |
//! | names that carry their owner's pid, and a sweep of those whose owner ended | [`owned_name`] | the resource tracker |
//! | Ctrl-C / `SIGTERM` as a flag a loop checks | [`stop_signal`] | `signal.signal(SIGINT, handler)` |
//! | the fastest of N runs on a busy machine | [`best_of`] | `min(timeit.repeat(...))` |
//! | a panic payload as text | [`panic_message`] | `str(exc)` |
//!
//! Every child made here ends in `_exit`: it never returns into the
//! caller's stack, never runs the parent's atexit handlers and never
//! flushes the parent's copied buffers a second time.
//!
//! ```
//! use process_toolkit::{Ended, fork};
//!
//! # if process_toolkit::thread_count()? != 1 { return Ok(()); } // doctests may run threaded
//! let mut child = fork(|| 7)?;
//! assert_eq!(child.wait_ended()?, Ended::Exited(7));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod child;
mod cpu;
mod fork;
pub mod handshake;
pub mod linger;
mod mapping;
pub mod owned_name;
mod parent;
pub mod stop_signal;
mod timing;

pub use child::{Child, Ended};
pub use cpu::{Usage, has_exited, process_cpu_time, rusage, thread_cpu_time};
pub use fork::{ForkError, PANIC_EXIT, fork, fork_raw, thread_count};
pub use mapping::SharedMapping;
pub use parent::{
    EXIT_PARENT_GONE, ParentGone, die_with_parent, dying_with_parent, signal_when_parent_dies,
};
pub use timing::{best_of, panic_message};
