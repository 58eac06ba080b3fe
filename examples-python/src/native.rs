//! The native module the embedded interpreter imports as `rust_primes`:
//! the same prime counter twice, once holding the GIL and once releasing
//! it, as numpy releases it around its loops.
//!
//! `count_holding(lo, hi)` computes with the GIL held: no other Python
//! thread runs meanwhile, so two threads calling it take as long as one.
//! `count_released(lo, hi)` wraps the same loop in [`Python::detach`]
//! (`Py_BEGIN_ALLOW_THREADS` in C): the loop touches no Python object, so
//! other threads run Python code, or their own `count_released`, on the
//! other cores.

use pyo3::prelude::*;

/// The module, registered by [`crate::embed::start`].
#[pymodule]
pub fn rust_primes(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(count_holding, m)?)?;
    m.add_function(wrap_pyfunction!(count_released, m)?)?;
    Ok(())
}

/// Primes in `lo..hi`, computed while holding the GIL.
#[pyfunction]
fn count_holding(lo: u64, hi: u64) -> u64 {
    examples_threading::work::count_primes(lo..hi)
}

/// Primes in `lo..hi`, computed with the GIL released.
#[pyfunction]
fn count_released(py: Python<'_>, lo: u64, hi: u64) -> u64 {
    py.detach(|| examples_threading::work::count_primes(lo..hi))
}
