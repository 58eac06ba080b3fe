//! The gotcha: `memmap2::MmapOptions::map_anon` is `MAP_PRIVATE`, so what a
//! forked child writes there never reaches the parent.
//!
//! Notice: the child writes the same value into both mappings and exits 0;
//! the parent reads 0 back from the memmap2 one (fork gave the child
//! copy-on-write pages of its own) and the value from `SharedMapping`
//! (`MAP_SHARED`: one set of pages for both). Reach for a shared mapping
//! whenever a forked worker must hand results back without a pipe. Python:
//! a global written in a `fork`ed child is lost the same way;
//! `multiprocessing.RawValue` is the shared one.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Parser;
use examples_shared_memory::{child, mapping::SharedMapping};
use lesson::Failure;
use memmap2::MmapOptions;

#[derive(Parser)]
struct Args {
    /// What the child writes (not 0: 0 is what an untouched page holds).
    #[arg(long, default_value_t = 42, value_parser = clap::value_parser!(u64).range(1..))]
    value: u64,
}

fn main() -> ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let mut private = MmapOptions::new().len(4096).map_anon()?;
    let shared = SharedMapping::new(4096)?;
    let word = &shared.atomic_u64s()[0];
    let child = child::fork(|| {
        // The child's own copy of the private map: nobody else writes it.
        private[..8].copy_from_slice(&args.value.to_ne_bytes());
        word.store(args.value, Ordering::Release);
        0
    })?;
    let pid = child.pid();
    child.join(Duration::from_secs(10))?;
    let seen_private = u64::from_ne_bytes(*private.first_chunk().expect("4096 bytes"));
    let seen_shared = word.load(Ordering::Acquire);
    println!("child pid {pid} wrote {} into both mappings", args.value);
    println!("memmap2 map_anon  (MAP_PRIVATE)   parent reads {seen_private}");
    println!("SharedMapping     (MAP_SHARED)    parent reads {seen_shared}");
    println!(
        "lesson: after fork only MAP_SHARED memory is shared; map_anon gives the child a private copy"
    );
    if seen_private != 0 || seen_shared != args.value {
        let expected = args.value;
        return Err(Failure::claim(format!(
            "expected 0 through map_anon and {expected} through SharedMapping"
        )));
    }
    Ok(())
}
