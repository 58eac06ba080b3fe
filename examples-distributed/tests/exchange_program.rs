//! Runs `dataflow-exchange` alone (pipe, ring, threads, 2 processes) and as
//! a 2-process cluster started by hand on loopback, and checks what it
//! verified and printed.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};

use lesson::testing::{assert_output_error, assert_usage_errors, run_ok};

const BIN: &str = env!("CARGO_BIN_EXE_dataflow-exchange");
const SMALL: [&str; 10] = [
    "--small-count",
    "2000",
    "--large-count",
    "40",
    "--large",
    "8192",
    "--rounds",
    "50",
    "--small",
    "64",
];

#[test]
fn alone_it_prints_every_figure_and_verifies_every_record() {
    let (out, _) = run_ok(BIN, &SMALL, 180);
    for part in [
        "2000 records of 64 B, one way:",
        "40 records of 8192 B, one way:",
        "timely, 2 processes (loopback TCP)",
        "pipe between 2 processes",
        "shared-memory ring between 2 processes",
        "round trip of one 64 B record",
        "checked: 2040 records arrived intact, each exactly once",
    ] {
        assert!(out.contains(part), "no {part:?} in:\n{out}");
    }
    let rates = out.lines().filter(|l| l.contains(" msg/s ")).count();
    assert_eq!(rates, 8, "{out}");
    assert_eq!(out.matches(" µs").count(), 4, "{out}");
    assert!(
        out.contains("shared-memory rings to a forked echo"),
        "{out}"
    );
}

#[test]
fn a_two_process_exchange_started_by_hand() {
    let listeners: Vec<TcpListener> = (0..2)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut hosts = tempfile::NamedTempFile::new().unwrap();
    for l in &listeners {
        writeln!(hosts, "{}", l.local_addr().unwrap()).unwrap();
    }
    drop(listeners);
    let members: Vec<_> = (0..2)
        .map(|i| {
            Command::new(BIN)
                .args(["--process", &i.to_string(), "--hosts"])
                .arg(hosts.path())
                .args(SMALL)
                .args(["--timeout", "120"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, m) in members.into_iter().enumerate() {
        let out = m.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{i}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let verified = if i == 1 {
            "verified 2040"
        } else {
            "verified 0"
        };
        assert!(text.contains(verified), "{text}");
    }
}

#[test]
fn bad_flags_are_exit_2_and_stdout_on_dev_full_is_74() {
    assert_usage_errors(
        BIN,
        &[
            &["--small", "8"],
            &["--rounds", "0"],
            &["--hosts", "x"],
            &["--bogus"],
        ],
    );
    assert_output_error(BIN, &SMALL, 180);
}
