//! Oversubscription: one OS thread per CPU-bound task against a pool sized to the cores.
//!
//! Splits one prime count into `--tasks` tasks and runs them with a new
//! thread per task (all started at once), then on a pool of as many
//! threads as cores (`available_parallelism`), and prints wall time, CPU
//! time and context switches (`getrusage`) for each. Notice: the answers
//! agree and the time is about the same, but the thread-per-task run pays
//! for a stack and a kernel thread per task and switches context far more
//! often: the cores time-slice between hundreds of runnable threads. Size
//! CPU-bound pools to the cores (`ProcessPoolExecutor()` and rayon do);
//! only waiting work wants more threads than cores.
//!
//! Checked: both answers equal the sequential count (always), and the
//! thread-per-task run made more context switches than the pool (a margin
//! of 1.5x; other programs preempt both runs alike).
use clap::Parser;
use examples_threading::work::{Fanout, PrimeJob, count_primes, fan_out, measure};

#[derive(Parser)]
struct Args {
    /// How many tasks (at most 2000).
    #[arg(long, default_value_t = 1000, value_parser = lesson::at_least_one)]
    tasks: usize,
    /// Count the primes below this number, split over the tasks (at most 20_000_000).
    #[arg(long, default_value_t = 1_500_000)]
    limit: u64,
}

fn main() {
    let a: Args = lesson::args();
    if a.tasks > 2000 || a.limit > 20_000_000 {
        lesson::usage_error("at most --tasks 2000 and --limit 20000000");
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let job = PrimeJob::new(a.limit, a.limit.div_ceil(a.tasks as u64));
    let (slices, want) = (job.slices(), job.count_sequential());
    println!(
        "primes below {} = {want}, split into {} tasks, {cores} cores",
        a.limit,
        slices.len()
    );
    println!(
        "{:<22} {:>8} {:>8} {:>10} {:>12}",
        "", "wall", "cpu", "voluntary", "involuntary"
    );
    let mut switches = Vec::new();
    for (name, how) in [
        ("thread per task", Fanout::ThreadPerTask),
        ("pool of cores", Fanout::Pool(cores)),
    ] {
        let (counts, m) =
            measure(|| fan_out(slices.len(), how, |i| count_primes(slices[i].clone())));
        let counts = counts.unwrap_or_else(|e| fail(&format!("{name}: no thread: {e}")));
        let got: u64 = counts.iter().sum();
        let label = format!("{name} ({})", how.concurrency(slices.len()));
        let (wall, cpu) = (m.wall.as_millis(), m.cpu.as_millis());
        println!(
            "{label:<22} {wall:>5} ms {cpu:>5} ms {:>10} {:>12}",
            m.voluntary_switches, m.involuntary_switches
        );
        if got != want {
            fail(&format!("{label} counted {got}, sequential {want}"));
        }
        switches.push(m.switches());
    }
    println!("lesson: for CPU work, more threads than cores buys context switches, not speed");
    if (switches[0] as f64) < 1.5 * switches[1] as f64 {
        fail(&format!(
            "thread per task switched {} times, the pool {}: expected clearly more",
            switches[0], switches[1]
        ));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("oversubscription: claim failed: {msg}");
    std::process::exit(1)
}
