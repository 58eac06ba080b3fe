//! cpu_scaling: one fixed CPU-bound job (count the primes below a limit,
//! `examples_threading::work::PrimeJob`) at 1, 2 and 4 workers: sequential,
//! scoped threads, rayon, the process pool
//! (`examples_multiprocessing::pool`), and threads under the model GIL
//! (`examples_threading::gil`), where a fixed job takes as long on 4
//! threads as on 1.
//!
//! The process pools are forked first, before the rayon pools exist; the
//! harness itself may run threads, hence `allow_threads`.

mod support;

use benches::compare::bench_prime_job;
use benches::pools;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use examples_threading::gil::{self, Gil, Mode};

fn cpu_scaling(c: &mut Criterion) {
    let job = bench_prime_job();
    let expected = job.count_sequential();
    let gil = Gil::default();
    let workers = [1usize, 2, 4];
    let mut process_pools: Vec<_> = workers
        .iter()
        .map(|&w| pools::prime_pool(w, true).expect("process pool"))
        .collect();
    let mut group = c.benchmark_group("cpu_scaling");
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("sequential", 1), |b| {
        b.iter(|| job.count_sequential())
    });
    for (&w, processes) in workers.iter().zip(&mut process_pools) {
        assert_eq!(job.count_scoped(w).expect("a thread"), expected);
        group.bench_with_input(BenchmarkId::new("scoped threads", w), &w, |b, &w| {
            b.iter(|| job.count_scoped(w).expect("a thread"))
        });
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(w)
            .build()
            .expect("rayon pool");
        assert_eq!(pool.install(|| job.count_rayon()), expected);
        group.bench_with_input(BenchmarkId::new("rayon", w), &w, |b, _| {
            b.iter(|| pool.install(|| job.count_rayon()))
        });
        assert_eq!(
            pools::count_in_pool(processes, &job, w).expect("pool"),
            expected
        );
        group.bench_with_input(BenchmarkId::new("process pool", w), &w, |b, &w| {
            b.iter(|| pools::count_in_pool(processes, &job, w).expect("pool"))
        });
        assert_eq!(
            gil::run_cpu(Mode::ModelGil(&gil), w, &job).expect("a thread"),
            expected
        );
        group.bench_with_input(BenchmarkId::new("threads, model GIL", w), &w, |b, &w| {
            b.iter(|| gil::run_cpu(Mode::ModelGil(&gil), w, &job).expect("a thread"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::short_runs();
    targets = cpu_scaling
}
criterion_main!(benches);
