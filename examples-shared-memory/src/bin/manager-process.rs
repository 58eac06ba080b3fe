//! A manager process that owns a map and answers get/put over a Unix
//! socket (Python's `multiprocessing.Manager().dict()`), against the same
//! operations on a table in shared memory.
//!
//! Notice: every manager operation is a round trip through the kernel and
//! two context switches, microseconds each; a shared-memory load or store
//! takes nanoseconds. The program claims the manager is at least 10x
//! slower (it is usually >1000x), a margin for a loaded machine; a release
//! build checks it (measured up to 3 times, "not checked" on a busy
//! machine), and exits 3 if it missed. Both directions across the process
//! line are checked too (exit 1 if a store is not seen). Reach for a
//! manager when the data is a structure no flat memory can hold, or the
//! operations are rare; for hot data, share memory.

use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Parser;
use examples_shared_memory::manager::{self, Client, serve};
use examples_shared_memory::measure::{self, Verdict};
use examples_shared_memory::{child, mapping::SharedMapping};
use lesson::Failure;

/// Exit code when the manager was not at least `MIN_RATIO` times slower.
const SPEED_CLAIM_MISSED: i32 = 3;
const MIN_RATIO: f64 = 10.0;

#[derive(Parser)]
struct Args {
    /// get/put pairs on each side.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=300_000))]
    ops: u64,
    /// Distinct keys.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    keys: u64,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let (ops, keys) = (args.ops, args.keys);
    let map = SharedMapping::new(keys as usize * 8)?;
    let table = &map.atomic_u64s()[..keys as usize];
    let (client_end, server_end) = UnixStream::pair()?;
    let mut server = child::fork(|| i32::from(serve(server_end, table).is_err()))?;
    let mut client = Client::new(client_end);
    let ((managed, shared), verdict) = measure::speed_claim(
        || -> std::io::Result<(f64, f64)> {
            let shared = process_toolkit::best_of(3, || manager::time_shared(table, ops))?;
            Ok((manager::time_managed(&mut client, ops, keys)?, shared))
        },
        |&(managed, shared)| managed >= MIN_RATIO * shared,
    )?;

    // Both directions across the process line, through the shared table.
    table[keys as usize - 1].store(0xCD, Ordering::Release);
    let parent_write_seen = client.shared_get(keys - 1)? == Some(0xCD);
    client.shared_put(0, 0xAB)?;
    let server_write_seen = table[0].load(Ordering::Acquire) == 0xAB;
    client.stop()?;
    let status = server.wait_timeout(Duration::from_secs(10))?;

    let (pid, faster) = (server.pid(), managed / shared.max(1e-3));
    println!("manager (Unix socket, pid {pid})  {managed:>9.0} ns per get/put   {status:?}");
    println!("shared memory table             {shared:>9.1} ns per get/put   {faster:.0}x faster");
    println!(
        "server saw the parent's shared store: {parent_write_seen}, parent saw the server's: {server_write_seen}"
    );
    if let Some(note) = verdict.note(&format!("the speed claim (>= {MIN_RATIO}x)")) {
        println!("{note}");
    }
    println!(
        "lesson: a manager process costs a round trip per operation; shared memory costs a load or a store"
    );
    if !server_write_seen || !parent_write_seen {
        return Err(Failure::claim(
            "a store through the shared table was not seen across the process line",
        ));
    }
    if verdict == Verdict::Missed {
        return Err(Failure::with_code(
            SPEED_CLAIM_MISSED,
            format!(
                "the manager was only {faster:.1}x slower than shared memory (claimed at least {MIN_RATIO}x)"
            ),
        ));
    }
    Ok(())
}
