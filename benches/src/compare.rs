//! The fixed, short set of workloads behind the `compare` program: one
//! function per question, each returning a [`Table`] measured in one run.
//!
//! Sizes come from a [`Plan`]: the default takes about half a minute on 2
//! cores, [`Plan::quick`] a few seconds. Every measured run also checks its
//! answer (primes counted, increments summed, bytes delivered); a wrong
//! answer is an error, never a row.

use std::io::{self, IsTerminal};
use std::time::Duration;

use examples_threading::gil::{self, Gil, Mode};
use examples_threading::thread_pool::ThreadPool;
use examples_threading::work::{self, PrimeJob, WaitJob};
use rayon::prelude::*;

use crate::contention::{self, Counter, Layout};
use crate::ipc::{Pattern, Peer, Transport};
use crate::pools::{self, Pools};
use crate::report::{Model, Rounds, Table, thousands};
use crate::spawn::{self, Spawn};

/// Measures one question's table.
pub type Step = fn(&Plan, &mut Pools) -> Table;

/// The questions, in the order `compare` prints them.
pub const STEPS: [(&str, Step); 7] = [
    ("spawn", spawn),
    ("cpu_scaling", cpu_scaling),
    ("io_overlap", io_overlap),
    ("ipc", ipc),
    ("contention", contention),
    ("pool_overhead", pool_overhead),
    ("distributed", crate::distributed::distributed),
];

/// How big each workload is.
#[derive(Debug, Clone)]
pub struct Plan {
    /// A few seconds instead of about thirty.
    pub quick: bool,
    /// Workers for the pools and the parallel rows: the number of cores.
    pub workers: usize,
}

impl Plan {
    /// The plan for this machine.
    pub fn new(quick: bool) -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self { quick, workers }
    }

    pub(crate) fn reps(&self) -> usize {
        if self.quick { 3 } else { 5 }
    }

    fn pick<T>(&self, quick: T, full: T) -> T {
        if self.quick { quick } else { full }
    }

    /// The CPU-bound job: primes below this limit.
    pub fn prime_limit(&self) -> u64 {
        self.pick(300_000, 2_000_000)
    }

    /// The I/O-bound job.
    pub fn wait_job(&self) -> WaitJob {
        WaitJob {
            waits: self.pick(8, 16),
            wait: Duration::from_millis(self.pick(10, 20)),
        }
    }

    /// Tiny tasks per pool-overhead run.
    pub fn tiny_tasks(&self) -> u64 {
        self.pick(2_000, 20_000)
    }

    /// Chunk sizes for the pool-overhead cases.
    pub fn chunksizes(&self) -> &'static [usize] {
        if self.quick {
            &[1, 64]
        } else {
            &[1, 8, 64, 512]
        }
    }
}

fn wrong(what: impl Into<String>) -> io::Error {
    io::Error::other(what.into())
}

/// spawn: start one unit of work and wait for it.
pub fn spawn(plan: &Plan, _pools: &mut Pools) -> Table {
    let mut t = Table::new("spawn", "start one unit of work and wait for it").unit("per task");
    let mut rounds = Rounds::default();
    for how in Spawn::ALL {
        let batch: u64 = match how {
            Spawn::Thread | Spawn::Scope => 50,
            Spawn::Rayon => 500,
            Spawn::Fork => 20,
            Spawn::Command | Spawn::Reexec => 5,
        };
        let model = match how {
            Spawn::Thread | Spawn::Scope | Spawn::Rayon => Model::Threads,
            Spawn::Fork | Spawn::Command | Spawn::Reexec => Model::Processes,
        };
        rounds.add("one task", how.label(), model, batch, move || {
            for i in 0..batch {
                let x = i as u8;
                if spawn::start(how, x)? != spawn::expected(x) {
                    return Err(wrong("wrong answer"));
                }
            }
            Ok(())
        });
    }
    rounds.run(plan.reps(), &mut t);
    t
}

