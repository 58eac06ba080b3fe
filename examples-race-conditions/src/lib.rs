//! Races and deadlocks from a threading guide, each with its fix.
//!
//! Every module holds the reusable part of one program in `src/bin`: the
//! broken variant and the fixed one side by side, written against
//! [`sync`] so that the same code runs under loom's model checker
//! (`RUSTFLAGS="--cfg loom"`) and for real.
