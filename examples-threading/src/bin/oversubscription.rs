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
//! Checked: both answers equal the sequential count (always), and, in a
//! release build, the thread-per-task run made more context switches than
//! the pool (a margin of 1.5x; other programs preempt both runs alike).
use clap::Parser;
use examples_threading::verdict::{Verdict, claim};
use examples_threading::work::{Fanout, PrimeJob, count_primes, fan_out, measure};
use std::process::ExitCode;

#[derive(Parser)]
struct Args {
    /// How many tasks.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..=2000))]
    tasks: u16,
    /// Count the primes below this number, split over the tasks.
    #[arg(long, default_value_t = 1_500_000, value_parser = clap::value_parser!(u64).range(10_000..=5_000_000))]
    limit: u64,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), lesson::Failure> {
    let a: Args = lesson::args();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let job = PrimeJob::new(a.limit, a.limit.div_ceil(a.tasks.into()));
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
        let got: u64 = counts?.iter().sum();
        let label = format!("{name} ({})", how.concurrency(slices.len()));
        let (wall, cpu) = (m.wall.as_millis(), m.cpu.as_millis());
        println!(
            "{label:<22} {wall:>5} ms {cpu:>5} ms {:>10} {:>12}",
            m.voluntary_switches, m.involuntary_switches
        );
        claim(
            got == want,
            format_args!("{label} counted {got}, sequential {want}"),
        )?;
        switches.push(m.switches());
    }
    println!("lesson: for CPU work, more threads than cores buys context switches, not speed");
    let (many, few) = (switches[0], switches[1]);
    let why =
        format!("thread per task switched {many} times, the pool {few}: expected clearly more");
    Verdict::speed(many as f64 >= 1.5 * few as f64, why).end()
}
