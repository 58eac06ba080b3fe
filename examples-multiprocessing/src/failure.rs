//! How this crate's errors end a program: the system refusing something (a
//! process, a pipe, memory) is [`lesson::SYSTEM`] (exit 71); anything else
//! (a wrong result, a lost task the lesson did not plan) is the claim's
//! (exit 1). `lesson::Failure`'s own `From` makes every error a system one;
//! these look at what the error says.

use lesson::Failure;
use process_pool::Error;

/// A pool error as the program's ending: cannot start a worker, or the
/// parent's own i/o failed, is the system's; the rest is the claim's.
///
/// ```
/// use examples_multiprocessing::failure::pool_failure;
/// assert_eq!(pool_failure(process_pool::Error::Missing { index: 3 }).code(), lesson::CLAIM_FAILED);
/// let spawn = process_pool::Error::Spawn(std::io::Error::from_raw_os_error(11));
/// assert_eq!(pool_failure(spawn).code(), lesson::SYSTEM);
/// ```
pub fn pool_failure(err: Error) -> Failure {
    let line = lesson::one_line(&err);
    match err {
        Error::Spawn(_) | Error::Io(_) => Failure::system(line),
        _ => Failure::claim(line),
    }
}

/// An `anyhow` error from this crate's measurements: a refused process,
/// pipe or descriptor anywhere in its chain is the system's, anything else
/// (a damaged or missing message, a wrong result) is the claim's.
///
/// ```
/// use examples_multiprocessing::failure::failure;
/// assert_eq!(failure(anyhow::anyhow!("message 3 arrived damaged")).code(), lesson::CLAIM_FAILED);
/// let refused = anyhow::Error::new(std::io::Error::from_raw_os_error(24));
/// assert_eq!(failure(refused).code(), lesson::SYSTEM);
/// ```
pub fn failure(err: anyhow::Error) -> Failure {
    let system = err.chain().any(|e| {
        e.is::<std::io::Error>()
            || e.is::<nix::errno::Errno>()
            || e.is::<process_toolkit::ForkError>()
            || e.downcast_ref::<Error>()
                .is_some_and(|p| matches!(p, Error::Spawn(_) | Error::Io(_)))
    });
    let line = lesson::one_line(&*err);
    if system {
        Failure::system(line)
    } else {
        Failure::claim(line)
    }
}

/// `Ok` when the claim `holds`, else a claim failure with `line`.
///
/// ```
/// use examples_multiprocessing::failure::claim;
/// assert!(claim(true, || "fine").is_ok());
/// assert_eq!(claim(false, || "short by 3").unwrap_err().line(), "short by 3");
/// ```
pub fn claim<D: std::fmt::Display>(holds: bool, line: impl FnOnce() -> D) -> Result<(), Failure> {
    if holds {
        Ok(())
    } else {
        Err(Failure::claim(line()))
    }
}
