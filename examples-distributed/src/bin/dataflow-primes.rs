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

use clap::Parser;
use examples_distributed::cluster;
use examples_distributed::primes;
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
        return report::join_primes_cluster(&member, &job, !a.cluster.unchecked);
    }
    let w = usize::from(a.workers);
    let exe = std::env::current_exe()?;
    if a.only_processes {
        let started = |pids: &[u32]| println!("started {w} processes, pids {pids:?}");
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
        let t = std::time::Instant::now();
        let count = primes::on_threads(&job, w).map_err(lesson::Failure::claim)?;
        Ok((count, t.elapsed()))
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
