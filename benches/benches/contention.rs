//! contention: one counter under 1, 2 and 4 threads (Mutex, RwLock,
//! fetch_add, per-thread CachePadded shards), and false sharing: per-thread
//! counters packed into one cache line against padded ones.

mod support;

use benches::contention::{Counter, Layout, count, false_sharing};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// Increments per thread in one timed run.
const PER_THREAD: u64 = 20_000;

fn contention(c: &mut Criterion) {
    let mut group = c.benchmark_group("contention");
    group.sample_size(20);
    for threads in [1usize, 2, 4] {
        let total = threads as u64 * PER_THREAD;
        group.throughput(Throughput::Elements(total));
        for how in Counter::ALL {
            assert_eq!(count(how, threads, PER_THREAD), total, "{how:?}");
            group.bench_with_input(
                BenchmarkId::new(how.label(), format!("{threads} threads")),
                &threads,
                |b, &t| b.iter(|| count(how, t, PER_THREAD)),
            );
        }
        for layout in [Layout::Packed, Layout::Padded] {
            assert_eq!(false_sharing(layout, threads, PER_THREAD), total);
            group.bench_with_input(
                BenchmarkId::new(layout.label(), format!("{threads} threads")),
                &threads,
                |b, &t| b.iter(|| false_sharing(layout, t, PER_THREAD)),
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::short_runs();
    targets = contention
}
criterion_main!(benches);
