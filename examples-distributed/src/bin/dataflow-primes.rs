//! One CPU job on timely-dataflow, with the workers as threads of one
//! process, as processes talking over loopback TCP, and as 2 processes x 2
//! threads; beside it sequential, rayon and the process pool.
//!
//! Notice: the answer is the same in every mode (checked); the processes
//! pay for starting and connecting, then compute as fast as threads (the
//! job moves only slice bounds and counts). Run alone, the program starts
//! its own cluster; `--process I --hosts FILE` joins one started by hand,
//! on this or other machines (README: "Running on several machines").
//! Python: Dask's `distributed.Client`, Ray's `ray.init(address=...)` or
//! mpi4py's `comm.reduce`. Reach for it when one machine's cores are not
//! enough. Exit 2 for a bad hostfile, `--process` out of range or a peer
//! that never answers; 4 when a peer is lost mid-run; 5 when stalled.

use std::time::Instant;

use clap::Parser;
use examples_distributed::cluster::{self, Member};
use examples_distributed::primes::{self, Count};
use examples_distributed::report::{self, Rows};
use examples_threading::work::PrimeJob;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    job: report::JobArgs,
    /// Run only the cluster of --workers processes (a long run to watch,
    /// or to kill a process of).
    #[arg(long)]
    only_processes: bool,
    /// Workers: threads of one process, and processes of the cluster.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    workers: u16,
    #[command(flatten)]
    cluster: report::ClusterArgs,
}

fn main() -> std::process::ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), lesson::Failure> {
    let a: Args = lesson::args();
    let job = PrimeJob::new(a.job.limit, a.job.slice);
    if let Some(member) = a.cluster.member()? {
        cluster::guard(member.index, a.cluster.timeout())?;
        return join_cluster(&member, &job, !a.cluster.unchecked);
    }
    let w = usize::from(a.workers);
    let exe = std::env::current_exe()?;
    if a.only_processes {
        let started = |pids: &[u32]| println!("started {w} processes, pids {}", list(pids));
        let run = primes::on_processes(&exe, w, 1, &job, &[], started)
            .map_err(|e| report::launch_failure(&e))?;
        println!("{}", run.count.line());
        return Ok(());
    }
    // The pool forks: first, while this process has one thread.
    let mut rows = Rows::new(&job);
    rows.time(&format!("process pool x{w}"), || {
        primes::in_process_pool(&job, w)
    });
    rows.time("sequential", || Ok(job.count_sequential()));
    rows.time(&format!("rayon x{w}"), || Ok(primes::on_rayon(&job)));
    rows.timely(&format!("timely {w} threads, 1 process"), || {
        let t = Instant::now();
        primes::on_threads(&job, w)
            .map(|c| (c, t.elapsed()))
            .map_err(lesson::Failure::claim)
    });
    for (n, threads) in [(w, 1), (2, 2)] {
        rows.timely(
            &format!("timely {n} processes x {threads} threads (TCP)"),
            || {
                primes::on_processes(&exe, n, threads, &job, &[], |_| {})
                    .map(|r| (r.count, r.wall))
                    .map_err(|e| report::launch_failure(&e))
            },
        );
    }
    rows.finish()?;
    println!(
        "lesson: timely spreads one job over threads or processes alike; processes pay to start and connect, then compute as fast"
    );
    Ok(())
}

fn join_cluster(member: &Member, job: &PrimeJob, check: bool) -> Result<(), lesson::Failure> {
    let t = Instant::now();
    let count: Option<Count> =
        primes::in_cluster(member, job).map_err(|e| report::cluster_failure(&e))?;
    if let Some(c) = &count {
        println!("{}", c.line());
    }
    println!(
        "process {} of {} ({} threads each) done in {:.2} s",
        member.index,
        member.hosts.len(),
        member.threads,
        t.elapsed().as_secs_f64()
    );
    if let Some(c) = count.filter(|_| check) {
        let expected = job.count_sequential();
        if c.primes != expected {
            return Err(lesson::Failure::claim(format!(
                "counted {} primes, expected {expected}",
                c.primes
            )));
        }
        println!(
            "checked: {} primes below {}, as counted sequentially",
            c.primes, job.limit
        );
    }
    println!("lesson: every process ran the same program; process 0 got the sum over the network");
    Ok(())
}

fn list(pids: &[u32]) -> String {
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
