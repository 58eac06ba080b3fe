#![cfg(not(loom))]
//! Runs the fork, start-method and process-gotcha programs with a time
//! limit; checks their figures, exit codes, bad input, and that every
//! process they report (every `pid N` they print) is gone afterwards.
//! Nothing here forks: the programs do.

use std::time::Duration;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use lesson::testing::{
    assert_contains_all, assert_lesson_last, assert_output_error, assert_pids_gone,
    assert_quiet_under_head, assert_usage_errors, children_of, line_starting, number_after,
    printed_pids, run, run_ok, serial, stat, wait_gone, wait_until,
};

// Programs whose claims depend on timing or CPU run one at a time (`serial`).

/// Runs `bin args`, asserts exit 0 with the lesson as the last line, and
/// that every pid it printed has left the process table within 5 s (PID 1
/// reaps lazily here, so give it a moment); returns stdout.
fn run_clean(bin: &str, args: &[&str], secs: u64) -> String {
    let (out, _) = run_ok(bin, args, secs);
    assert_lesson_last(&out);
    let pids = printed_pids(&out);
    assert!(!pids.is_empty(), "the program printed no pids:\n{out}");
    assert_pids_gone(&pids, Duration::from_secs(5), &out);
    out
}

#[test]
fn pids_are_found_in_both_spellings() {
    assert_eq!(
        printed_pids("child pid 12  x Exited(Pid(34), 0) pid  56"),
        vec![12, 34, 56]
    );
}

#[test]
fn fork_basics_tells_exit_codes_from_signals_and_shows_copy_on_write() {
    let bin = env!("CARGO_BIN_EXE_fork-basics");
    let out = run_clean(bin, &["--code", "3"], 60);
    assert_contains_all(
        &out,
        &[
            "), 3)  exit code 3",
            "SIGKILL, false)  killed by SIGKILL",
            "parent sees heap Vec 1 (copy-on-write), MAP_SHARED page 99",
        ],
    );
    assert_usage_errors(bin, &[&["--code", "256"], &["--code", "abc"]]);
}

#[test]
fn fork_basics_is_quiet_when_piped_into_head() {
    let bin = env!("CARGO_BIN_EXE_fork-basics");
    assert_quiet_under_head(&format!("'{bin}'"), 60);
}

#[test]
fn pipe_deadlock_is_quiet_when_piped_into_head() {
    let _serial = serial();
    let bin = env!("CARGO_BIN_EXE_pipe-deadlock");
    assert_quiet_under_head(&format!("'{bin}' --timeout-ms 200"), 60);
}

#[test]
fn start_methods_times_every_method_and_only_fork_inherits_memory() {
    let bin = env!("CARGO_BIN_EXE_start-methods");
    let (code, out, err) = {
        let _serial = serial();
        run(bin, &[], 120)
    };
    // The speed claim is the program's own (measured again up to 3 rounds);
    // a test only sees that it was checked and its figures printed.
    assert!(
        code == 0 || (code == 1 && err.contains("fork did not grow clearly faster")),
        "exit {code}\n{out}{err}"
    );
    if code == 0 {
        assert_lesson_last(&out);
    }
    assert_pids_gone(&printed_pids(&out), Duration::from_secs(5), &out);
    for method in ["fork ", "fork+exec ", "spawn ", "forkserver "] {
        assert!(out.contains(&format!("{method:<12}inherits")), "{out}");
    }
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(" MiB ") && l.ends_with(" ms"))
        .collect();
    assert!(rows.len() >= 3, "16, 64 and 256 MiB rows:\n{out}");
    for row in rows {
        assert_eq!(row.matches(" ms").count(), 4, "{row}");
    }
    let growth = line_starting(&out, "from 16 to 256 MiB: fork ");
    let fork: f64 = growth
        .split("fork ")
        .nth(1)
        .and_then(|r| r.split('x').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no fork growth in {growth:?}"));
    assert!(fork > 0.0, "{growth}");
    let rss = line_starting(&out, "a child's own resident memory at start: fork ");
    let fork_mib: u64 = number_after(rss, "fork");
    assert!(
        fork_mib >= 192,
        "the forked child shares the 256 MiB parent's pages: {rss}"
    );
    assert_usage_errors(
        bin,
        &[
            &["--max-mib", "2048"],
            &["--max-mib", "16"],
            &["--reps", "0"],
            &["--reps", "31"],
            &["--reps", "abc"],
        ],
    );
}

