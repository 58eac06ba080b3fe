//! pool_overhead: tiny tasks through the process pool (`process_pool`,
//! the function given per call) and the thread pool
//! (`examples_threading::thread_pool`) at chunksize 1, 8, 64 and 512,
//! against rayon with the same minimum chunk.

mod support;

use benches::compare::{check_tiny, rayon_tiny, threads_tiny};
use benches::pools;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use examples_threading::thread_pool::ThreadPool;

const TASKS: u64 = 10_000;
const WORKERS: usize = 2;

fn pool_overhead(c: &mut Criterion) {
    // Forked before this function starts the thread and rayon pools.
    let mut processes = pools::prime_pool(WORKERS, true).expect("process pool");
    let threads = ThreadPool::new(WORKERS).expect("thread pool");
    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(WORKERS)
        .build()
        .expect("rayon pool");
    let mut group = c.benchmark_group("pool_overhead");
    group.sample_size(20);
    group.throughput(Throughput::Elements(TASKS));
    for chunk in [1usize, 8, 64, 512] {
        check_tiny(TASKS, rayon_tiny(&rayon, TASKS, chunk)).expect("rayon");
        group.bench_with_input(BenchmarkId::new("rayon", chunk), &chunk, |b, &chunk| {
            b.iter(|| rayon_tiny(&rayon, TASKS, chunk))
        });
        check_tiny(
            TASKS,
            threads_tiny(&threads, TASKS, chunk).expect("thread pool"),
        )
        .expect("thread pool");
        group.bench_with_input(
            BenchmarkId::new("thread pool", chunk),
            &chunk,
            |b, &chunk| b.iter(|| threads_tiny(&threads, TASKS, chunk)),
        );
        check_tiny(
            TASKS,
            pools::tiny_in_pool(&mut processes, TASKS, chunk).expect("process pool"),
        )
        .expect("process pool");
        group.bench_with_input(
            BenchmarkId::new("process pool", chunk),
            &chunk,
            |b, &chunk| b.iter(|| pools::tiny_in_pool(&mut processes, TASKS, chunk)),
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::short_runs();
    targets = pool_overhead
}
criterion_main!(benches);
