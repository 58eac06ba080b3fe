//! Threads for waiting: N slow requests overlap, so the speedup follows N (or the pool size K), not the cores.
//!
//! Starts a loopback TCP server on 127.0.0.1 (a port the kernel picks) that
//! answers each request after `--delay-ms`, then sends `--requests` blocking
//! requests one by one, with a thread per request, and with a pool of
//! `--pool` threads. Notice: a thread per request finishes in about one
//! delay, the pool in about N/K delays, on 2 cores as on 64. This is where
//! threads pay off in Python too (`ThreadPoolExecutor` around
//! `urllib.request.urlopen`): a blocking socket call releases the GIL.
//!
//! Checked: every answer is right, and no way beats its rounds of waiting
//! (the pool needs ceil(N/K) delays: it tracks K). With a margin for a
//! loaded machine: both threaded ways reach >= 0.4 x their ideal speedup
//! (N, and N / ceil(N/K)), as long as the delay dominates the cost of a
//! request (the 20 ms default does; 1 ms on a debug build does not).
use std::time::Duration;

use clap::Parser;
use examples_threading::verdict::{Verdict, claim};
use examples_threading::work::{Fanout, SlowServer, echo_all};
use std::process::ExitCode;

#[derive(Parser)]
struct Args {
    /// How many requests.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    requests: u16,
    /// Threads in the pool.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=64))]
    pool: u8,
    /// How long the server takes to answer, in ms.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=100))]
    delay_ms: u64,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), lesson::Failure> {
    let a: Args = lesson::args();
    let (requests, delay_ms) = (usize::from(a.requests), a.delay_ms);
    let delay = Duration::from_millis(delay_ms);
    let server = SlowServer::start(delay)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{requests} requests to a loopback server that answers after {delay_ms} ms ({cores} cores)"
    );
    let (mut base, mut slow) = (None, None);
    let ways = [
        ("one by one", Fanout::Sequential),
        ("thread per request", Fanout::ThreadPerTask),
        ("pool", Fanout::Pool(a.pool.into())),
    ];
    for (name, how) in ways {
        let m = echo_all(&server, requests, how)?;
        let speedup = base.get_or_insert(m.wall).as_secs_f64() / m.wall.as_secs_f64();
        let ideal = how.ideal_speedup(requests);
        let label = format!("{name} ({})", how.concurrency(requests));
        let ms = m.wall.as_millis();
        println!("{label:<24} {ms:>6} ms  {speedup:>6.2}x  (ideal {ideal:.1}x)");
        // Nobody beats its rounds of waiting; load only adds to them.
        let rounds = requests.div_ceil(how.concurrency(requests)) as u32;
        let wall = m.wall;
        claim(
            wall >= delay.mul_f64(0.95) * rounds,
            format_args!("{label}: {wall:?} for {rounds} rounds of {delay_ms} ms"),
        )?;
        if speedup < 0.4 * ideal {
            slow.get_or_insert(format!(
                "{label}: speedup {speedup:.2}x of ideal {ideal:.1}x"
            ));
        }
    }
    println!(
        "lesson: threads that wait overlap; the speedup follows how many wait at once, not the cores"
    );
    let why = slow.unwrap_or_default();
    Verdict::speed(why.is_empty(), why).end()
}
