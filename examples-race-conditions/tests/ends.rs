//! How each program ends when the world says no: stdout on `/dev/full`,
//! no threads or processes left to start, a signal in the middle of a run.
#![cfg(not(loom))]

use lesson::testing::{Command, assert_output_error, entries, output, wait_until};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

/// Every program, with flags that keep it short.
const QUICK: [(&str, &[&str]); 8] = [
    (
        env!("CARGO_BIN_EXE_lost-update"),
        &["--iterations", "1000", "--rounds", "5"],
    ),
    (env!("CARGO_BIN_EXE_check-then-act"), &["--iterations", "5"]),
    (env!("CARGO_BIN_EXE_deadlock"), &["--iterations", "10"]),
    (
        env!("CARGO_BIN_EXE_dining-philosophers"),
        &["--millis", "20"],
    ),
    (env!("CARGO_BIN_EXE_livelock"), &["--iterations", "5"]),
    (
        env!("CARGO_BIN_EXE_lost-wakeup"),
        &["--timeout-ms", "20", "--iterations", "1"],
    ),
    (env!("CARGO_BIN_EXE_mutex-poisoning"), &[]),
    (env!("CARGO_BIN_EXE_toctou-file"), &["--iterations", "1"]),
];

#[test]
fn stdout_on_dev_full_is_one_line_and_exit_74() {
    for (bin, args) in QUICK {
        assert_output_error(bin, args, 60);
    }
}

/// Runs `bin args` as an unprivileged user with at most `nproc` processes
/// and threads for that user: `None` (with the reason printed) where the test
/// cannot drop to another user, because root ignores the limit.
fn under_nproc(bin: &str, args: &[&str], nproc: u32) -> Option<(i32, String, String)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: not root, so cannot run as another user (setpriv needs root)");
        return None;
    }
    if !Path::new("/usr/bin/setpriv").exists() || !Path::new("/usr/bin/prlimit").exists() {
        println!("skipped: setpriv or prlimit is not installed");
        return None;
    }
    // A uid of its own (no passwd entry needed), so that processes of
    // `nobody` elsewhere on the machine do not count against the limit.
    let uid = 60_000 + std::process::id() % 5_000;
    let mut cmd = Command::new("/usr/bin/setpriv");
    cmd.arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .args(["--clear-groups", "/usr/bin/prlimit"])
        .arg(format!("--nproc={nproc}"))
        .arg(bin)
        .args(args)
        .env("TMPDIR", "/tmp")
        .env_remove("RUST_BACKTRACE")
        .timeout(Duration::from_secs(30));
    Some(output(&mut cmd))
}

#[test]
fn out_of_threads_is_one_line_and_exit_71_never_a_hang() {
    let cases: [(&str, &[&str], u32, &str); 8] = [
        (
            env!("CARGO_BIN_EXE_lost-update"),
            &["--threads", "8"],
            5,
            "out of threads",
        ),
        (
            env!("CARGO_BIN_EXE_check-then-act"),
            &["--threads", "8"],
            5,
            "out of threads",
        ),
        (
            env!("CARGO_BIN_EXE_livelock"),
            &["--threads", "8"],
            5,
            "out of threads",
        ),
        (
            env!("CARGO_BIN_EXE_deadlock"),
            &["--threads", "8"],
            5,
            "out of threads",
        ),
        (
            env!("CARGO_BIN_EXE_dining-philosophers"),
            &["--philosophers", "8"],
            5,
            "out of threads",
        ),
        (
            env!("CARGO_BIN_EXE_mutex-poisoning"),
            &["--threads", "8"],
            5,
            "out of threads",
        ),
        (env!("CARGO_BIN_EXE_lost-wakeup"), &[], 1, "out of threads"),
        (
            env!("CARGO_BIN_EXE_toctou-file"),
            &["--processes", "8"],
            5,
            "out of processes",
        ),
    ];
    for (bin, args, nproc, says) in cases {
        let Some((code, out, err)) = under_nproc(bin, args, nproc) else {
            return;
        };
        assert_eq!(code, lesson::SYSTEM, "{bin} {args:?}: {out}{err}");
        assert_eq!(err.lines().count(), 1, "{bin} {args:?}: {err}");
        assert!(
            err.starts_with(&format!("error: {says}")),
            "{bin} {args:?}: {err}"
        );
        assert!(err.contains("os error 11"), "{bin} {args:?}: {err}");
    }
}

/// The toctou-file work directories in `tmp`.
fn work_dirs(tmp: &Path) -> Vec<String> {
    entries(tmp)
        .into_iter()
        .filter(|e| e.starts_with("toctou-file-"))
        .collect()
}

/// Starts a long toctou-file run in `tmp` (its own process group) and
/// waits until its work directory exists; returns the child.
fn start_toctou(tmp: &Path) -> std::process::Child {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_toctou-file"))
        .args(["--processes", "4", "--iterations", "100"])
        .env("TMPDIR", tmp)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start toctou-file");
    assert!(
        wait_until(Duration::from_secs(20), || !work_dirs(tmp).is_empty()),
        "no work dir appeared"
    );
    // Let it get into its rounds.
    std::thread::sleep(Duration::from_millis(200));
    child
}

#[test]
fn toctou_cleans_up_on_sigint_to_its_group_and_sigterm() {
    for (signal, to_group, code) in [(libc::SIGINT, true, 130), (libc::SIGTERM, false, 143)] {
        let tmp = tempfile::tempdir().expect("temp dir");
        let child = start_toctou(tmp.path());
        let pid = child.id() as i32;
        // Ctrl-C reaches the whole process group; `kill` only the parent.
        let target = if to_group { -pid } else { pid };
        // SAFETY: signalling our own child (or its group), still unreaped.
        assert_eq!(unsafe { libc::kill(target, signal) }, 0);
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "signal {signal}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("after cleaning up"), "{err}");
        assert!(
            work_dirs(tmp.path()).is_empty(),
            "left {:?}",
            entries(tmp.path())
        );
        assert!(
            entries(tmp.path()).is_empty(),
            "left {:?}",
            entries(tmp.path())
        );
    }
}

#[test]
fn a_dir_left_by_sigkill_is_swept_by_the_next_run() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut child = start_toctou(tmp.path());
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    // No cleanup survives SIGKILL: the directory stays, named for its pid.
    let left = work_dirs(tmp.path());
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        left[0].starts_with(&format!("toctou-file-{}-", child.id())),
        "{left:?}"
    );
    // Its children end once their stdin closes with the parent.
    let (code, out, err) = run_in(tmp.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("of killed runs swept: 1"), "{out}");
    assert!(
        entries(tmp.path()).is_empty(),
        "left {:?}",
        entries(tmp.path())
    );
}

#[test]
fn a_dir_of_a_live_owner_is_not_swept() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // This test process is alive: its directory must stay.
    let mine = tmp
        .path()
        .join(format!("toctou-file-{}-keep", std::process::id()));
    std::fs::create_dir(&mine).expect("dir");
    let (code, out, err) = run_in(tmp.path());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("of killed runs swept: 0"), "{out}");
    assert!(mine.exists());
}

fn run_in(tmp: &Path) -> (i32, String, String) {
    output(
        Command::new(env!("CARGO_BIN_EXE_toctou-file"))
            .args(["--iterations", "1"])
            .env("TMPDIR", tmp)
            .timeout(Duration::from_secs(60)),
    )
}
