//! compare: threads against processes on this machine, one table per
//! question (spawn, cpu_scaling, io_overlap, ipc, contention, pool_overhead,
//! distributed).
//!
//! Notice: each row is a time and a speedup against the first row of its
//! case, all from this run; the verdict says which model wins and by how
//! much. `--python` adds the same workloads in CPython (threading,
//! multiprocessing.Pool with fork and spawn, shared_memory) as `py` rows
//! with their own baseline, so the GIL and pickling show up measured here.
//! Reach for it before choosing threads or processes; for careful numbers
//! and plots run `cargo bench -p benches` (criterion).
//! `--python-exe PATH` (or `TVP_PYTHON`) names the interpreter; every `py`
//! row names its build. Exit 1 when a table came out empty, 2 for a bad flag
//! or no usable Python; Ctrl-C stops the Python run (and its shared memory)
//! and exits 130 (SIGTERM: 143).

use std::io::IsTerminal;
use std::time::Instant;

use benches::compare::{self, Plan, STEPS};
use benches::pools::Pools;
use benches::{interrupt, spawn::exit_if_child};
use clap::Parser;

/// Threads vs processes on this machine, side by side.
#[derive(Parser)]
#[command(
    after_help = "Exit: 0 every table printed, 1 a table came out empty, 2 bad flag or no usable Python, 130 Ctrl-C, 143 SIGTERM."
)]
struct Args {
    /// A few seconds instead of about half a minute.
    #[arg(long)]
    quick: bool,
    /// Also run the same workloads in CPython (python3).
    #[arg(long)]
    python: bool,
    /// The interpreter for --python (default: $TVP_PYTHON, else python3);
    /// every Python row names its version and GIL or free-threaded.
    #[arg(long, value_name = "PATH")]
    python_exe: Option<std::path::PathBuf>,
    /// Print the tables as Markdown (what BENCHMARKS.md holds).
    #[arg(long)]
    markdown: bool,
}

fn main() {
    exit_if_child(); // the "re-run current exe" row lands here
    examples_distributed::report::exit_if_member(); // and the timely cluster processes
    let args: Args = lesson::args();
    if let Err(e) = interrupt::install() {
        eprintln!("compare: cannot catch Ctrl-C: {e}");
    }
    // No usable interpreter is said before anything runs: one line, exit 2.
    let python = args.python.then(|| {
        benches::python::Interpreter::find(args.python_exe.as_deref()).unwrap_or_else(|e| {
            eprintln!("error: {}", lesson::python::no_python(e));
            std::process::exit(lesson::USAGE)
        })
    });
    let plan = Plan::new(args.quick);
    let started = Instant::now();
    // Fork the process pools first, while this process has one thread.
    let mut pools = Pools::start(plan.workers, plan.wait_job().waits);
    let total = STEPS.len() + usize::from(args.python);
    let mut tables = Vec::new();
    for (i, (name, run)) in STEPS.iter().enumerate() {
        progress(&format!("[{}/{total}] {name}", i + 1));
        tables.push(run(&plan, &mut pools));
    }
    drop(pools); // shut down and reap the workers
    let python_note = python.map(|py| {
        progress(&format!("[{total}/{total}] {}", py.path.display()));
        compare::add_python(&plan, &mut tables, &py).unwrap_or_else(|e| e)
    });
    progress("");
    let elapsed = started.elapsed().as_secs_f64();
    if args.markdown {
        print!("{}", compare::markdown_header(&args_line(), elapsed));
    }
    if let Some(note) = &python_note {
        println!("{}{note}\n", if args.markdown { "Note: " } else { "" });
    }
    print!("{}", compare::render(&tables, args.markdown));
    if !args.markdown {
        println!(
            "lesson: threads share memory and start in microseconds; processes pay to start and to copy every byte, and win only where a lock (a GIL) stops threads ({elapsed:.1} s)"
        );
    }
    if let Some(empty) = tables.iter().find(|t| t.rows().is_empty()) {
        eprintln!("compare: table {} has no rows", empty.name);
        std::process::exit(1);
    }
}

/// One progress line on stderr, rewritten in place on a terminal.
fn progress(what: &str) {
    let tty = std::io::stderr().is_terminal();
    match (what.is_empty(), tty) {
        (true, true) => eprint!("\r{:60}\r", ""),
        (true, false) => {}
        (false, true) => eprint!("\r{:60}\rcompare: {what} ...", ""),
        (false, false) => eprintln!("compare: {what} ..."),
    }
}

fn args_line() -> String {
    let rest: Vec<String> = std::env::args().skip(1).collect();
    format!(
        "cargo run --release -p benches --bin compare -- {}",
        rest.join(" ")
    )
}