/// cpu_scaling: one fixed CPU-bound job at 1, 2, ... workers.
pub fn cpu_scaling(plan: &Plan, pools: &mut Pools) -> Table {
    let job = PrimeJob::new(plan.prime_limit(), 1_000);
    let expected = job.count_sequential();
    let w = plan.workers;
    let case = format!("primes < {}", thousands(job.limit));
    let mut t = Table::new("cpu_scaling", "one CPU-bound job spread over workers").unit("per job");
    let check = move |n: u64| {
        if n == expected {
            Ok(())
        } else {
            Err(wrong(format!("counted {n} primes, expected {expected}")))
        }
    };
    let job = &job;
    let gil = Gil::default();
    let gil = &gil;
    let rayon = rayon::ThreadPoolBuilder::new().num_threads(w).build();
    let mut rounds = Rounds::default();
    rounds.add(&case, "sequential", Model::Other, 1, || {
        check(job.count_sequential())
    });
    let mut counts = vec![1, w, 2 * w];
    counts.dedup();
    for n in counts {
        rounds.add(
            &case,
            &format!("scoped threads x{n}"),
            Model::Threads,
            1,
            move || check(job.count_scoped(n).expect("a thread")),
        );
    }
    match &rayon {
        Ok(pool) => rounds.add(&case, &format!("rayon x{w}"), Model::Threads, 1, || {
            pool.install(|| check(job.count_rayon()))
        }),
        Err(e) => rounds.fail(&case, &format!("rayon x{w}"), e),
    }
    match &mut pools.pool {
        Ok(pool) => rounds.add(
            &case,
            &format!("process pool x{w}"),
            Model::Processes,
            1,
            move || check(pools::count_in_pool(pool, job, w)?),
        ),
        Err(e) => rounds.fail(&case, &format!("process pool x{w}"), e),
    }
    rounds.add(
        &case,
        &format!("threads x{w} under the model GIL"),
        Model::Other,
        1,
        move || check(gil::run_cpu(Mode::ModelGil(gil), w, job).expect("a thread")),
    );
    rounds.run(plan.reps(), &mut t);
    // How much CPU the machine really gave: on a shared machine the
    // threads' speedup cannot exceed this, however many cores there are.
    let (_, m) = work::measure(|| job.count_scoped(w).expect("a thread"));
    t.note(format!(
        "scoped threads x{w} kept {:.2} of {w} cores busy (CPU time / wall time); \
         a speedup cannot exceed that",
        m.cores_busy()
    ));
    t
}

/// io_overlap: N blocking waits.
pub fn io_overlap(plan: &Plan, pools: &mut Pools) -> Table {
    let job = plan.wait_job();
    let case = format!("{} waits of {} ms", job.waits, job.wait.as_millis());
    let mut t = Table::new("io_overlap", "many blocking waits").unit("per job");
    let waits = job.waits;
    let check = move |n: usize| {
        if n == waits {
            Ok(())
        } else {
            Err(wrong(format!("did {n} waits, expected {waits}")))
        }
    };
    let job = &job;
    let gil = Gil::default();
    let gil = &gil;
    let mut rounds = Rounds::default();
    rounds.add(&case, "sequential", Model::Other, 1, move || {
        check(gil::run_io(Mode::Free, 1, job).expect("a thread"))
    });
    rounds.add(
        &case,
        &format!("threads x{waits}"),
        Model::Threads,
        1,
        move || check(gil::run_io(Mode::Free, waits, job).expect("a thread")),
    );
    match &mut pools.waits {
        Ok(pool) => {
            let label = format!("process pool x{}", pool.pids().len());
            rounds.add(&case, &label, Model::Processes, 1, move || {
                check(pools::waits_in_pool(pool, job)?)
            })
        }
        Err(e) => rounds.fail(&case, "process pool", e),
    }
    rounds.add(
        &case,
        &format!("threads x{waits} under the model GIL"),
        Model::Other,
        1,
        move || check(gil::run_io(Mode::ModelGil(gil), waits, job).expect("a thread")),
    );
    rounds.run(plan.reps(), &mut t);
    t
}

/// ipc: a 64 B round trip and a 64 KiB stream, between threads and
/// between processes.
pub fn ipc(plan: &Plan, _pools: &mut Pools) -> Table {
    let mut t = Table::new("ipc", "move messages to a peer").unit("per message");
    t.headline("64 B round trip");
    t.headline("64 KiB stream");
    let cases = [
        (
            "64 B round trip",
            Pattern::RoundTrip,
            64,
            plan.pick(500, 5_000),
        ),
        (
            "64 KiB stream",
            Pattern::Stream,
            64 << 10,
            plan.pick(200, 2_000),
        ),
    ];
    for (case, pattern, size, n) in cases {
        let mut rounds = Rounds::default();
        for tr in Transport::ALL {
            let model = match tr {
                Transport::Crossbeam | Transport::Mpsc => Model::Threads,
                Transport::Pipe
                | Transport::UnixSocket
                | Transport::Ring
                | Transport::PipeOneCore
                | Transport::RingOneCore => Model::Processes,
            };
            match Peer::start(tr, pattern, size) {
                Ok(mut peer) => rounds.add(case, tr.label(), model, n, move || {
                    let got = peer.run(n)?;
                    if got == n * size as u64 {
                        Ok(())
                    } else {
                        Err(wrong(format!("{got} bytes arrived of {}", n * size as u64)))
                    }
                }),
                Err(e) => rounds.fail(case, tr.label(), e),
            }
        }
        rounds.run(plan.reps(), &mut t);
    }
    t
}

