//! A manager process that owns a map and answers get/put over a Unix
//! socket (Python's `multiprocessing.Manager().dict()`), against the same
//! operations on a table in shared memory.
//!
//! Notice: every manager operation is a round trip through the kernel and
//! two context switches, microseconds each; a shared-memory load or store
//! takes nanoseconds. The program requires the manager to be at least 10x
//! slower (it is usually >1000x), a margin for a loaded machine. Reach for
//! a manager when the data is a structure no flat memory can hold, or the
//! operations are rare; for hot data, share memory.

use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Parser;
use examples_shared_memory::manager::{self, Client, serve};
use examples_shared_memory::{child, mapping::SharedMapping};

#[derive(Parser)]
struct Args {
    /// get/put pairs on each side (at most 1_000_000).
    #[arg(long, default_value_t = 20_000, value_parser = lesson::at_least_one)]
    ops: usize,
    /// Distinct keys (at most 2^20).
    #[arg(long, default_value_t = 1024, value_parser = lesson::at_least_one)]
    keys: usize,
}

fn main() -> Result<()> {
    let args: Args = lesson::args();
    if args.ops > 1_000_000 || args.keys > 1 << 20 {
        lesson::usage_error("--ops at most 1_000_000 and --keys at most 2^20");
    }
    let (ops, keys) = (args.ops as u64, args.keys as u64);
    let map = SharedMapping::new(args.keys * 8)?;
    let table = &map.atomic_u64s()[..args.keys];
    let (client_end, server_end) = UnixStream::pair()?;
    // SAFETY: this process never starts a thread.
    let mut server = unsafe { child::fork(|| i32::from(serve(server_end, table).is_err())) }?;
    let mut client = Client::new(client_end);

    let managed = manager::time_managed(&mut client, ops, keys)?;
    let shared = manager::time_shared(table, ops)?;

    // Both directions across the process line, through the shared table.
    table[args.keys - 1].store(0xCD, Ordering::Release);
    let parent_write_seen = client.shared_get(keys - 1)? == Some(0xCD);
    client.shared_put(0, 0xAB)?;
    let server_write_seen = table[0].load(Ordering::Acquire) == 0xAB;
    client.stop()?;
    let status = server.wait_timeout(Duration::from_secs(10))?;

    let (pid, faster) = (server.pid(), managed / shared);
    println!("manager (Unix socket, pid {pid})  {managed:>9.0} ns per get/put   {status:?}");
    println!("shared memory table             {shared:>9.1} ns per get/put   {faster:.0}x faster");
    println!(
        "server saw the parent's shared store: {parent_write_seen}, parent saw the server's: {server_write_seen}"
    );
    println!(
        "lesson: a manager process costs a round trip per operation; shared memory costs a load or a store"
    );
    if managed < 10.0 * shared || !server_write_seen || !parent_write_seen {
        bail!("expected the manager at least 10x slower and both shared stores seen");
    }
    Ok(())
}
