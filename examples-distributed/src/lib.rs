//! Beyond one machine: the same work on timely-dataflow, with workers as
//! threads of one process and as processes that talk over TCP.
//!
//! timely's worker model is this workspace's question one level up: `W`
//! worker threads per process, `N` processes, and a hostfile that spreads
//! those processes over machines. Python reaches for Dask, Ray or mpi4py;
//! MPI itself is reachable from Rust through the `mpi` crate, which needs
//! an MPI installation and libclang (so it is not used here).
//!
//! - [`cluster`]: one process of a cluster: hostfile, connections with a
//!   deadline and a handshake, timely over those sockets, and a prompt end
//!   (one line, a documented code) when a peer goes away.
//! - [`launch`]: a whole cluster on this machine: N copies of a program on
//!   free loopback ports, supervised and reaped.
//! - [`primes`]: the prime-counting job as a dataflow (`dataflow-primes`).
//! - [`exchange`]: records between two workers, throughput and round trip
//!   (`dataflow-exchange`).

pub mod cluster;
pub mod exchange;
pub mod launch;
pub mod primes;
pub mod report;
