//! Races and deadlocks from a threading guide, each with its fix.
//!
//! Every module holds the reusable part of one program in `src/bin`: the
//! broken variant and the fixed one side by side, written against
//! [`sync`] so that the same code runs under loom's model checker
//! (`RUSTFLAGS="--cfg loom"`) and for real.

pub mod account;
pub mod deadlock;
pub mod dining;
pub mod livelock;
pub mod lock;
pub mod lost_update;
pub mod lost_wakeup;
pub mod poison;
pub mod rendezvous;
pub mod sync;
pub mod team;
pub mod toctou;
pub mod wait_graph;

/// Exit code of `deadlock` and `dining-philosophers --table naive` when the
/// watchdog finds a deadlock (a cycle of threads waiting for each other's
/// locks). Distinct from 1 (a claim did not hold) and 2 (bad flags).
pub const DEADLOCK_EXIT: i32 = 3;
