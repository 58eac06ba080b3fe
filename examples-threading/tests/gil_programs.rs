//! Runs the GIL and workload programs (`gil`, `gil-convoy`,
//! `io-bound-threads`, `cpu-bound-threads`, `oversubscription`,
//! `false-sharing`) and checks their exit codes and figures. Timing claims
//! are checked by the programs themselves, with margins; the tests run them
//! one at a time (`SERIAL`) so they do not slow each other down.
#![cfg(not(loom))]

mod common;

use lesson::testing::{
    assert_contains_all, assert_quiet_under_head, assert_usage_errors, run, serial,
};

/// Runs `bin` with `args` alone (`serial`), expects exit 0 and a lesson
/// line (notes may follow it), returns stdout.
fn run_ok(bin: &str, args: &[&str]) -> String {
    let _one_at_a_time = serial();
    lesson::testing::run_ok(bin, args, 120).0
}

/// The figures ending in `x` on a line, as numbers.
fn ratios(line: &str) -> Vec<f64> {
    line.split_whitespace()
        .filter_map(|w| w.strip_suffix('x')?.parse().ok())
        .collect()
}

/// The number printed just before `unit` (`" ms"`) on `line`.
fn figure_before(line: &str, unit: &str) -> f64 {
    let head = &line[..line.find(unit).expect(unit)];
    head.split_whitespace().last().unwrap().parse().unwrap()
}

const GIL: &str = env!("CARGO_BIN_EXE_gil");
const CONVOY: &str = env!("CARGO_BIN_EXE_gil-convoy");
const IO: &str = env!("CARGO_BIN_EXE_io-bound-threads");
const CPU: &str = env!("CARGO_BIN_EXE_cpu-bound-threads");
const OVERSUB: &str = env!("CARGO_BIN_EXE_oversubscription");
const FALSE_SHARING: &str = env!("CARGO_BIN_EXE_false-sharing");

#[test]
fn gil_prints_four_speedups_per_thread_count() {
    let out = run_ok(GIL, &[]);
    assert!(out.contains("primes below 1000000 = 78498"), "{out}");
    let rows: Vec<Vec<f64>> = out
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .map(ratios)
        .collect();
    assert_eq!(rows.len(), 4, "threads 1..=4:\n{out}");
    assert!(rows.iter().all(|r| r.len() == 4), "{out}");
    assert_eq!(rows[0], vec![1.0; 4], "one thread is the baseline:\n{out}");
    // The speedups themselves are checked by the program, with margins.
    assert!(out.contains("cores busy on 4 threads"), "{out}");
    assert!(
        !out.contains("targets"),
        "no figure that was not measured:\n{out}"
    );
}

#[test]
fn gil_with_one_thread_and_small_jobs() {
    let out = run_ok(
        GIL,
        &[
            "--threads",
            "1",
            "--limit",
            "10000",
            "--waits",
            "2",
            "--repeat",
            "1",
        ],
    );
    assert!(out.contains("primes below 10000 = 1229"), "{out}");
}

#[test]
fn gil_refuses_bad_flags() {
    assert_usage_errors(
        GIL,
        &[
            &["--threads", "0"],
            &["--threads", "abc"],
            &["--threads", "65"],
            &["--limit", "99999999999"],
            &["--limit", "20000000"],
            &["--limit", "0"],
            &["--limit", "1"],
            &["--waits", "1000"],
            &["--switch-interval-ms", "0"],
        ],
    );
}

#[test]
fn gil_is_quiet_when_piped_into_head() {
    let _one_at_a_time = serial();
    // One thread: no timing claim that load could break; only the pipe.
    assert_quiet_under_head(
        &format!("'{GIL}' --threads 1 --repeat 1 --limit 100000"),
        120,
    );
}

#[test]
fn gil_convoy_is_late_under_the_model() {
    let out = run_ok(CONVOY, &[]);
    let model = out.lines().find(|l| l.starts_with("model GIL")).unwrap();
    let free = out.lines().find(|l| l.starts_with("free threads")).unwrap();
    // Figures printed; how late they are is the program's own claim.
    assert!(figure_before(model, " ms") >= 0.0, "{out}");
    assert!(figure_before(free, " ms") >= 0.0, "{out}");
    assert!(out.contains("CPython: not measured in this run"), "{out}");
    assert_usage_errors(
        CONVOY,
        &[
            &["--cpu-threads", "0"],
            &["--ticks", "abc"],
            &["--ticks", "100000"],
            &["--period-ms", "1000"],
            &["--ticks", "1000", "--period-ms", "100"],
        ],
    );
}

