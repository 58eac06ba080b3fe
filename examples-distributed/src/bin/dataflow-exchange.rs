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
use examples_distributed::exchange;
use examples_distributed::report;

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
    let base = exchange::Baselines::measure(&plan)?;
    let threads = exchange::on_threads(&plan).map_err(lesson::Failure::claim)?;
    let exe = std::env::current_exe()?;
    let procs = exchange::on_processes(&exe, &plan, &[]).map_err(|e| report::launch_failure(&e))?;
    report::print_exchange(&plan, &threads, &procs, &base);
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
