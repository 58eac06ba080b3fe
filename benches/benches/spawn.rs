//! spawn: start one unit of work and wait for it, six ways.
//!
//! Threads cost microseconds, a fork tens to hundreds of microseconds, a
//! new program (exec) milliseconds. Each way is checked once outside the
//! timed loop.

mod support;

use std::hint::black_box;

use benches::spawn::{Spawn, exit_if_child, expected, start};
use criterion::{BenchmarkId, Criterion, criterion_group};

fn spawn(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn");
    for how in Spawn::ALL {
        assert_eq!(
            start(how, 9).unwrap_or_else(|e| panic!("{}: {e}", how.label())),
            expected(9),
            "{how:?}"
        );
        group.bench_function(BenchmarkId::new(how.label(), "one task"), |b| {
            b.iter(|| start(how, black_box(9)).unwrap_or_else(|e| panic!("{}: {e}", how.label())))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::short_runs();
    targets = spawn
}

fn main() {
    // `Spawn::Reexec` runs this executable again; that child exits here.
    exit_if_child();
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
