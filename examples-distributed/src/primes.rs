//! The `cpu_scaling` prime job (`examples_threading::work::PrimeJob`) as a
//! timely dataflow: worker 0 feeds the slices in, an `exchange` deals them
//! out over all workers (slice `k` to worker `k % peers`), each worker
//! counts the primes of the slices it got, and a second `exchange` brings
//! the counts to worker 0, which sums them.
//!
//! The same function runs on threads of one process ([`on_threads`]), in a
//! process of a TCP cluster ([`in_cluster`]), or on a whole cluster started
//! on this machine ([`on_processes`]); the answer must be the same
//! everywhere. [`in_process_pool`] and [`on_rayon`] run the job the other
//! ways this workspace knows, to print beside it.
//!
//! ```
//! use examples_distributed::primes;
//! use examples_threading::work::PrimeJob;
//!
//! let job = PrimeJob::new(20_000, 1_000);
//! let count = primes::on_threads(&job, 2)?;
//! assert_eq!(count.primes, job.count_sequential());
//! assert_eq!(count.slices_per_worker, vec![10, 10]);
//! # Ok::<(), String>(())
//! ```

use std::cell::RefCell;
use std::ffi::OsString;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use examples_threading::work::{PrimeJob, count_primes};
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Exchange, Input, Inspect, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};
use timely::worker::Worker;

use crate::cluster::{self, ClusterError, Member};
use crate::launch::{self, Finished, LaunchError};

/// What worker 0 saw: the answer and how the slices were spread.
#[derive(Debug, Clone, PartialEq)]
pub struct Count {
    /// Primes counted, summed over all workers.
    pub primes: u64,
    /// Slices each worker counted, by worker index.
    pub slices_per_worker: Vec<u64>,
    /// At worker 0, from feeding the first slice to having the sum.
    pub dataflow: Duration,
}

impl Count {
    /// The line a cluster's process 0 prints, which [`Count::from_line`]
    /// reads back: `result: primes 78498 seconds 0.412 slices 250,250`.
    pub fn line(&self) -> String {
        let spread: Vec<String> = self.slices_per_worker.iter().map(u64::to_string).collect();
        format!(
            "result: primes {} seconds {:.6} slices {}",
            self.primes,
            self.dataflow.as_secs_f64(),
            spread.join(",")
        )
    }

    /// Reads [`Count::line`] back from a process's output.
    ///
    /// ```
    /// use examples_distributed::primes::Count;
    /// let c = Count::from_line("x\nresult: primes 7 seconds 0.5 slices 1,2\n").unwrap();
    /// assert_eq!((c.primes, c.slices_per_worker), (7, vec![1, 2]));
    /// ```
    pub fn from_line(output: &str) -> Option<Self> {
        let line = output.lines().find_map(|l| l.strip_prefix("result: "))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |key: &str| {
            let at = words.iter().position(|w| *w == key)?;
            words.get(at + 1).copied()
        };
        Some(Self {
            primes: after("primes")?.parse().ok()?,
            dataflow: Duration::from_secs_f64(after("seconds")?.parse().ok()?),
            slices_per_worker: after("slices")?
                .split(',')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?,
        })
    }
}

/// Builds and runs the dataflow on this worker; worker 0 returns the
/// [`Count`], the others `None`.
pub fn dataflow(worker: &mut Worker, job: &PrimeJob) -> Option<Count> {
    let me = worker.index();
    let peers = worker.peers();
    let slice_len = job.slice_len;
    // (slices, primes) per worker, filled in at worker 0.
    let totals = Rc::new(RefCell::new(vec![(0u64, 0u64); peers]));
    let seen = Rc::clone(&totals);
    let mut input = InputHandle::new();
    let probe = ProbeHandle::new();
    worker.dataflow::<u64, _, _>(|scope| {
        scope
            .input_from(&mut input)
            .container::<Vec<(u64, u64)>>()
            // Slice k goes to worker k % peers: dealt like cards.
            .exchange(move |&(start, _)| start / slice_len)
            .map(move |(start, end)| (me as u64, count_primes(start..end)))
            .exchange(|_| 0)
            .inspect(move |&(worker, primes)| {
                let mut t = seen.borrow_mut();
                t[worker as usize].0 += 1;
                t[worker as usize].1 += primes;
            })
            .probe_with(&probe);
    });
    let start = Instant::now();
    if me == 0 {
        for slice in job.slices() {
            input.send((slice.start, slice.end));
        }
    }
    input.close();
    while !probe.done() {
        worker.step();
    }
    (me == 0).then(|| {
        let totals = totals.borrow();
        Count {
            primes: totals.iter().map(|t| t.1).sum(),
            slices_per_worker: totals.iter().map(|t| t.0).collect(),
            dataflow: start.elapsed(),
        }
    })
}

