//! distributed: the prime job and a record stream on timely-dataflow
//! (`examples_distributed`), with the workers as threads of one process
//! against processes over loopback TCP, beside the process pool.
//!
//! The process rows start a fresh cluster each run (the current executable
//! again, with `examples_distributed::report::MEMBER_ENV` set), so they pay
//! for starting and connecting, as a job sent to a cluster does. A `main`
//! that runs these rows must call
//! `examples_distributed::report::exit_if_member` first.

use std::io;
use std::path::Path;

use examples_distributed::exchange::{self, Plan as ExchangePlan};
use examples_distributed::primes;
use examples_distributed::report::MEMBER_ENV;
use examples_threading::work::PrimeJob;

use crate::compare::Plan;
use crate::pools::{self, Pools};
use crate::report::{Model, Rounds, Table, thousands};

fn wrong(what: String) -> io::Error {
    io::Error::other(what)
}

/// The prime job counted by `processes` timely processes of `threads`
/// workers each, started from `exe`.
pub fn primes_on_processes(
    exe: &Path,
    processes: usize,
    threads: usize,
    job: &PrimeJob,
) -> io::Result<u64> {
    primes::on_processes(
        exe,
        processes,
        threads,
        job,
        &[(MEMBER_ENV, "primes")],
        |_| {},
    )
    .map(|r| r.count.primes)
    .map_err(|e| wrong(e.line))
}

/// The stream of `plan` between 2 timely processes started from `exe`;
/// returns the records verified.
pub fn exchange_on_processes(exe: &Path, plan: &ExchangePlan) -> io::Result<u64> {
    exchange::on_processes(exe, plan, &[(MEMBER_ENV, "exchange")])
        .map(|f| f.verified)
        .map_err(|e| wrong(e.line))
}

/// The exchange plan of the table and the bench: one 64 B stream, a short
/// 4 KiB one, a few round trips.
pub fn exchange_plan(small_count: u64) -> ExchangePlan {
    ExchangePlan {
        small: 64,
        small_count,
        large: 4096,
        large_count: 100,
        rounds: 20,
    }
}

/// distributed: threads against processes on timely, and the pool.
pub fn distributed(plan: &Plan, pools: &mut Pools) -> Table {
    let mut t = Table::new(
        "distributed",
        "one job on timely: worker threads against worker processes over TCP",
    )
    .unit("per job");
    let job = PrimeJob::new(plan.prime_limit(), 1_000);
    let expected = job.count_sequential();
    let w = plan.workers;
    let case = format!("primes < {}", thousands(job.limit));
    t.headline(&case);
    let check = move |n: u64| {
        if n == expected {
            Ok(())
        } else {
            Err(wrong(format!("counted {n} primes, expected {expected}")))
        }
    };
    let job = &job;
    let exe = std::env::current_exe();
    let mut rounds = Rounds::default();
    rounds.add(&case, "sequential", Model::Other, 1, || {
        check(job.count_sequential())
    });
    rounds.add(
        &case,
        &format!("timely {w} threads, 1 process"),
        Model::Threads,
        1,
        move || check(primes::on_threads(job, w).map_err(wrong)?.primes),
    );
    match &exe {
        Ok(exe) => {
            for (n, threads) in [(w, 1), (2, 2)] {
                let label = format!("timely {n} processes x {threads} threads (TCP)");
                rounds.add(&case, &label, Model::Processes, 1, move || {
                    check(primes_on_processes(exe, n, threads, job)?)
                });
            }
        }
        Err(e) => rounds.fail(&case, "timely processes", e),
    }
    match &mut pools.pool {
        Ok(pool) => rounds.add(
            &case,
            &format!("process pool x{w}"),
            Model::Processes,
            1,
            move || check(pools::count_in_pool(pool, job, w)?),
        ),
        Err(e) => rounds.fail(&case, "process pool", e),
    }
    rounds.run(plan.reps(), &mut t);
    let xplan = exchange_plan(if plan.quick { 5_000 } else { 50_000 });
    let case = format!(
        "{} records of 64 B + 100 of 4 KiB + 20 round trips",
        thousands(xplan.small_count)
    );
    let want = xplan.small_count + xplan.large_count;
    let verified = move |n: u64| {
        if n == want {
            Ok(())
        } else {
            Err(wrong(format!("verified {n} records of {want}")))
        }
    };
    let xplan = &xplan;
    let mut rounds = Rounds::default();
    rounds.add(
        &case,
        "timely 2 threads, 1 process",
        Model::Threads,
        1,
        move || verified(exchange::on_threads(xplan).map_err(wrong)?.verified),
    );
    match &exe {
        Ok(exe) => rounds.add(
            &case,
            "timely 2 processes (TCP)",
            Model::Processes,
            1,
            move || verified(exchange_on_processes(exe, xplan)?),
        ),
        Err(e) => rounds.fail(&case, "timely 2 processes", e),
    }
    rounds.run(plan.reps(), &mut t);
    t.note(
        "process rows start and connect a fresh cluster every run, as a job sent to a cluster does",
    );
    t
}
