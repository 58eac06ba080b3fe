//! ipc: one message stream at 64 B, 4 KiB, 64 KiB and 1 MiB between
//! threads (crossbeam, std mpsc) and processes (pipe, Unix socket, the
//! shared-memory ring, pinned to two CPUs, and pipe and ring again with
//! both processes pinned to one CPU): throughput of a stream and latency
//! of a round trip.
//!
//! Each peer is started (thread spawned or child forked) outside the timed
//! loop and checked with one batch before it is timed.

mod support;

use std::time::Instant;

use benches::ipc::{Pattern, Peer, SIZES, Transport};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn size_label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

fn ipc(c: &mut Criterion) {
    let mut group = c.benchmark_group("ipc");
    group.sample_size(20);
    for (pattern, name) in [
        (Pattern::Stream, "stream"),
        (Pattern::RoundTrip, "round trip"),
    ] {
        for size in SIZES {
            group.throughput(Throughput::Bytes(size as u64));
            for t in Transport::ALL {
                let mut peer = Peer::start(t, pattern, size).expect("start peer");
                assert_eq!(peer.run(4).expect("check batch"), 4 * size as u64);
                group.bench_function(
                    BenchmarkId::new(format!("{} {name}", t.label()), size_label(size)),
                    |b| {
                        b.iter_custom(|iters| {
                            let start = Instant::now();
                            let bytes = peer.run(iters).expect("batch");
                            let elapsed = start.elapsed();
                            assert_eq!(bytes, iters * size as u64);
                            elapsed
                        })
                    },
                );
            }
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::short_runs();
    targets = ipc
}
criterion_main!(benches);