/// The dataflow on `threads` worker threads of this process
/// (`Config::process`; `Config::thread` for one).
pub fn on_threads(job: &PrimeJob, threads: usize) -> Result<Count, String> {
    let config = if threads <= 1 {
        timely::Config::thread()
    } else {
        timely::Config::process(threads)
    };
    let job = job.clone();
    let guards = timely::execute(config, move |worker| dataflow(worker, &job))?;
    first_count(guards.join().into_iter())
}

fn first_count<E: ToString>(
    results: impl Iterator<Item = Result<Option<Count>, E>>,
) -> Result<Count, String> {
    let mut found = None;
    for r in results {
        if let Some(c) = r.map_err(|e| e.to_string())? {
            found = Some(c);
        }
    }
    found.ok_or_else(|| "no worker returned the count".to_string())
}

/// A fingerprint of the job, so processes started with different flags
/// refuse each other.
pub fn fingerprint(job: &PrimeJob) -> u64 {
    cluster::fingerprint(&format!(
        "primes limit {} slice {}",
        job.limit, job.slice_len
    ))
}

/// This process's part of a cluster run; `Some` at process 0.
pub fn in_cluster(member: &Member, job: &PrimeJob) -> Result<Option<Count>, ClusterError> {
    let job2 = job.clone();
    let results = member.execute(fingerprint(job), move |worker| dataflow(worker, &job2))?;
    Ok(results.into_iter().flatten().next())
}

/// The flags a cluster process needs for this job (see [`on_processes`]).
pub fn member_args(
    job: &PrimeJob,
    threads: usize,
    connect_timeout: Duration,
    timeout: Duration,
) -> Vec<String> {
    vec![
        "--limit".into(),
        job.limit.to_string(),
        "--slice".into(),
        job.slice_len.to_string(),
        "--threads".into(),
        threads.to_string(),
        "--connect-timeout".into(),
        connect_timeout.as_secs_f64().to_string(),
        "--timeout".into(),
        timeout.as_secs_f64().to_string(),
        "--unchecked".into(),
    ]
}

/// A finished cluster run: process 0's count and the whole run's time.
#[derive(Debug, Clone)]
pub struct ClusterRun {
    /// What process 0 reported.
    pub count: Count,
    /// From starting the first process to reaping the last.
    pub wall: Duration,
}

/// Starts `processes` copies of `exe` (each with `threads` workers) as a
/// cluster on loopback, waits for them, and reads process 0's count. `exe`
/// must run [`in_cluster`] when given `--process I --hosts FILE` and the
/// flags of [`member_args`] (and `env`, for a program that becomes a
/// cluster process only when told so by its environment).
pub fn on_processes(
    exe: &Path,
    processes: usize,
    threads: usize,
    job: &PrimeJob,
    env: &[(&str, &str)],
    started: impl FnOnce(&[u32]),
) -> Result<ClusterRun, LaunchError> {
    let connect = Duration::from_secs(20);
    let timeout = Duration::from_secs(300);
    let extra = member_args(job, threads, connect, timeout);
    let args = |i: usize, hosts: &str| {
        let mut a: Vec<OsString> = vec![
            "--process".into(),
            i.to_string().into(),
            "--hosts".into(),
            hosts.into(),
        ];
        a.extend(extra.iter().map(OsString::from));
        a
    };
    let Finished { stdout, wall } =
        launch::run(exe, processes, args, env, timeout + connect, started)?;
    let count = stdout
        .first()
        .and_then(|out| Count::from_line(out))
        .ok_or_else(|| LaunchError {
            line: format!("process 0 printed no result: {:?}", stdout.first()),
            code: 1,
        })?;
    Ok(ClusterRun { count, wall })
}

/// The same job on rayon's global pool, for comparison.
pub fn on_rayon(job: &PrimeJob) -> u64 {
    job.count_rayon()
}

/// The same job on the workspace's process pool (`process_pool`),
/// `workers` processes, one task per slice. This is the only call into the
/// pool. It forks: call it while the process is single-threaded.
pub fn in_process_pool(job: &PrimeJob, workers: usize) -> Result<u64, String> {
    use examples_multiprocessing::pool::Pool;
    let mut pool = Pool::new(workers).map_err(|e| e.to_string())?;
    let slices = job.slices().into_iter().map(|r| (r.start, r.end));
    let count = |(start, end): (u64, u64)| count_primes(start..end);
    let results = pool.map(count, slices).map_err(|e| e.to_string())?;
    results
        .into_iter()
        .map(|r| r.map_err(|e| e.to_string()))
        .sum()
}