#[test]
fn fork_with_threads_hangs_on_the_copied_lock_and_both_fixes_work() {
    let bin = env!("CARGO_BIN_EXE_fork-with-threads");
    let out = {
        let _serial = serial();
        run_clean(bin, &[], 60)
    };
    let line = |label| line_starting(&out, label);
    assert!(
        line("fork before threads").contains("), 0)  as predicted"),
        "{out}"
    );
    assert!(
        line("fork while locked").contains("SIGALRM, false)  as predicted"),
        "{out}"
    );
    assert!(line("fork + exec").contains("), 0)  as predicted"), "{out}");
    assert_usage_errors(
        bin,
        &[
            &["--watchdog-secs", "0"],
            &["--watchdog-secs", "21"],
            &["--watchdog-secs", "x"],
        ],
    );
}

#[test]
fn rayon_after_fork_hangs_and_forking_first_works() {
    let bin = env!("CARGO_BIN_EXE_rayon-after-fork");
    let out = {
        let _serial = serial();
        run_clean(bin, &["--n", "1000"], 60)
    };
    assert!(out.contains("forked before the pool"), "{out}");
    let after = line_starting(&out, "forked after the pool");
    assert!(after.contains("SIGALRM, false)  as predicted"), "{after}");
    assert!(out.contains("parent started rayon: "), "{out}");
    assert_usage_errors(
        bin,
        &[
            &["--n", "0"],
            &["--n", "1000000000000"],
            &["--watchdog-secs", "21"],
        ],
    );
}

#[test]
fn zombies_show_as_z_until_reaped_and_orphans_live_on_without_pdeathsig() {
    let bin = env!("CARGO_BIN_EXE_zombies-and-orphans");
    let out = {
        let _serial = serial();
        run_clean(bin, &["--children", "2", "--workers", "3"], 60)
    };
    assert_eq!(
        out.matches("not waited for: state Z, parent ").count(),
        2,
        "{out}"
    );
    assert!(out.contains("after waitpid: 0 of 2 left in /proc"), "{out}");
    assert_eq!(out.matches("orphaned worker pid").count(), 3, "{out}");
    assert_eq!(
        out.matches("SIGKILL, false) (still running at the deadline: killed)  as predicted")
            .count(),
        3 + 2,
        "{out}"
    );
    assert_eq!(
        out.matches("SIGTERM, false)  as predicted").count(),
        3,
        "{out}"
    );
    assert!(out.contains("children left: none"), "{out}");
    assert!(!out.contains("UNEXPECTED"), "{out}");
    assert_usage_errors(
        bin,
        &[
            &["--workers", "0"],
            &["--children", "abc"],
            &["--children", "65"],
            &["--orphan-ms", "3001"],
        ],
    );
}

#[test]
fn pipe_deadlock_stalls_past_the_capacity_and_draining_fixes_it() {
    let bin = env!("CARGO_BIN_EXE_pipe-deadlock");
    let out = {
        let _serial = serial();
        run_clean(bin, &[], 60)
    };
    assert_contains_all(
        &out,
        &[
            "pipe capacity:      65536 bytes; the child writes 262144",
            "STALLED: still running after 1000 ms",
            "65536 bytes queued) -> killed by SIGKILL",
            "exit code 0, read 262144 of 262144 bytes",
        ],
    );

    let small = run_clean(bin, &["--bytes", "1000", "--timeout-ms", "2000"], 60);
    assert_contains_all(
        &small,
        &["exited within 2000 ms", "read 1000 of 1000 bytes"],
    );

    assert_usage_errors(
        bin,
        &[
            &["--bytes", "0"],
            &["--bytes", "999999999999"],
            &["--timeout-ms", "5"],
            &["--timeout-ms", "20001"],
        ],
    );
}

