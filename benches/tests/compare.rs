//! Runs `compare` (quick) and checks every table, row and ratio it prints,
//! as text, as Markdown and with the Python rows.
#![cfg(not(loom))]

use std::process::Command as StdCommand;
use std::time::Duration;

use lesson::testing::{
    assert_usage_error, entries, output, processes_with_cmdline, run, serial, under_head, wait_gone,
};

// The runs measure CPU and time: one at a time (`serial`).

const TABLES: [&str; 7] = [
    "spawn",
    "cpu_scaling",
    "io_overlap",
    "ipc",
    "contention",
    "pool_overhead",
    "distributed",
];

fn compare(args: &[&str]) -> (String, String) {
    let _serial = serial();
    let (code, stdout, stderr) = run(env!("CARGO_BIN_EXE_compare"), args, 240);
    assert_eq!(code, 0, "compare {args:?} failed\n{stdout}\n{stderr}");
    (stdout, stderr)
}

fn ratio(cell: &str) -> f64 {
    let r: f64 = cell
        .strip_suffix('x')
        .unwrap_or_else(|| panic!("ratio {cell:?} does not end in x"))
        .parse()
        .unwrap_or_else(|e| panic!("ratio {cell:?}: {e}"));
    assert!(
        r.is_finite() && r > 0.0,
        "ratio {cell:?} is not finite and positive"
    );
    r
}

/// The rows of one text table: the lines between its column header and its
/// notes or verdict.
fn text_rows<'a>(out: &'a str, table: &str) -> Vec<&'a str> {
    let start = out
        .find(&format!("== {table}: "))
        .unwrap_or_else(|| panic!("table {table} missing:\n{out}"));
    out[start..]
        .lines()
        .skip(2)
        .take_while(|l| {
            !l.trim_start().starts_with("note:") && !l.trim_start().starts_with("verdict:")
        })
        .collect()
}

fn check_text(out: &str) -> usize {
    let mut py_rows = 0;
    for table in TABLES {
        let rows = text_rows(out, table);
        assert!(!rows.is_empty(), "table {table} has no rows:\n{out}");
        for row in rows {
            let last = row.split_whitespace().last().unwrap_or_default();
            ratio(last);
            // A time with a unit sits before the ratio.
            assert!(
                ["ns", "µs", "ms", " s"].iter().any(|u| row.contains(u)),
                "no unit in {row:?}"
            );
            py_rows += usize::from(row.contains(" py "));
        }
    }
    assert_eq!(out.matches("  verdict: ").count(), TABLES.len(), "{out}");
    assert!(out.contains("\nlesson: "), "{out}");
    py_rows
}

#[test]
fn quick_run_prints_every_table_with_positive_ratios() {
    let (out, err) = compare(&["--quick"]);
    assert_eq!(check_text(&out), 0, "no Python rows without --python");
    assert!(
        err.contains("compare: [1/7] spawn"),
        "progress on stderr: {err}"
    );
    // Baselines are 1.00x; the fork and threads rows are there.
    assert!(out.contains("fork + waitpid") && out.contains("thread::spawn + join"));
    assert!(out.contains("shared-memory ring (process)"), "{out}");
    // The one-core pair beside the two-core rows (figures, not ratios).
    assert!(out.contains("pipe (process, one core)"), "{out}");
    assert!(
        out.contains("shared-memory ring (process, one core)"),
        "{out}"
    );
    assert_eq!(out.matches("  process pool x").count(), 5, "{out}");
}

#[test]
fn markdown_run_prints_every_table_as_markdown() {
    let (out, _) = compare(&["--quick", "--markdown"]);
    assert!(out.starts_with("Machine: "), "{out}");
    assert!(
        out.contains(
            "Command: `cargo run --release -p benches --bin compare -- --quick --markdown`"
        )
    );
    for table in TABLES {
        let start = out
            .find(&format!("### {table}: "))
            .unwrap_or_else(|| panic!("markdown table {table} missing:\n{out}"));
        let rows: Vec<&str> = out[start..]
            .lines()
            .skip(4)
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert!(!rows.is_empty(), "{table}: no rows\n{out}");
        for row in rows {
            let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 4, "{row}");
            ratio(cells[3]);
        }
    }
    assert_eq!(out.matches("**Verdict:** ").count(), TABLES.len());
}

