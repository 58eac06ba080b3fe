//! io_overlap: a fixed number of blocking waits
//! (`examples_threading::work::WaitJob`): sequential, one thread per wait,
//! one pool process per wait (`examples_multiprocessing::pool`), and the
//! threads under the model GIL, which releases the lock around each wait as
//! CPython does.

mod support;

use benches::compare::bench_wait_job;
use benches::pools;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use examples_threading::gil::{self, Gil, Mode};

fn io_overlap(c: &mut Criterion) {
    let job = bench_wait_job();
    let n = job.waits;
    let gil = Gil::default();
    let mut pool = pools::wait_pool(n, true).expect("process pool");
    assert_eq!(pools::waits_in_pool(&mut pool, &job).expect("pool"), n);
    let mut group = c.benchmark_group("io_overlap");
    group.sample_size(10);
    assert_eq!(gil::run_io(Mode::Free, n, &job).expect("a thread"), n);
    assert_eq!(
        gil::run_io(Mode::ModelGil(&gil), n, &job).expect("a thread"),
        n
    );
    group.bench_function(BenchmarkId::new("sequential", 1), |b| {
        b.iter(|| gil::run_io(Mode::Free, 1, &job).expect("a thread"))
    });
    group.bench_function(BenchmarkId::new("threads", n), |b| {
        b.iter(|| gil::run_io(Mode::Free, n, &job).expect("a thread"))
    });
    group.bench_function(BenchmarkId::new("process pool", n), |b| {
        b.iter(|| pools::waits_in_pool(&mut pool, &job).expect("pool"))
    });
    group.bench_function(BenchmarkId::new("threads, model GIL", n), |b| {
        b.iter(|| gil::run_io(Mode::ModelGil(&gil), n, &job).expect("a thread"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::short_runs();
    targets = io_overlap
}
criterion_main!(benches);