#[test]
fn killing_pipe_deadlock_during_the_stall_frees_its_child() {
    let _serial = serial();
    sigkill_leaves_no_live_child(env!("CARGO_BIN_EXE_pipe-deadlock"), &[], None);
}

#[test]
fn killing_fork_with_threads_during_the_hang_frees_its_children() {
    let _serial = serial();
    sigkill_leaves_no_live_child(env!("CARGO_BIN_EXE_fork-with-threads"), &[], None);
}

#[test]
fn killing_start_methods_takes_its_forkserver_down() {
    let _serial = serial();
    sigkill_leaves_no_live_child(env!("CARGO_BIN_EXE_start-methods"), &[], None);
}

/// Starts `bin args`, reads its output until a line contains `cue` (if
/// any), waits until it has a live child, SIGKILLs it (no cleanup code of
/// its runs) and checks that every child it had then stops running within
/// 3 s: gone, or only a zombie waiting for PID 1 (which reaps lazily here).
fn sigkill_leaves_no_live_child(bin: &str, args: &[&str], cue: Option<&str>) {
    let mut program = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = program.id();
    let mut lines = BufReader::new(program.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    if let Some(cue) = cue {
        for line in lines.by_ref() {
            let line = line.unwrap();
            seen.push(line.clone());
            if line.contains(cue) {
                break;
            }
        }
    }
    let live = || -> Vec<u32> {
        children_of(pid)
            .into_iter()
            .filter(|&p| stat(p).is_some_and(|s| s.state != 'Z'))
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(10), || !live().is_empty()),
        "{bin}: no live child after {seen:?}"
    );
    let kids = live();
    program.kill().unwrap();
    program.wait().unwrap();
    let running = wait_gone(Duration::from_secs(3), || {
        kids.iter()
            .copied()
            .filter(|&p| stat(p).is_some_and(|s| s.state != 'Z'))
            .collect()
    });
    assert!(
        running.is_empty(),
        "{bin}: still running 3 s after its SIGKILL: {running:?} of {kids:?}"
    );
}

#[test]
fn a_sigkilled_fork_with_threads_takes_its_stuck_child_along() {
    let _serial = serial();
    let bin = env!("CARGO_BIN_EXE_fork-with-threads");
    sigkill_leaves_no_live_child(bin, &["--watchdog-secs", "20"], Some("fork before threads"));
}

#[test]
fn a_sigkilled_rayon_after_fork_takes_its_stuck_child_along() {
    let _serial = serial();
    let bin = env!("CARGO_BIN_EXE_rayon-after-fork");
    let args = ["--n", "1000", "--watchdog-secs", "20"];
    sigkill_leaves_no_live_child(bin, &args, Some("parent started rayon"));
}

#[test]
fn a_sigkilled_zombies_and_orphans_takes_its_orphans_along() {
    let _serial = serial();
    let bin = env!("CARGO_BIN_EXE_zombies-and-orphans");
    let args = ["--workers", "16", "--orphan-ms", "3000"];
    sigkill_leaves_no_live_child(bin, &args, Some("middle (no PDEATHSIG)"));
}

#[test]
fn output_errors_are_one_line_and_exit_74() {
    let cases: [(&str, &[&str]); 6] = [
        (env!("CARGO_BIN_EXE_fork-basics"), &[]),
        (env!("CARGO_BIN_EXE_pipe-deadlock"), &["--timeout-ms", "50"]),
        (
            env!("CARGO_BIN_EXE_zombies-and-orphans"),
            &["--orphan-ms", "0"],
        ),
        (env!("CARGO_BIN_EXE_pipe-messages"), &["--messages", "1000"]),
        (env!("CARGO_BIN_EXE_rayon-after-fork"), &["--n", "1000"]),
        (
            env!("CARGO_BIN_EXE_start-methods"),
            &["--max-mib", "64", "--reps", "1"],
        ),
    ];
    let _serial = serial();
    for (bin, args) in cases {
        assert_output_error(bin, args, 60);
    }
}

#[test]
fn pipe_messages_refuses_runs_too_long_to_finish() {
    let bin = env!("CARGO_BIN_EXE_pipe-messages");
    assert_usage_errors(bin, &[&["--messages", "500001"], &["--values", "33"]]);
}