/// contention: one counter under 1, 2 and 4 threads, and false sharing.
pub fn contention(plan: &Plan, _pools: &mut Pools) -> Table {
    let mut t = Table::new("contention", "one counter, many threads").unit("per increment");
    let per_thread: u64 = plan.pick(100_000, 500_000);
    t.headline("4 threads");
    for threads in [1usize, 2, 4] {
        let case = format!("{threads} thread{}", if threads == 1 { "" } else { "s" });
        let total = threads as u64 * per_thread;
        let check = move |n: u64| {
            if n == total {
                Ok(())
            } else {
                Err(wrong(format!("counted {n}, expected {total}")))
            }
        };
        let mut rounds = Rounds::default();
        for how in Counter::ALL {
            if how == Counter::Sharded {
                // The same as the padded row below.
                continue;
            }
            rounds.add(&case, how.label(), Model::Other, total, move || {
                check(contention::count(how, threads, per_thread))
            });
        }
        for layout in [Layout::Packed, Layout::Padded] {
            let label = match layout {
                Layout::Packed => "per-thread counters, packed",
                Layout::Padded => "per-thread counters, CachePadded",
            };
            rounds.add(&case, label, Model::Other, total, move || {
                check(contention::false_sharing(layout, threads, per_thread))
            });
        }
        rounds.run(plan.reps(), &mut t);
    }
    t
}

/// The CPU-bound job of the criterion benches: small, so that criterion's
/// test mode (`cargo test`) stays quick.
pub fn bench_prime_job() -> PrimeJob {
    PrimeJob::new(200_000, 1_000)
}

/// The I/O-bound job of the criterion benches.
pub fn bench_wait_job() -> WaitJob {
    WaitJob {
        waits: 8,
        wait: Duration::from_millis(5),
    }
}

/// The tiny task of `pool_overhead`.
pub fn tiny(x: u64) -> u64 {
    x.wrapping_mul(x)
}

/// Checks the results of `tasks` tiny tasks (in input order).
pub fn check_tiny(tasks: u64, results: Vec<u64>) -> io::Result<()> {
    if results.len() as u64 == tasks
        && results
            .iter()
            .enumerate()
            .all(|(i, &r)| r == tiny(i as u64))
    {
        Ok(())
    } else {
        Err(wrong("wrong results from the tiny tasks"))
    }
}

/// `tasks` tiny tasks on a rayon pool, at least `chunk` per piece of work.
pub fn rayon_tiny(pool: &rayon::ThreadPool, tasks: u64, chunk: usize) -> Vec<u64> {
    pool.install(|| {
        (0..tasks as usize)
            .into_par_iter()
            .with_min_len(chunk)
            .map(|x| tiny(x as u64))
            .collect()
    })
}

/// `tasks` tiny tasks through the thread pool's `map`, `chunk` per task.
pub fn threads_tiny(pool: &ThreadPool, tasks: u64, chunk: usize) -> io::Result<Vec<u64>> {
    pool.map(0..tasks, chunk, tiny)
        .map_err(|e| wrong(e.to_string()))
}

/// pool_overhead: tiny tasks through pools at several chunk sizes.
pub fn pool_overhead(plan: &Plan, pools: &mut Pools) -> Table {
    let mut t = Table::new("pool_overhead", "tiny tasks through a pool").unit("per task");
    // The verdict speaks of the smallest and the largest chunks.
    if let (Some(first), Some(last)) = (plan.chunksizes().first(), plan.chunksizes().last()) {
        t.headline(&format!("chunksize {first}"));
        t.headline(&format!("chunksize {last}"));
    }
    let tasks = plan.tiny_tasks();
    let w = plan.workers;
    let threads = ThreadPool::new(w);
    let rayon = rayon::ThreadPoolBuilder::new().num_threads(w).build();
    for &chunk in plan.chunksizes() {
        let case = format!("chunksize {chunk}");
        let mut rounds = Rounds::default();
        match &rayon {
            Ok(pool) => rounds.add(
                &case,
                &format!("rayon x{w} (with_min_len)"),
                Model::Threads,
                tasks,
                move || check_tiny(tasks, rayon_tiny(pool, tasks, chunk)),
            ),
            Err(e) => rounds.fail(&case, "rayon", e),
        }
        match &threads {
            Ok(pool) => rounds.add(
                &case,
                &format!("thread pool x{w}"),
                Model::Threads,
                tasks,
                move || check_tiny(tasks, threads_tiny(pool, tasks, chunk)?),
            ),
            Err(e) => rounds.fail(&case, "thread pool", e),
        }
        match &mut pools.pool {
            Ok(pool) => rounds.add(
                &case,
                &format!("process pool x{w}"),
                Model::Processes,
                tasks,
                move || check_tiny(tasks, pools::tiny_in_pool(pool, tasks, chunk)?),
            ),
            Err(e) => rounds.fail(&case, "process pool", e),
        }
        rounds.run(plan.reps(), &mut t);
    }
    t
}

