//! What the two programs share: the flags of a cluster process, the job's
//! flags, and the rows they print (time, speedup, answer, checked).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lesson::Failure;

use crate::cluster::{ClusterError, Hosts, Member};
use crate::exchange::{Baselines, Figures, Plan};
use crate::launch::LaunchError;
use crate::primes::Count;
use examples_threading::work::PrimeJob;

/// The program's ending for a cluster error: one line and
/// [`ClusterError::code`] (`?` on the error itself would always say 71).
pub fn cluster_failure(e: &ClusterError) -> Failure {
    Failure::with_code(e.code(), lesson::one_line(e))
}

/// The program's ending for a cluster run that failed.
pub fn launch_failure(e: &LaunchError) -> Failure {
    Failure::with_code(e.code, &e.line)
}

/// Parses a number of seconds (`0.5`, `10`), more than 0 and at most a day.
pub fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 86_400.0 => Ok(x),
        Ok(_) => Err("must be more than 0 and at most 86400 seconds".into()),
        Err(e) => Err(format!("{e} (expected seconds, such as 10 or 0.5)")),
    }
}

/// The prime job's flags.
#[derive(clap::Args, Debug, Clone)]
pub struct JobArgs {
    /// Count the primes below this number.
    #[arg(long, default_value_t = 2_000_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub limit: u64,
    /// Numbers per slice (the unit of work dealt to a worker).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub slice: u64,
}

/// The flags of one process of a cluster started by hand.
#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Join a cluster as this process (a line of --hosts, from 0).
    #[arg(long, requires = "hosts")]
    pub process: Option<usize>,
    /// Hostfile: one host:port per line, in process order (every process
    /// gets the same file).
    #[arg(long, requires = "process")]
    pub hosts: Option<PathBuf>,
    /// Worker threads in each process of the cluster.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub threads: u16,
    /// Seconds to wait for the other processes to connect.
    #[arg(long, default_value_t = 10.0, value_parser = seconds)]
    pub connect_timeout: f64,
    /// Seconds after which a cluster process gives up (exit 5).
    #[arg(long, default_value_t = 300.0, value_parser = seconds)]
    pub timeout: f64,
    /// Process 0 does not recount the answer itself (the launcher does).
    #[arg(long, hide = true)]
    pub unchecked: bool,
}

impl ClusterArgs {
    /// This process's place, when `--process` and `--hosts` were given.
    pub fn member(&self) -> Result<Option<Member>, Failure> {
        let (Some(index), Some(path)) = (self.process, &self.hosts) else {
            return Ok(None);
        };
        let hosts = Hosts::read(path).map_err(|e| cluster_failure(&e))?;
        let connect = Duration::from_secs_f64(self.connect_timeout);
        Member::new(index, hosts, usize::from(self.threads), connect)
            .map(Some)
            .map_err(|e| cluster_failure(&e))
    }

    /// `--timeout`.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }
}

/// The flags of `dataflow-exchange`'s plan.
#[derive(clap::Args, Debug, Clone)]
pub struct PlanArgs {
    /// Bytes of a small record.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(16..=4096))]
    pub small: u64,
    /// Small records per stream.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(2..=10_000_000))]
    pub small_count: u64,
    /// Bytes of a large record.
    #[arg(long, default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(16..=4_194_304))]
    pub large: u64,
    /// Large records per stream.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(2..=1_000_000))]
    pub large_count: u64,
    /// Round trips of one small record.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub rounds: u64,
}

impl PlanArgs {
    /// The plan these flags describe.
    pub fn plan(&self) -> Plan {
        Plan {
            small: self.small as usize,
            small_count: self.small_count,
            large: self.large as usize,
            large_count: self.large_count,
            rounds: self.rounds,
        }
    }
}

/// Set (to `primes` or `exchange`) in the environment of a cluster process
/// started from a program that is not `dataflow-*` itself (`compare`, a
/// bench): its `main` calls [`exit_if_member`] first.
pub const MEMBER_ENV: &str = "EXAMPLES_DISTRIBUTED_MEMBER";

