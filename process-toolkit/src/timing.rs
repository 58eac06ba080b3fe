//! Measuring on a busy machine, and reading panics.

use std::any::Any;

/// The smallest result of `rounds` runs of `once` (at least one run): on a
/// busy machine a run can only be slowed down, never sped up, so the best
/// run is the one the rest of the machine disturbed least. Any failed run
/// is the error.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let mut runs = 0;
/// let best = process_toolkit::best_of(3, || {
///     runs += 1;
///     let t = Instant::now();
///     std::hint::black_box((0..1000u64).sum::<u64>());
///     Ok::<Duration, std::convert::Infallible>(t.elapsed())
/// })?;
/// assert_eq!(runs, 3);
/// assert!(best < Duration::from_secs(1));
/// # Ok::<(), std::convert::Infallible>(())
/// ```
pub fn best_of<T: PartialOrd, E>(
    rounds: usize,
    mut once: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let mut best = once()?;
    for _ in 1..rounds {
        let next = once()?;
        if next < best {
            best = next;
        }
    }
    Ok(best)
}

/// The message of a panic payload: the `&str` or `String` given to
/// `panic!`, or a placeholder for any other payload.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("boom {}", 7)).unwrap_err();
/// assert_eq!(process_toolkit::panic_message(&*payload), "boom 7");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}