/// Puts CPython's rows into the tables they belong to, after the Rust rows
/// (each `py: ` case has its own Python baseline), with the script's notes.
pub fn merge_python(tables: &mut [Table], run: &crate::python::PyRun) {
    for t in tables.iter_mut() {
        let name = t.name.clone();
        for r in run.rows.iter().filter(|r| r.table == name) {
            t.row_of(&r.case, &format!("py {}", r.approach), r.model, r.time);
        }
        for (table, text) in &run.notes {
            if *table == name {
                t.note(text.clone());
            }
        }
    }
}

/// Runs `python/compare.py` on `python` with this plan's size (and a time
/// limit) and merges its rows, every one labelled with the interpreter's
/// build; adds "py threading x2 calling Rust, GIL released" (measured in the
/// embedded CPython of `examples-python`, the same job as the `py: primes`
/// rows). Returns the note naming the build; on failure the one-line reason
/// to print instead (timed out, failed).
pub fn add_python(
    plan: &Plan,
    tables: &mut [Table],
    python: &crate::python::Interpreter,
) -> Result<String, String> {
    let workers = plan.workers.to_string();
    let mut args = vec!["--workers", &workers];
    if plan.quick {
        args.push("--quick");
    }
    let limit = Duration::from_secs(plan.pick(60, 180));
    let mut run = crate::python::run(python, &args, limit).map_err(|e| e.to_string())?;
    // The same job as the script's cpu_scaling rows (see compare.py).
    let (primes, pieces) = (plan.pick(50_000, 200_000), plan.pick(50, 200) as usize);
    let case = format!("py: primes < {}", thousands(primes));
    match examples_python::release::released_on_threads(plan.workers, primes, pieces, 3) {
        Ok((row, build)) => run.rows.push(crate::python::PyRow {
            table: "cpu_scaling".into(),
            case,
            approach: format!(
                "threading x{} calling Rust, GIL released [{build}]",
                plan.workers
            ),
            model: Model::Threads,
            time: row.measured.wall.as_secs_f64(),
        }),
        Err(e) => run.notes.push((
            "cpu_scaling".into(),
            format!("py threading calling Rust left out: {e}"),
        )),
    }
    merge_python(tables, &run);
    Ok(format!("py rows: {}", python.build.label()))
}

/// Every table of [`STEPS`], then (given an interpreter) CPython's rows,
/// saying each step on stderr; returns the tables and the Python note.
/// Forks the process pools first, so call it while this process has one
/// thread.
pub fn measure(
    plan: &Plan,
    python: Option<&crate::python::Interpreter>,
) -> (Vec<Table>, Option<String>) {
    let mut pools = Pools::start(plan.workers, plan.wait_job().waits);
    let total = STEPS.len() + usize::from(python.is_some());
    let mut tables = Vec::new();
    for (i, (name, run)) in STEPS.iter().enumerate() {
        progress(&format!("[{}/{total}] {name}", i + 1));
        tables.push(run(plan, &mut pools));
    }
    drop(pools); // shut down and reap the workers
    let note = python.map(|py| {
        progress(&format!("[{total}/{total}] {}", py.path.display()));
        add_python(plan, &mut tables, py).unwrap_or_else(|e| e)
    });
    progress("");
    (tables, note)
}

/// One progress line on stderr, rewritten in place on a terminal; an
/// empty `what` clears it.
pub fn progress(what: &str) {
    let tty = std::io::stderr().is_terminal();
    match (what.is_empty(), tty) {
        (true, true) => eprint!("\r{:60}\r", ""),
        (true, false) => {}
        (false, true) => eprint!("\r{:60}\rcompare: {what} ...", ""),
        (false, false) => eprintln!("compare: {what} ..."),
    }
}
