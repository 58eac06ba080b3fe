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
use examples_threading::work::{Fanout, SlowServer, echo_all};

#[derive(Parser)]
struct Args {
    /// How many requests (at most 256).
    #[arg(long, default_value_t = 16, value_parser = lesson::at_least_one)]
    requests: usize,
    /// Threads in the pool (at most 64).
    #[arg(long, default_value_t = 4, value_parser = lesson::at_least_one)]
    pool: usize,
    /// How long the server takes to answer, in ms (at most 1000).
    #[arg(long, default_value_t = 20, value_parser = lesson::at_least_one)]
    delay_ms: usize,
}

fn main() {
    if let Err(e) = run(lesson::args()) {
        eprintln!("io-bound-threads: {e:#}");
        std::process::exit(1);
    }
}

fn run(a: Args) -> anyhow::Result<()> {
    if a.requests > 256 || a.pool > 64 || a.delay_ms > 1000 {
        lesson::usage_error("at most --requests 256, --pool 64, --delay-ms 1000");
    }
    let delay = Duration::from_millis(a.delay_ms as u64);
    let server = SlowServer::start(delay)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (requests, delay_ms) = (a.requests, a.delay_ms);
    println!(
        "{requests} requests to a loopback server that answers after {delay_ms} ms ({cores} cores)"
    );
    let mut base = None;
    let ways = [
        ("one by one", Fanout::Sequential),
        ("thread per request", Fanout::ThreadPerTask),
        ("pool", Fanout::Pool(a.pool)),
    ];
    for (name, how) in ways {
        let m = echo_all(server.addr(), a.requests, how)?;
        let speedup = base.get_or_insert(m.wall).as_secs_f64() / m.wall.as_secs_f64();
        let ideal = how.ideal_speedup(a.requests);
        let label = format!("{name} ({})", how.concurrency(a.requests));
        let ms = m.wall.as_millis();
        println!("{label:<24} {ms:>6} ms  {speedup:>6.2}x  (ideal {ideal:.1}x)");
        // Nobody beats its rounds of waiting; load only adds to them.
        let rounds = a.requests.div_ceil(how.concurrency(a.requests)) as u32;
        anyhow::ensure!(
            m.wall >= delay.mul_f64(0.95) * rounds && speedup >= 0.4 * ideal,
            "claim failed: {label}: {:?} for {rounds} rounds, speedup {speedup:.2}x",
            m.wall
        );
    }
    println!(
        "lesson: threads that wait overlap; the speedup follows how many wait at once, not the cores"
    );
    Ok(())
}