#[test]
fn python_rows_sit_beside_the_rust_rows() {
    let has_python = StdCommand::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_python {
        let (code, _, err) = run(env!("CARGO_BIN_EXE_compare"), &["--quick", "--python"], 60);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("no usable Python"), "{err}");
        return;
    }
    let (out, _) = compare(&["--quick", "--python"]);
    assert!(check_text(&out) >= 10, "too few Python rows:\n{out}");
    for row in [
        "py threading.Thread start+join",
        "py Pool(fork) x",
        "py Pool(spawn) x",
        "py threading x1 (GIL)",
        "py shared_memory",
        "calling Rust, GIL released [3.",
        "py rows: CPython 3.",
    ] {
        assert!(out.contains(row), "{row} missing:\n{out}");
    }
    // Every py row names the build it ran on.
    for line in out.lines().filter(|l| l.contains(" py ")) {
        assert!(
            line.contains(" GIL") || line.contains("free-threaded"),
            "{line}"
        );
    }
}

#[test]
fn no_usable_python_is_one_line_and_exit_2() {
    for (args, env) in [
        (
            &["--quick", "--python", "--python-exe", "/nonexistent"][..],
            None,
        ),
        (&["--quick", "--python"][..], Some("/nonexistent/python3")),
    ] {
        let mut cmd = StdCommand::new(env!("CARGO_BIN_EXE_compare"));
        cmd.args(args);
        if let Some(path) = env {
            cmd.env("TVP_PYTHON", path);
        }
        let out = cmd.output().expect("compare runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("no usable Python"), "{err}");
    }
}

#[test]
fn bad_flags_exit_2_with_one_line() {
    assert_usage_error(env!("CARGO_BIN_EXE_compare"), &["--bogus"]);
}

#[test]
fn quiet_when_piped_into_head() {
    let _serial = serial();
    // Not assert_quiet_under_head: compare reports progress on stderr.
    let (_, stdout, stderr) = output(
        under_head(&format!("'{}' --quick", env!("CARGO_BIN_EXE_compare")))
            .timeout(Duration::from_secs(240)),
    );
    assert!(stdout.starts_with("== spawn"), "{stdout}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
}

/// The Python half of `compare` still running.
fn python_scripts() -> Vec<u32> {
    processes_with_cmdline("python/compare.py")
}

#[test]
fn ctrl_c_during_the_python_run_exits_130_and_leaves_nothing() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::Instant;

    let has_python = StdCommand::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_python {
        return;
    }
    let _serial = serial();
    let shm_before = entries("/dev/shm");
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_compare"))
        .args(["--quick", "--python"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start compare");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(180);
    // Wait until the Python run has started, then give it a moment (it
    // runs for over a second even with --quick).
    for line in lines.by_ref() {
        let line = line.expect("read stderr");
        if line.contains("python3") {
            break;
        }
        assert!(Instant::now() < deadline, "compare never reached python3");
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: sends SIGINT to our own child, which has not been reaped.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("wait for compare");
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("interrupted")), "{rest:?}");
    // PID 1 may reap late; give the group a moment to disappear.
    let left = wait_gone(Duration::from_secs(5), python_scripts);
    assert!(
        left.is_empty(),
        "python processes {left:?} outlived compare"
    );
    let leaked: Vec<String> = entries("/dev/shm")
        .into_iter()
        // CPython's shared memory (psm_*) and named semaphores (sem.mp-*).
        .filter(|e| (e.starts_with("psm_") || e.starts_with("sem.mp-")) && !shm_before.contains(e))
        .collect();
    assert!(leaked.is_empty(), "shared memory left behind: {leaked:?}");
}

#[test]
fn sigterm_exits_143() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let _serial = serial();
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_compare"))
        .arg("--quick")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start compare");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    // The first progress line: it is measuring.
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    // SAFETY: sends SIGTERM to our own child, which has not been reaped.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("wait for compare");
    assert_eq!(status.code(), Some(143), "{first} {rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("interrupted")),
        "{first} {rest:?}"
    );
}
