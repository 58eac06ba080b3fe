//! What every bench group in this crate shares.

use std::time::Duration;

use criterion::Criterion;

/// Short warm-up and measurement, so the whole suite stays within minutes
/// on 2 cores; criterion's HTML report still gets its plots.
pub fn short_runs() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}
