//! dataflow: the cores of `dataflow-primes` and `dataflow-exchange`
//! (`examples_distributed`) with the timely workers as threads of one
//! process and as processes over loopback TCP. A process run starts and
//! connects a fresh cluster (this bench binary again, as a cluster
//! process), so it includes what a job sent to a cluster pays.

mod support;

use benches::compare::bench_prime_job;
use benches::distributed::{exchange_on_processes, exchange_plan, primes_on_processes};
use criterion::{BenchmarkId, Criterion, criterion_group};
use examples_distributed::{exchange, primes};

fn dataflow(c: &mut Criterion) {
    let job = bench_prime_job();
    let expected = job.count_sequential();
    let exe = std::env::current_exe().expect("current exe");
    let mut group = c.benchmark_group("dataflow");
    group.sample_size(10);
    for w in [1usize, 2] {
        assert_eq!(
            primes::on_threads(&job, w).expect("timely").primes,
            expected
        );
        group.bench_with_input(
            BenchmarkId::new("primes, timely threads", w),
            &w,
            |b, &w| b.iter(|| primes::on_threads(&job, w).expect("timely")),
        );
        assert_eq!(
            primes_on_processes(&exe, w, 1, &job).expect("cluster"),
            expected
        );
        group.bench_with_input(
            BenchmarkId::new("primes, timely processes", w),
            &w,
            |b, &w| b.iter(|| primes_on_processes(&exe, w, 1, &job).expect("cluster")),
        );
    }
    let plan = exchange_plan(5_000);
    let want = plan.small_count + plan.large_count;
    assert_eq!(exchange::on_threads(&plan).expect("timely").verified, want);
    group.bench_function("exchange, timely 2 threads", |b| {
        b.iter(|| exchange::on_threads(&plan).expect("timely"))
    });
    assert_eq!(exchange_on_processes(&exe, &plan).expect("cluster"), want);
    group.bench_function("exchange, timely 2 processes", |b| {
        b.iter(|| exchange_on_processes(&exe, &plan).expect("cluster"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::short_runs();
    targets = dataflow
}

// criterion_main!, after the cluster processes (this binary re-run) peel off.
fn main() {
    examples_distributed::report::exit_if_member();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