#[derive(clap::Parser)]
struct PrimesMember {
    #[command(flatten)]
    job: JobArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(clap::Parser)]
struct ExchangeMember {
    #[command(flatten)]
    plan: PlanArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// When [`MEMBER_ENV`] is set, runs this process as one process of a
/// `primes` or `exchange` cluster (its flags are those of
/// [`crate::primes::member_args`] or [`crate::exchange::member_args`]),
/// prints the result line and exits; otherwise returns at once.
pub fn exit_if_member() {
    let Ok(role) = std::env::var(MEMBER_ENV) else {
        return;
    };
    let outcome = (|| -> Result<(), Failure> {
        use clap::Parser;
        let bad = |e: clap::Error| {
            Failure::usage(
                e.to_string()
                    .lines()
                    .next()
                    .unwrap_or("bad flags")
                    .to_string(),
            )
        };
        let line = match role.as_str() {
            "primes" => {
                let a = PrimesMember::try_parse().map_err(bad)?;
                let m = member_of(&a.cluster)?;
                let job = PrimeJob::new(a.job.limit, a.job.slice);
                let c = crate::primes::in_cluster(&m, &job).map_err(|e| cluster_failure(&e))?;
                c.map(|c| c.line())
            }
            "exchange" => {
                let a = ExchangeMember::try_parse().map_err(bad)?;
                let m = member_of(&a.cluster)?;
                let f = crate::exchange::in_cluster(&m, &a.plan.plan())
                    .map_err(|e| cluster_failure(&e))?;
                Some(f.map_err(Failure::claim)?.line())
            }
            other => {
                return Err(Failure::usage(format!(
                    "{MEMBER_ENV}={other}: not primes or exchange"
                )));
            }
        };
        if let Some(line) = line {
            println!("{line}");
        }
        Ok(())
    })();
    let code = match outcome {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("error: {}", f.line());
            f.code()
        }
    };
    std::process::exit(code)
}

fn member_of(args: &ClusterArgs) -> Result<Member, Failure> {
    let m = args
        .member()?
        .ok_or_else(|| Failure::usage("a cluster process needs --process and --hosts"))?;
    crate::cluster::guard(m.index, args.timeout())?;
    Ok(m)
}

struct Row {
    label: String,
    outcome: Result<(u64, Duration, String), Failure>,
}

/// The rows of `dataflow-primes`: each approach's time and answer; the
/// speedup is against the row labelled `sequential`.
pub struct Rows {
    expected_label: &'static str,
    job: PrimeJob,
    rows: Vec<Row>,
}

impl Rows {
    /// No rows yet.
    pub fn new(job: &PrimeJob) -> Self {
        Self {
            expected_label: "sequential",
            job: job.clone(),
            rows: Vec::new(),
        }
    }

    /// Times `count`, which returns the number of primes.
    pub fn time(&mut self, label: &str, count: impl FnOnce() -> Result<u64, String>) {
        let t = Instant::now();
        let outcome = count()
            .map(|n| (n, t.elapsed(), String::new()))
            .map_err(Failure::claim);
        self.rows.push(Row {
            label: label.to_string(),
            outcome,
        });
    }

    /// A timely row: `run` returns worker 0's count and the run's time.
    pub fn timely(
        &mut self,
        label: &str,
        run: impl FnOnce() -> Result<(Count, Duration), Failure>,
    ) {
        let outcome = run().map(|(c, wall)| {
            let spread: Vec<String> = c.slices_per_worker.iter().map(u64::to_string).collect();
            let note = format!(
                "dataflow {:>7.3} s, slices per worker {}",
                c.dataflow.as_secs_f64(),
                spread.join(" ")
            );
            (c.primes, wall, note)
        });
        self.rows.push(Row {
            label: label.to_string(),
            outcome,
        });
    }