#[test]
fn gil_convoy_measures_cpython_with_python() {
    // Only where python3 exists (CI installs it).
    if lesson::python::Interpreter::find(None).is_err() {
        return;
    }
    let out = run_ok(CONVOY, &["--python", "--ticks", "10"]);
    let real = out.lines().find(|l| l.starts_with("CPython 3.")).unwrap();
    assert!(real.contains("(measured)"), "{out}");
    assert!(figure_before(real, " ms") >= 0.0, "{out}");
    assert!(!out.contains("not measured"), "{out}");
    let (code, _, err) = run(
        CONVOY,
        &["--python", "--python-exe", "/nonexistent/python3"],
        60,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no usable Python"), "{err}");
}

#[test]
fn io_bound_threads_overlap_their_waits() {
    let out = run_ok(IO, &[]);
    let speedup = |prefix: &str| {
        let line = out.lines().find(|l| l.starts_with(prefix)).unwrap();
        ratios(line)[0]
    };
    assert_eq!(speedup("one by one"), 1.0);
    // The program checks the speedups against N = 16 and K = 4, with margins.
    assert!(speedup("thread per request (16)") > 0.0, "{out}");
    assert!(speedup("pool (4)") > 0.0, "{out}");
    assert!(out.contains("16 requests"), "{out}");
    assert_usage_errors(
        IO,
        &[
            &["--requests", "0"],
            &["--pool", "abc"],
            &["--requests", "100000"],
        ],
    );
}

#[test]
fn cpu_bound_threads_agree_on_the_answer() {
    let out = run_ok(CPU, &[]);
    let answers: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(" ms "))
        .filter_map(|l| l.split_whitespace().find(|w| w.parse::<u64>().is_ok()))
        .collect();
    // sequential, thread::scope and rayon: pi(1_500_000) = 114_155.
    assert_eq!(answers, vec!["114155"; 3], "{out}");
    let out = run_ok(CPU, &["--threads", "3", "--limit", "100000"]);
    assert!(out.contains("thread::scope (3)"), "{out}");
    assert_usage_errors(
        CPU,
        &[
            &["--threads", "0"],
            &["--threads", "abc"],
            &["--limit", "99999999999"],
            &["--limit", "20000000"],
            &["--limit", "0"],
            &["--limit", "1"],
        ],
    );
}

#[test]
fn oversubscription_switches_more_with_a_thread_per_task() {
    let out = run_ok(OVERSUB, &[]);
    assert!(out.contains("primes below 1500000 = 114155"), "{out}");
    let switches = |prefix: &str| -> i64 {
        let line = out.lines().find(|l| l.starts_with(prefix)).unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        words[words.len() - 2..]
            .iter()
            .map(|w| w.parse::<i64>().unwrap())
            .sum()
    };
    // Printed; which switched more is the program's own claim.
    assert!(switches("thread per task (1000)") >= 0, "{out}");
    assert!(switches("pool of cores") >= 0, "{out}");
    assert_usage_errors(
        OVERSUB,
        &[
            &["--tasks", "0"],
            &["--tasks", "abc"],
            &["--tasks", "5000"],
            &["--limit", "0"],
            &["--limit", "1"],
        ],
    );
}

#[test]
fn false_sharing_prints_the_slowdown() {
    let out = run_ok(FALSE_SHARING, &[]);
    assert_contains_all(&out, &["packed", "padded"]);
    let line = out.lines().find(|l| l.starts_with("slowdown")).unwrap();
    assert!(ratios(line)[0] > 0.0, "{out}");
    assert_usage_errors(
        FALSE_SHARING,
        &[
            &["--threads", "0"],
            &["--iterations", "abc"],
            &["--threads", "17"],
        ],
    );
}

#[test]
fn every_gil_program_reports_a_full_stdout_in_one_line() {
    let _one_at_a_time = serial();
    let quick: [(&str, &[&str]); 6] = [
        (
            GIL,
            &["--threads", "1", "--repeat", "1", "--limit", "10000"],
        ),
        (CONVOY, &["--ticks", "3"]),
        (IO, &["--requests", "2"]),
        (CPU, &["--limit", "10000", "--rounds", "1"]),
        (OVERSUB, &["--tasks", "10", "--limit", "10000"]),
        (FALSE_SHARING, &["--iterations", "1000"]),
    ];
    for (bin, args) in quick {
        lesson::testing::assert_output_error(bin, args, 120);
    }
}

#[test]
fn no_thread_to_spare_is_one_line_and_exit_71() {
    let _one_at_a_time = serial();
    for bin in [GIL, CONVOY, CPU, FALSE_SHARING, OVERSUB] {
        common::assert_no_threads(bin, &[]);
    }
    // The server's refused thread is the cause, not the reset connection.
    if let Some(err) = common::assert_no_threads(IO, &[]) {
        assert!(!err.contains("reset by peer"), "{err}");
    }
}
