//! Runs `compare` (quick) and checks every table, row and ratio it prints,
//! as text, as Markdown and with the Python rows, and the charts and the
//! report file it writes.
#![cfg(not(loom))]

use std::path::Path;
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

/// Checks that `file` is one whole SVG document: it opens with `<svg` (or
/// an XML declaration), every tag it opens is closed in order, and it ends
/// with `</svg>`. Returns how many bars (`<rect`) it holds.
fn check_svg(file: &Path) -> usize {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let body = text.trim();
    assert!(
        body.starts_with("<svg") || body.starts_with("<?xml"),
        "{}: {}",
        file.display(),
        &body[..body.len().min(80)]
    );
    assert!(body.ends_with("</svg>"), "{} ends badly", file.display());
    let mut open: Vec<&str> = Vec::new();
    for tag in body.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or_default();
        if tag.starts_with('?') || tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        let name = tag.split_whitespace().next().unwrap_or_default();
        match name.strip_prefix('/') {
            Some(closed) => assert_eq!(open.pop(), Some(closed), "{}: </{closed}>", file.display()),
            None => open.push(name),
        }
    }
    assert!(open.is_empty(), "{}: unclosed {open:?}", file.display());
    assert_eq!(body.matches("<svg").count(), 1, "{}", file.display());
    body.matches("<rect").count()
}

/// Every table's chart is in `dir`, a valid SVG with bars; nothing else is.
fn check_charts(dir: &Path) {
    for table in TABLES {
        let bars = check_svg(&dir.join(format!("{table}.svg")));
        assert!(bars >= 2, "{table}.svg has no bars");
    }
    assert_eq!(entries(dir).len(), TABLES.len(), "{:?}", entries(dir));
}

#[test]
fn quick_run_prints_every_table_with_positive_ratios() {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    // A folder that does not exist yet: compare makes it.
    let charts = tmp.path().join("new/charts");
    let (out, err) = compare(&["--quick", "--svg", charts.to_str().expect("utf-8")]);
    check_charts(&charts);
    assert_eq!(check_text(&out), 0, "no Python rows without --python");
    assert!(
        err.contains("compare: [1/7] spawn"),
        "progress on stderr: {err}"
    );
    // Baselines are 1.00x; the fork and threads rows are there.
    assert!(out.contains("fork + waitpid") && out.contains("thread::spawn + join"));
    // Two cores, or unpinned where the test may run on one CPU only.
    assert!(
        out.contains("shared-memory ring (process, two cores)")
            || out.contains("shared-memory ring (process, unpinned)"),
        "{out}"
    );
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
    // The header names the code measured and its compiler.
    assert!(out.contains(". Code: commit "), "{out}");
    assert!(out.contains(", rustc "), "{out}");
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
fn update_rewrites_the_file_below_its_marker_with_the_charts() {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let file = tmp.path().join("BENCHMARKS.md");
    let marker = benches::report::MARKER;
    std::fs::write(&file, format!("# Kept\n\nProse.\n\n{marker}\n\nold run\n")).expect("write");
    let charts = tmp.path().join("charts");
    let (f, c) = (
        file.to_str().expect("utf-8"),
        charts.to_str().expect("utf-8"),
    );
    let (out, err) = compare(&["--quick", "--svg", c, "--update", f]);
    assert!(out.is_empty(), "the report went into the file: {out}");
    assert!(err.contains("compare: wrote "), "{err}");
    let doc = std::fs::read_to_string(&file).expect("read back");
    assert!(
        doc.starts_with(&format!("# Kept\n\nProse.\n\n{marker}\n\nMachine: ")),
        "{doc}"
    );
    assert!(!doc.contains("old run"), "{doc}");
    assert_eq!(doc.matches("**Verdict:** ").count(), TABLES.len(), "{doc}");
    // Each table links its chart, relative to the file.
    for table in TABLES {
        assert!(
            doc.contains(&format!("](charts/{table}.svg)")),
            "{table}: {doc}"
        );
    }
    check_charts(&charts);
    // Nothing else beside the file: no temporary file left.
    assert_eq!(entries(tmp.path()).len(), 2, "{:?}", entries(tmp.path()));
}

#[test]
fn unusable_outputs_are_one_line_before_anything_runs() {
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let plain = tmp.path().join("plain");
    std::fs::write(&plain, "no marker here\n").expect("write");
    let p = plain.to_str().expect("utf-8");
    let under_a_file = format!("{p}/charts");
    let missing = format!("{}/missing.md", tmp.path().display());
    for (args, code, says) in [
        (vec!["--quick", "--svg", &under_a_file], 74, "cannot write"),
        (
            vec!["--quick", "--update", p],
            2,
            "has no line <!-- compare --update",
        ),
        (vec!["--quick", "--update", &missing], 2, "cannot read"),
    ] {
        let (got, out, err) = run(env!("CARGO_BIN_EXE_compare"), &args, 60);
        assert_eq!(got, code, "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} measured: {out}");
    }
    assert_eq!(
        std::fs::read_to_string(&plain).expect("read"),
        "no marker here\n"
    );
    assert_eq!(entries(tmp.path()).len(), 1, "{:?}", entries(tmp.path()));
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
