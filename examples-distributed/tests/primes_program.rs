//! Runs `dataflow-primes` alone (it starts its own cluster), as a cluster
//! of 2 and 3 processes started by hand on loopback, with bad hostfiles,
//! an out-of-range `--process`, a peer that never answers, and a peer
//! killed mid-run. Every address is on loopback.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lesson::testing::{
    assert_output_error, assert_pids_gone, assert_usage_errors, children_of, run, run_ok,
    wait_until,
};

const BIN: &str = env!("CARGO_BIN_EXE_dataflow-primes");
/// Primes below 100 000.
const ANSWER: &str = "9592";

/// A hostfile of `n` free loopback ports (bound, then released: the
/// kernel will not hand them out again at once).
fn hostfile(n: usize) -> tempfile::NamedTempFile {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    for l in &listeners {
        writeln!(f, "{}", l.local_addr().unwrap()).unwrap();
    }
    f
}

fn member(i: usize, hosts: &tempfile::NamedTempFile, extra: &[&str]) -> Child {
    Command::new(BIN)
        .args(["--process", &i.to_string(), "--hosts"])
        .arg(hosts.path())
        .args(extra)
        .args(
            [["--limit", "100000"], ["--connect-timeout", "20"]]
                .into_iter()
                .filter(|[flag, _]| !extra.contains(flag))
                .flatten(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a member")
}

/// Waits for a member with a time limit; kills it past the limit.
fn finish(mut child: Child, secs: u64) -> (Option<i32>, String, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// Threads of a process: a connected 3-process member runs at least 5
/// (main, watchdog, a worker, a send and a receive thread per peer), one
/// still connecting at most 2.
fn threads_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

fn wait_connected(pids: &[u32]) {
    assert!(
        wait_until(Duration::from_secs(60), || pids
            .iter()
            .all(|&p| threads_of(p) >= 5)),
        "the members never connected"
    );
    // Computing now; a moment more, so the kill lands mid-run.
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn alone_it_starts_its_own_clusters_and_every_answer_agrees() {
    for workers in ["2", "3"] {
        let (out, _) = run_ok(BIN, &["--limit", "100000", "--workers", workers], 180);
        let rows: Vec<&str> = out.lines().filter(|l| l.contains("answer")).collect();
        assert_eq!(rows.len(), 6, "{out}");
        for row in rows {
            assert!(row.contains(&format!("answer {ANSWER:>9}")), "{row}\n{out}");
            assert!(row.contains('x') && row.contains(" s "), "{row}");
        }
        assert!(
            out.contains(&format!("timely {workers} processes x 1 threads (TCP)")),
            "{out}"
        );
        assert!(
            out.contains("timely 2 processes x 2 threads (TCP)"),
            "{out}"
        );
        assert!(
            out.contains("checked: every approach counted 9592 primes"),
            "{out}"
        );
    }
}

#[test]
fn a_cluster_started_by_hand_on_2_and_3_processes() {
    for (n, threads) in [(2, "1"), (3, "1"), (2, "2")] {
        let hosts = hostfile(n);
        let members: Vec<Child> = (0..n)
            .map(|i| member(i, &hosts, &["--threads", threads]))
            .collect();
        for (i, m) in members.into_iter().enumerate() {
            let (code, out, err) = finish(m, 120);
            assert_eq!(code, Some(0), "process {i} of {n}\n{out}\n{err}");
            assert!(out.contains(&format!("process {i} of {n}")), "{out}");
            if i == 0 {
                assert!(out.contains(&format!("result: primes {ANSWER} ")), "{out}");
                assert!(out.contains("checked: 9592 primes"), "{out}");
            } else {
                assert!(!out.contains("result:"), "{out}");
            }
        }
    }
}

fn assert_one_line_exit(code: Option<i32>, err: &str, want: i32, says: &str) {
    assert_eq!(code, Some(want), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: ") && err.contains(says), "{err}");
}

#[test]
fn a_peer_that_never_answers_is_exit_2_within_seconds() {
    // Process 1 dials process 0, whose port nothing listens on.
    let hosts = hostfile(2);
    let t = Instant::now();
    let (code, _, err) = finish(member(1, &hosts, &["--connect-timeout", "1"]), 30);
    assert_one_line_exit(code, &err, 2, "got no answer from process 0 at 127.0.0.1:");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    // Process 0 waits for a process 1 that never comes.
    let (code, _, err) = finish(member(0, &hosts, &["--connect-timeout", "1"]), 30);
    assert_one_line_exit(code, &err, 2, "waited for process 1 to connect");
}

#[test]
fn bad_flags_and_bad_hostfiles_are_exit_2_with_one_line() {
    let hosts = hostfile(2);
    let path = hosts.path().to_str().unwrap();
    let mut bad = tempfile::NamedTempFile::new().unwrap();
    writeln!(bad, "127.0.0.1:1\nno-port-here").unwrap();
    let bad_path = bad.path().to_str().unwrap();
    let empty = tempfile::NamedTempFile::new().unwrap();
    let empty_path = empty.path().to_str().unwrap();
    assert_usage_errors(
        BIN,
        &[
            &["--workers", "0"],
            &["--limit", "abc"],
            &["--process", "0"],
            &["--process", "2", "--hosts", path],
            &["--process", "0", "--hosts", bad_path],
            &["--process", "0", "--hosts", empty_path],
            &["--process", "0", "--hosts", "/nonexistent/hosts.txt"],
            &["--process", "0", "--hosts", path, "--connect-timeout", "0"],
            &["--bogus"],
        ],
    );
    let (code, _, err) = run(BIN, &["--process", "0", "--hosts", bad_path], 30);
    assert_one_line_exit(
        Some(code),
        &err,
        2,
        "line 2: \"no-port-here\" is not host:port",
    );
    let (code, _, err) = run(BIN, &["--process", "2", "--hosts", path], 30);
    assert_one_line_exit(Some(code), &err, 2, "--process 2 is out of range");
}

#[test]
fn processes_started_with_different_jobs_refuse_each_other() {
    let hosts = hostfile(2);
    let a = member(0, &hosts, &["--connect-timeout", "10"]);
    let b = member(1, &hosts, &["--connect-timeout", "10", "--slice", "500"]);
    let (code_b, _, err_b) = finish(b, 30);
    let (code_a, _, err_a) = finish(a, 30);
    // Process 0 sees the mismatch and says so; process 1 sees it hang up.
    assert_one_line_exit(
        code_a,
        &err_a,
        2,
        "process 1 was started with a different job",
    );
    assert_one_line_exit(code_b, &err_b, 2, "process 0 hung up");
}

#[test]
fn a_peer_killed_mid_run_stops_the_others_with_exit_4() {
    let hosts = hostfile(3);
    let long = ["--limit", "1000000000", "--timeout", "120"];
    let mut members: Vec<Child> = (0..3).map(|i| member(i, &hosts, &long)).collect();
    wait_connected(&members.iter().map(Child::id).collect::<Vec<_>>());
    members[2].kill().unwrap();
    members[2].wait().unwrap();
    let t = Instant::now();
    let mut rest = members.into_iter().take(2);
    for i in 0..2 {
        let (code, _, err) = finish(rest.next().unwrap(), 20);
        // Process 1 may notice first and stop, so process 0 may lose 1 or 2.
        assert_one_line_exit(code, &err, 4, &format!("process {i} lost process "));
    }
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[test]
fn the_launcher_reports_a_killed_process_and_leaves_none() {
    let launcher = Command::new(BIN)
        .args([
            "--only-processes",
            "--workers",
            "3",
            "--limit",
            "1000000000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let me = launcher.id();
    assert!(
        wait_until(Duration::from_secs(30), || children_of(me).len() == 3),
        "the launcher did not start 3 processes"
    );
    let pids = children_of(me);
    wait_connected(&pids);
    // SAFETY: kill(2) on a child of our child; it is alive (checked above).
    unsafe { libc::kill(pids[1] as i32, libc::SIGKILL) };
    let (code, out, err) = finish(launcher, 30);
    assert_one_line_exit(code, &err, 4, "was killed by signal 9");
    assert!(out.contains("started 3 processes, pids"), "{out}");
    assert_pids_gone(&pids, Duration::from_secs(5), &"cluster processes");
}

#[test]
fn stdout_on_dev_full_is_exit_74() {
    assert_output_error(BIN, &["--limit", "10000"], 120);
}