    /// Prints the rows and checks that every approach found the same
    /// answer as the sequential one; the first failed row is the error.
    pub fn finish(self) -> Result<(), Failure> {
        let base = self
            .rows
            .iter()
            .find(|r| r.label == self.expected_label)
            .and_then(|r| r.outcome.as_ref().ok())
            .map(|o| (o.0, o.1));
        let width = self.rows.iter().map(|r| r.label.len()).max().unwrap_or(0);
        println!(
            "primes below {} in slices of {} ({} slices)",
            self.job.limit,
            self.job.slice_len,
            self.job.slices().len()
        );
        let mut first_error = None;
        for r in &self.rows {
            match &r.outcome {
                Ok((n, t, note)) => {
                    let speedup = base.map_or(String::new(), |(_, b)| {
                        format!("{:>6.2}x", b.as_secs_f64() / t.as_secs_f64().max(1e-9))
                    });
                    println!(
                        "{:<width$}  {:>8.3} s  {speedup}  answer {n:>9}  {note}",
                        r.label,
                        t.as_secs_f64()
                    );
                }
                Err(f) => {
                    println!("{:<width$}  failed: {}", r.label, f.line());
                    first_error.get_or_insert_with(|| f.clone());
                }
            }
        }
        if let Some(f) = first_error {
            return Err(f);
        }
        let expected = base
            .map(|b| b.0)
            .unwrap_or_else(|| self.job.count_sequential());
        if let Some(r) = self
            .rows
            .iter()
            .find(|r| r.outcome.as_ref().is_ok_and(|o| o.0 != expected))
        {
            return Err(Failure::claim(format!(
                "{} found another answer than {expected}",
                r.label
            )));
        }
        println!(
            "checked: every approach counted {expected} primes (speedups are against sequential, whole runs, process start and connect included)"
        );
        if cfg!(debug_assertions) {
            println!("note: debug build; for real figures: cargo run --release");
        }
        Ok(())
    }
}

/// Prints `dataflow-exchange`'s figures: rates per size, then round trips.
pub fn print_exchange(plan: &Plan, threads: &Figures, procs: &Figures, base: &Baselines) {
    let line = |label: &str, msgs: f64, bytes: f64| {
        println!("  {label:<38} {msgs:>12.0} msg/s {:>9.0} MB/s", bytes / 1e6);
    };
    for (len, count, t, p, [pipe, ring]) in [
        (
            plan.small,
            plan.small_count,
            threads.small,
            procs.small,
            base.small,
        ),
        (
            plan.large,
            plan.large_count,
            threads.large,
            procs.large,
            base.large,
        ),
    ] {
        println!("{count} records of {len} B, one way:");
        for (label, d) in [
            ("timely, 2 threads of 1 process", t),
            ("timely, 2 processes (loopback TCP)", p),
        ] {
            let secs = d.as_secs_f64().max(1e-9);
            line(
                label,
                count as f64 / secs,
                (count * len as u64) as f64 / secs,
            );
        }
        line(
            "pipe between 2 processes",
            pipe.messages_per_sec(),
            pipe.bytes_per_sec(),
        );
        line(
            "shared-memory ring between 2 processes",
            ring.messages_per_sec(),
            ring.bytes_per_sec(),
        );
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "round trip of one {} B record (timely, until the probe passes):",
        plan.small
    );
    println!(
        "  {:<38} {:>9.1} µs",
        "2 threads of 1 process",
        us(threads.round_trip)
    );
    println!(
        "  {:<38} {:>9.1} µs",
        "2 processes (loopback TCP)",
        us(procs.round_trip)
    );
    println!("round trip of one {} B message without timely:", plan.small);
    let [pipe, ring] = base.round_trip;
    println!(
        "  {:<38} {:>9.1} µs",
        "pipe pair to a forked echo process",
        us(pipe)
    );
    println!(
        "  {:<38} {:>9.1} µs",
        "shared-memory rings to a forked echo",
        us(ring)
    );
}

/// `dataflow-primes --process I --hosts FILE`: this process's part of the
/// job; process 0 prints the count (and, with `check`, recounts it).
pub fn join_primes_cluster(member: &Member, job: &PrimeJob, check: bool) -> Result<(), Failure> {
    let t = Instant::now();
    let count: Option<Count> =
        crate::primes::in_cluster(member, job).map_err(|e| cluster_failure(&e))?;
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
            return Err(Failure::claim(format!(
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
