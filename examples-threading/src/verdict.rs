//! What a program's speed check concluded: the claim held, it was not
//! checked (and why), or it failed (and why). A shared machine can starve
//! a run of CPU; then the honest answer is "not checked", said plainly,
//! after a bounded number of retries ([`retry`]).
//!
//! ```
//! use examples_threading::verdict::{Verdict, retry};
//!
//! let mut tries = 0;
//! let (runs, verdict) = retry(3, || { tries += 1; tries }, |&n| {
//!     if n < 2 { Verdict::NotChecked("busy".into()) } else { Verdict::Held }
//! });
//! assert_eq!((runs, verdict), (2, Verdict::Held));
//! ```

use std::fmt;

/// The outcome of a speed check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The claim held, with its margins.
    Held,
    /// The claim could not be checked on this run, and why (the machine
    /// gave the run too little CPU, one thread has nothing to compare).
    NotChecked(String),
    /// The claim failed, and why.
    Failed(String),
}

impl Verdict {
    /// Whether checking again, on a fresh measurement, may help.
    pub fn is_not_checked(&self) -> bool {
        matches!(self, Verdict::NotChecked(_))
    }

    /// A speed claim's verdict: held, or failed with `why` ([`in_this_build`](Self::in_this_build)).
    pub fn speed(held: bool, why: impl fmt::Display) -> Self {
        if held {
            Verdict::Held
        } else {
            Verdict::Failed(why.to_string()).in_this_build()
        }
    }

    /// The verdict as this build may state it: a debug build's timings say
    /// little about the code (and the test suite runs debug builds on busy
    /// machines), so there a failed speed claim is reported as not checked.
    /// Release builds (`cargo run --release`) check it.
    pub fn in_this_build(self) -> Self {
        match self {
            Verdict::Failed(why) if cfg!(debug_assertions) => Verdict::NotChecked(format!(
                "{why} (a debug build: speed is checked with --release)"
            )),
            v => v,
        }
    }

    /// Ends a program by its verdict: `Ok(())` when it held, or was not
    /// checked after printing `note: not checked: <why>`; a claim failure
    /// (exit 1) when it failed.
    pub fn end(self) -> Result<(), lesson::Failure> {
        match self {
            Verdict::Held => Ok(()),
            Verdict::NotChecked(why) => {
                println!("note: not checked: {why}");
                Ok(())
            }
            Verdict::Failed(why) => Err(lesson::Failure::claim(why)),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Held => f.write_str("held"),
            Verdict::NotChecked(why) => write!(f, "not checked: {why}"),
            Verdict::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// Measures with `measure` and judges with `judge`, again while the
/// verdict is [`Verdict::NotChecked`], at most `rounds` times (at least
/// once); returns the last measurement and its verdict.
pub fn retry<M>(
    rounds: usize,
    mut measure: impl FnMut() -> M,
    judge: impl Fn(&M) -> Verdict,
) -> (M, Verdict) {
    let mut m = measure();
    let mut verdict = judge(&m);
    for _ in 1..rounds {
        if !verdict.is_not_checked() {
            break;
        }
        m = measure();
        verdict = judge(&m);
    }
    (m, verdict)
}

/// `Ok(())` when `held`, else the claim failure `why` (exit 1): the
/// `ensure!` of a program that ends through `lesson::main`.
///
/// ```
/// use examples_threading::verdict::claim;
/// assert!(claim(1 + 1 == 2, "arithmetic").is_ok());
/// assert_eq!(claim(false, "lost 3 items").unwrap_err().line(), "lost 3 items");
/// ```
pub fn claim(held: bool, why: impl fmt::Display) -> Result<(), lesson::Failure> {
    if held {
        Ok(())
    } else {
        Err(lesson::Failure::claim(why))
    }
}
