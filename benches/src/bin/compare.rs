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
//! row names its build. `--svg DIR` draws each table as a bar chart
//! (`DIR/<table>.svg`); `--update FILE` rewrites FILE below its marker line
//! with the Markdown report (how BENCHMARKS.md is made). Exit 1 when a table
//! came out empty, 2 for a bad flag, no usable Python or a FILE without the
//! marker, 74 when a chart or FILE cannot be written (said before anything
//! runs); Ctrl-C stops the Python run (and its shared memory) and exits 130
//! (SIGTERM: 143).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use benches::compare::{self, Plan};
use benches::report::{self, Run, cannot_write};
use benches::{chart, interrupt, python::Interpreter, spawn::exit_if_child};
use clap::Parser;
use lesson::Failure;

/// Threads vs processes on this machine, side by side.
#[derive(Parser)]
#[command(
    after_help = "Exit: 0 every table printed, 1 a table came out empty, 2 bad flag, no usable Python or no marker in FILE, 74 cannot write the charts or FILE, 130 Ctrl-C, 143 SIGTERM."
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
    python_exe: Option<PathBuf>,
    /// Print the tables as Markdown (what BENCHMARKS.md holds).
    #[arg(long)]
    markdown: bool,
    /// Also draw each table as a bar chart, DIR/<table>.svg (DIR is made).
    #[arg(long, value_name = "DIR")]
    svg: Option<PathBuf>,
    /// Write the Markdown report into FILE, below its marker line
    /// (`<!-- compare --update ... -->`), instead of printing the tables.
    #[arg(long, value_name = "FILE")]
    update: Option<PathBuf>,
}

fn main() -> ExitCode {
    exit_if_child(); // the "re-run current exe" row lands here
    examples_distributed::report::exit_if_member(); // and the timely cluster processes
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let args: Args = lesson::args();
    let mut report = Run::start();
    if let Err(e) = interrupt::install() {
        eprintln!("compare: cannot catch Ctrl-C: {e}");
    }
    // Every bad input is said before anything runs.
    let python = match args.python {
        true => Some(
            Interpreter::find(args.python_exe.as_deref())
                .map_err(|e| Failure::usage(lesson::python::no_python(e)))?,
        ),
        false => None,
    };
    if let Some(dir) = &args.svg {
        chart::prepare(dir).map_err(|e| cannot_write(dir, e))?;
    }
    let doc = args
        .update
        .as_deref()
        .map(report::open_for_update)
        .transpose()?;
    let plan = Plan::new(args.quick);
    let started = Instant::now();
    let (tables, python_note) = compare::measure(&plan, python.as_ref());
    report.seconds = started.elapsed().as_secs_f64();
    report.python_note = python_note;
    if let Some(dir) = &args.svg {
        chart::write_all(&tables, dir).map_err(|e| cannot_write(dir, e))?;
        report.link_charts(dir, args.update.as_deref());
    }
    match (&args.update, doc) {
        (Some(file), Some(doc)) => {
            let new = report::splice(&doc, &report.render(&tables, true)).unwrap_or(doc);
            report::write_whole(file, &new).map_err(|e| cannot_write(file, e))?;
            eprintln!("compare: wrote {}", file.display());
        }
        _ => print!("{}", report.render(&tables, args.markdown)),
    }
    match tables.iter().find(|t| t.rows().is_empty()) {
        Some(empty) => Err(Failure::claim(format!("table {} has no rows", empty.name))),
        None => Ok(()),
    }
}
