//! Records exchanged between two timely workers, as two threads of one
//! process and as two processes over loopback TCP; beside them the same
//! streams through this workspace's pipe and shared-memory ring.
//!
//! Notice: between threads a record is handed over in memory; between
//! processes it is serialised, crosses the kernel's TCP stack twice and is
//! deserialised, which shows most on small records and on the round trip
//! (a probe waits for timely's progress messages too). The pipe and the
//! ring, one process to another on one machine, bound what the network
//! path could cost. Every record is verified at the receiver (sequence
//! number and checksum, each exactly once). Python: Ray's object store or
//! mpi4py's `comm.send`/`comm.recv` between ranks. Reach for processes
//! over TCP when the work no longer fits one machine, not for speed.
//! Exit codes as `dataflow-primes` (2, 4, 5).

use clap::Parser;
use examples_distributed::exchange::{self, Figures};
use examples_distributed::report;
use examples_shared_memory::ring::stream::{self, Transfer};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    plan: report::PlanArgs,
    #[command(flatten)]
    cluster: report::ClusterArgs,
}

fn main() -> std::process::ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), lesson::Failure> {
    let a: Args = lesson::args();
    let plan = a.plan.plan();
    if let Some(member) = a.cluster.member()? {
        examples_distributed::cluster::guard(member.index, a.cluster.timeout())?;
        let f = exchange::in_cluster(&member, &plan).map_err(|e| report::cluster_failure(&e))?;
        println!("{}", f.map_err(lesson::Failure::claim)?.line());
        println!(
            "lesson: process {} of a 2-process exchange is done",
            member.index
        );
        return Ok(());
    }
    // The pipe and ring streams fork: first, while this process has one thread.
    let capacity = (plan.large + 16).next_power_of_two().max(1 << 20) * 2;
    // SAFETY: no thread has been started yet.
    let ([pipe_s, ring_s, pipe_l, ring_l], [pipe_rtt, ring_rtt]) = unsafe {
        (
            [
                stream::over_pipe(plan.small_count, plan.small)?,
                stream::over_ring(plan.small_count, plan.small, capacity)?,
                stream::over_pipe(plan.large_count, plan.large)?,
                stream::over_ring(plan.large_count, plan.large, capacity)?,
            ],
            [
                exchange::echo_round_trip(plan.rounds, plan.small, false)?,
                exchange::echo_round_trip(plan.rounds, plan.small, true)?,
            ],
        )
    };
    let threads = exchange::on_threads(&plan).map_err(lesson::Failure::claim)?;
    let exe = std::env::current_exe()?;
    let procs = exchange::on_processes(&exe, &plan, &[]).map_err(|e| report::launch_failure(&e))?;
    for (len, count, t, p, pipe, ring) in [
        (
            plan.small,
            plan.small_count,
            threads.small,
            procs.small,
            pipe_s,
            ring_s,
        ),
        (
            plan.large,
            plan.large_count,
            threads.large,
            procs.large,
            pipe_l,
            ring_l,
        ),
    ] {
        println!("{count} records of {len} B, one way:");
        let rate = |secs: f64| {
            (
                count as f64 / secs.max(1e-9),
                (count * len as u64) as f64 / secs.max(1e-9) / 1e6,
            )
        };
        for (label, secs) in [
            ("timely, 2 threads of 1 process", t.as_secs_f64()),
            ("timely, 2 processes (loopback TCP)", p.as_secs_f64()),
        ] {
            let (m, b) = rate(secs);
            println!("  {label:<38} {m:>12.0} msg/s {b:>9.0} MB/s");
        }
        row("pipe between 2 processes", &pipe);
        row("shared-memory ring between 2 processes", &ring);
    }
    println!(
        "round trip of one {} B record (timely, until the probe passes):",
        plan.small
    );
    print_rtt("2 threads of 1 process", &threads);
    print_rtt("2 processes (loopback TCP)", &procs);
    println!("round trip of one {} B message without timely:", plan.small);
    for (label, t) in [
        ("pipe pair to a forked echo process", pipe_rtt),
        ("shared-memory rings to a forked echo", ring_rtt),
    ] {
        println!("  {label:<38} {:>9.1} µs", t.as_secs_f64() * 1e6);
    }
    let expected = plan.small_count + plan.large_count;
    if threads.verified != expected || procs.verified != expected {
        return Err(lesson::Failure::claim(format!(
            "verified {} and {} records, expected {expected} each",
            threads.verified, procs.verified
        )));
    }
    println!(
        "checked: {expected} records arrived intact, each exactly once, over threads and over TCP"
    );
    if cfg!(debug_assertions) {
        println!("note: debug build; for real figures: cargo run --release");
    }
    println!(
        "lesson: threads hand records over in memory; processes serialise them through the kernel, which costs most per small record and per round trip"
    );
    Ok(())
}

fn row(label: &str, t: &Transfer) {
    let (m, b) = (t.messages_per_sec(), t.bytes_per_sec() / 1e6);
    println!("  {label:<38} {m:>12.0} msg/s {b:>9.0} MB/s");
}

fn print_rtt(label: &str, f: &Figures) {
    println!("  {label:<38} {:>9.1} µs", f.round_trip.as_secs_f64() * 1e6);
}
