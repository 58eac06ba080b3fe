#![cfg(not(loom))]
//! Runs `spsc-ring` and `robust-mutex` with a time limit: the ring delivers
//! every message intact and in order across processes (also with both
//! processes on one core), a killed lock owner is recovered, the std Mutex's
//! lost wake-up is caught by the watchdog, bad input exits 2, and nothing is
//! left behind (no process, no /dev/shm entry).

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// The programs fork, and spsc-ring's ratios depend on CPU time: one run at
/// a time (this also keeps the process-table check unambiguous).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// /dev/shm entries, leaving out the named segments the other half of this
/// crate creates (their own tests check those); these two programs use only
/// anonymous mappings, so they must add nothing.
fn dev_shm() -> BTreeSet<String> {
    std::fs::read_dir("/dev/shm")
        .map(|dir| {
            dir.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with("lesson-shm-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Pids of live or zombie processes whose command name is `comm`.
fn processes_named(comm: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{name}/stat")) {
            if stat.contains(&format!("({comm})")) {
                found.push(name);
            }
        }
    }
    found
}

/// Runs `bin args`, expects exit `code`, checks nothing is left behind
/// (PID 1 reaps orphans lazily: allow it two seconds), returns stdout.
fn run(bin: &str, comm: &str, args: &[&str], code: i32, limit: u64) -> (String, String) {
    run_any(bin, comm, args, &[code], limit)
}

/// [`run`] accepting any of `codes`.
fn run_any(bin: &str, comm: &str, args: &[&str], codes: &[i32], limit: u64) -> (String, String) {
    let _serial = serial();
    let shm_before = dev_shm();
    let out = Command::new(bin)
        .args(args)
        .timeout(Duration::from_secs(limit))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        codes.contains(&code),
        "exit {code}: {args:?}\n{stdout}\n{stderr}"
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while !processes_named(comm).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(processes_named(comm), Vec::<String>::new(), "left behind");
    let new: Vec<_> = dev_shm().difference(&shm_before).cloned().collect();
    assert!(new.is_empty(), "new /dev/shm entries: {new:?}");
    (stdout, stderr)
}

/// The number before `unit` on the line starting with `label`.
fn figure(out: &str, label: &str, unit: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("{label}: {out}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == unit).unwrap();
    words[at - 1].trim_end_matches('x').parse().unwrap()
}

const RING: &str = env!("CARGO_BIN_EXE_spsc-ring");
const MUTEX: &str = env!("CARGO_BIN_EXE_robust-mutex");
const SMALL_RUN: [&str; 4] = ["--small-count", "5000", "--large-count", "300"];

fn check_ring_output(out: &str) {
    assert!(
        out.contains("intact and in order: 31800 messages in 12 streams"),
        "{out}"
    );
    for label in ["ring  64 B", "pipe  64 B", "ring  65536 B", "pipe  65536 B"] {
        assert!(figure(out, label, "msg/s") > 0.0, "{label}: {out}");
        assert!(figure(out, label, "MB/s") > 0.0, "{label}: {out}");
        assert!(figure(out, label, "ns") > 0.0, "{label}: {out}");
    }
    assert!(figure(out, "memcpy", "MB/s") > 0.0);
    // The program's own loose check: less CPU per small message than the
    // pipe (it exited 0, and the figure is printed).
    assert!(figure(out, "pipe/ring  small", "(checked:") > 1.0, "{out}");
    assert!(figure(out, "ring/pipe  small", "(target") > 0.0, "{out}");
    assert!(figure(out, "ring/memcpy", "(target") > 0.0, "{out}");
    assert!(out.lines().last().unwrap().starts_with("lesson: "));
}

#[test]
fn ring_delivers_every_message_in_order_across_processes() {
    let (out, err) = run(RING, "spsc-ring", &SMALL_RUN, 0, 120);
    check_ring_output(&out);
    assert!(err.is_empty(), "{err}");
}

#[test]
fn ring_works_with_both_processes_on_one_core() {
    let mut args = SMALL_RUN.to_vec();
    args.push("--same-core");
    let (out, _) = run(RING, "spsc-ring", &args, 0, 120);
    assert!(out.starts_with("pinned to cpu "), "{out}");
    check_ring_output(&out);
}

#[test]
fn ring_wraps_with_a_small_ring_and_odd_sizes() {
    // A 64 KiB ring (a pipe's buffer) and 10_000-byte messages: the payload
    // straddles the end every sixth message or so; 100-byte ones are not a
    // multiple of 8, so records carry padding.
    let args = "--small-count 3000 --large-count 3000 --small 100 --large 10000 --capacity 65536";
    let args: Vec<&str> = args.split(' ').collect();
    // Integrity is the claim here; a ring this small may lose the loose CPU
    // comparison (exit 3), never a message (exit 1).
    let (out, _) = run_any(RING, "spsc-ring", &args, &[0, 3], 120);
    assert!(out.contains("intact and in order: 36000 messages"), "{out}");
    assert!(out.contains("ring  10000 B"), "{out}");
}

#[test]
fn ring_refuses_bad_input_with_exit_2() {
    for args in [
        &["--small-count", "0"][..],
        &["--small-count", "abc"],
        &["--small-count", "99999999999"],
        &["--small", "8"],
        &["--large", "99999999"],
        &["--capacity", "4096"], // cannot hold a 64 KiB message
        &["--capacity", "999999999999"],
        &["--bogus"],
    ] {
        let (out, err) = run(RING, "spsc-ring", args, 2, 30);
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn robust_mutex_recovers_a_killed_owner_and_catches_the_lost_wakeup() {
    let (out, err) = run(MUTEX, "robust-mutex", &[], 0, 60);
    assert!(err.is_empty(), "{err}");
    assert!(
        out.contains("Signaled(") && out.contains("SIGKILL"),
        "{out}"
    );
    assert!(out.contains("EOWNERDEAD (OwnerDied guard)"), "{out}");
    assert!(
        out.contains("found          a=90 b=0 pending=10  a+b=90"),
        "{out}"
    );
    assert!(
        out.contains("repaired       a=90 b=10 pending=0  a+b=100"),
        "{out}"
    );
    assert!(out.contains("after consistent: lock works"), "{out}");
    let robust = out
        .lines()
        .find(|l| l.starts_with("robust pthread mutex"))
        .unwrap();
    assert!(robust.contains("woke"), "{out}");
    let std_line = out
        .lines()
        .find(|l| l.starts_with("std::sync::Mutex"))
        .unwrap();
    assert!(
        std_line.contains("wake-up lost") && std_line.contains("SIGKILL"),
        "{out}"
    );
    assert!(out.lines().last().unwrap().starts_with("lesson: "));
}

#[test]
fn robust_mutex_refuses_flags_and_is_quiet_into_head() {
    let (_, err) = run(MUTEX, "robust-mutex", &["--threads", "2"], 2, 30);
    assert_eq!(err.lines().count(), 1, "{err}");
    let _serial = serial();
    let out = Command::new("sh")
        .args(["-c", &format!("'{MUTEX}' | head -1")])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("owner "));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
