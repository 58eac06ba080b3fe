//! Processes: fork, start methods, a process pool that survives crashed
//! workers, and the gotchas of mixing fork with threads.

pub mod fork;
pub mod start;
pub mod forkserver;
pub mod zombies;
pub mod pipes;
pub mod pool;
pub mod frame;
pub mod stop_signal;
pub mod cpu_work;
