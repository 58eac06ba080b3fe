//! Runs every program as a user would, with a time limit, and checks the
//! figures it prints and its exit code.
#![cfg(not(loom))]

use examples_race_conditions::DEADLOCK_EXIT;
use lesson::testing::{
    Command, assert_contains_all, assert_lesson_last, assert_usage_error, line_with, number_after,
    output, run, serial, under_head,
};
use std::time::Duration;

/// The number after `word` on the first line containing `key`.
fn figure(stdout: &str, key: &str, word: &str) -> i64 {
    number_after(line_with(stdout, key), word)
}

/// Lines from `start` on (the forced or the free section).
fn section<'a>(stdout: &'a str, start: &str) -> &'a str {
    &stdout[stdout
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in:\n{stdout}"))..]
}

#[test]
fn lost_update_forced_loses_and_fixes_do_not() {
    let _serial = serial();
    let (code, out, err) = run(
        env!("CARGO_BIN_EXE_lost-update"),
        &["--threads", "3", "--iterations", "200000", "--rounds", "50"],
        120,
    );
    assert_eq!(code, 0, "{out}{err}");
    let forced = section(&out, "forced:");
    // 3 threads x 50 rounds, one store counted per round.
    assert_eq!(figure(forced, "racy", "expected"), 150);
    assert_eq!(figure(forced, "racy", "got"), 50);
    assert_eq!(figure(forced, "racy", "lost"), 100);
    assert_eq!(figure(forced, "fetch_add", "lost"), 0);
    assert_eq!(figure(forced, "mutex", "lost"), 0);
    let free = section(&out, "free:");
    assert_eq!(figure(free, "racy", "expected"), 600_000);
    assert!(figure(free, "racy", "lost") >= 0);
    assert_eq!(figure(free, "fetch_add", "got"), 600_000);
    assert_eq!(figure(free, "mutex", "got"), 600_000);
    assert_lesson_last(&out);
}

#[test]
fn lost_update_defaults() {
    let _serial = serial();
    let (code, out, err) = run(env!("CARGO_BIN_EXE_lost-update"), &[], 120);
    assert_eq!(code, 0, "{out}{err}");
    assert!(figure(section(&out, "forced:"), "racy", "lost") >= 1);
}

#[test]
fn check_then_act_overdraws_only_when_racy() {
    let _serial = serial();
    let (code, out, err) = run(
        env!("CARGO_BIN_EXE_check-then-act"),
        &["--threads", "3", "--iterations", "40"],
        120,
    );
    assert_eq!(code, 0, "{out}{err}");
    let forced = section(&out, "forced:");
    // 3 threads all pass the check: 100 - 300 = -200, every round.
    assert_eq!(figure(forced, "racy", "overdrawn in"), 40);
    assert_eq!(figure(forced, "racy", "lowest balance"), -200);
    assert_eq!(figure(forced, "racy", "paid"), 120);
    for fix in ["lock", "cas"] {
        assert_eq!(figure(forced, fix, "overdrawn in"), 0);
        assert_eq!(figure(forced, fix, "paid"), 40);
        assert_eq!(figure(section(&out, "free:"), fix, "overdrawn in"), 0);
    }
    assert_lesson_last(&out);
}

#[test]
fn deadlock_exits_with_its_code_and_names_the_cycle() {
    let (code, out, err) = run(env!("CARGO_BIN_EXE_deadlock"), &[], 30);
    assert_eq!(code, DEADLOCK_EXIT, "{out}{err}");
    assert_contains_all(
        &out,
        &[
            "thread 1 holds lock A, waits for lock B (held by thread 2)",
            "thread 2 holds lock B, waits for lock A (held by thread 1)",
        ],
    );
    assert_eq!(err, "error: deadlock detected: exit 3\n");
}

#[test]
fn deadlock_with_many_threads_still_deadlocks() {
    let (code, out, err) = run(env!("CARGO_BIN_EXE_deadlock"), &["--threads", "6"], 30);
    assert_eq!(code, DEADLOCK_EXIT, "{out}{err}");
    assert_eq!(
        out.lines().filter(|l| l.contains(" holds lock ")).count(),
        2,
        "{out}"
    );
}

#[test]
fn deadlock_lock_order_completes_and_conserves_money() {
    let (code, out, err) = run(
        env!("CARGO_BIN_EXE_deadlock"),
        &["--lock-order", "--threads", "4", "--iterations", "5000"],
        60,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(figure(&out, "finished", "finished:"), 20_000);
    assert_eq!(figure(&out, "finished", "="), 2_000);
    assert_lesson_last(&out);
}

/// Meals per philosopher on the line of `table`.
fn meals(out: &str, table: &str) -> Vec<u64> {
    let line = out
        .lines()
        .find(|l| l.starts_with(table))
        .unwrap_or_else(|| panic!("no {table} in:\n{out}"));
    let after = &line[line.find("meals").expect("meals") + 5..];
    after
        .split_whitespace()
        .map_while(|w| w.parse().ok())
        .collect()
}

#[test]
fn dining_naive_deadlocks_and_fixes_feed_everyone() {
    let _serial = serial();
    let (code, out, err) = run(env!("CARGO_BIN_EXE_dining-philosophers"), &[], 60);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("naive") && out.contains("deadlock"), "{out}");
    for seat in 0..5 {
        let next = (seat + 1) % 5;
        let wait = format!(
            "philosopher {seat} holds fork {seat}, waits for fork {next} (held by philosopher {next})"
        );
        assert!(out.contains(&wait), "{out}");
    }
    assert_eq!(meals(&out, "naive"), vec![0; 5]);
    for fixed in ["ordered", "waiter"] {
        let m = meals(&out, fixed);
        assert_eq!(m.len(), 5, "{out}");
        assert!(m.iter().all(|&meals| meals > 0), "{out}");
    }
    assert_lesson_last(&out);
}

#[test]
fn dining_naive_alone_exits_with_the_deadlock_code() {
    let (code, out, err) = run(
        env!("CARGO_BIN_EXE_dining-philosophers"),
        &["--table", "naive", "--philosophers", "3"],
        30,
    );
    assert_eq!(code, DEADLOCK_EXIT, "{out}{err}");
    assert_eq!(
        out.lines().filter(|l| l.contains(" holds fork ")).count(),
        3,
        "{out}"
    );
}

#[test]
fn dining_fixed_tables_alone_exit_0() {
    let _serial = serial();
    for table in ["ordered", "waiter"] {
        let (code, out, err) = run(
            env!("CARGO_BIN_EXE_dining-philosophers"),
            &["--table", table, "--philosophers", "2", "--millis", "100"],
            60,
        );
        assert_eq!(code, 0, "{out}{err}");
        let m = meals(&out, table);
        assert!(m.len() == 2 && m.iter().all(|&meals| meals > 0), "{out}");
    }
}

#[test]
fn livelock_lockstep_stalls_and_random_finishes() {
    let (code, out, err) = run(
        env!("CARGO_BIN_EXE_livelock"),
        &["--threads", "3", "--iterations", "20"],
        60,
    );
    assert_eq!(code, 0, "{out}{err}");
    // Ticks are counted at a barrier, not timed: the same on a busy machine.
    let ticks = figure(&out, "random", "ticks");
    assert_eq!(figure(&out, "random", "work"), 60);
    assert!(line_with(&out, "random").ends_with("all done"), "{out}");
    assert_eq!(figure(&out, "lockstep", "ticks"), ticks);
    assert_eq!(figure(&out, "lockstep", "attempts"), 3 * ticks);
    assert_eq!(figure(&out, "lockstep", "work"), 0);
    assert!(out.contains("stopped at the deadline"), "{out}");
    assert!(
        out.contains(&format!(
            "checked: in the {ticks} ticks random backoff needed for all 60 units, lockstep did 0"
        )),
        "{out}"
    );
    assert_lesson_last(&out);
}

#[test]
fn livelock_is_the_same_run_after_run() {
    let args = ["--threads", "4", "--iterations", "30", "--seed", "11"];
    let (_, first, _) = run(env!("CARGO_BIN_EXE_livelock"), &args, 60);
    let (code, again, err) = run(env!("CARGO_BIN_EXE_livelock"), &args, 60);
    assert_eq!(code, 0, "{again}{err}");
    assert_eq!(first, again);
}

#[test]
fn livelock_defaults() {
    let (code, out, err) = run(env!("CARGO_BIN_EXE_livelock"), &[], 60);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(figure(&out, "lockstep", "work"), 0);
    assert_eq!(figure(&out, "random", "work"), 200);
}

#[test]
fn lost_wakeup_naive_times_out_and_the_loop_wakes() {
    let (code, out, err) = run(
        env!("CARGO_BIN_EXE_lost-wakeup"),
        &["--timeout-ms", "200", "--iterations", "2"],
        60,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(figure(&out, "naive", "missed"), 2);
    assert_eq!(figure(&out, "fixed", "woke"), 2);
    // The waits are printed, measured; a test does not judge a time.
    for way in ["naive", "fixed"] {
        let waited: f64 = number_after(line_with(&out, way), "mean wait");
        assert!(waited >= 0.0, "{out}");
    }
    assert_lesson_last(&out);
}

#[test]
fn mutex_poisoning_reports_poison_and_broken_data() {
    let (code, out, err) = run(
        env!("CARGO_BIN_EXE_mutex-poisoning"),
        &["--threads", "3", "--iterations", "5"],
        30,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Err(PoisonError) in 3 of 3 threads"), "{out}");
    // 20 in total, 5 moved, then 1 debited without its credit.
    assert_contains_all(
        &out,
        &[
            "from 14 + to 5 = 19 of 20: half a transfer",
            "ledger balanced and lock() Ok: yes",
        ],
    );
    // The panic is announced as expected, on one line of stdout, without
    // the default message and backtrace hint on stderr.
    assert!(
        out.starts_with("expected panic in thread 'doomed transfer': transfer failed"),
        "{out}"
    );
    assert!(err.is_empty(), "{err}");
}

#[test]
fn toctou_both_hold_then_create_new_gives_one_and_leaves_nothing() {
    // A private TMPDIR, so "nothing left behind" can be checked exactly.
    let tmp = tempfile::tempdir().expect("temp dir");
    let (code, stdout, stderr) = output(
        Command::new(env!("CARGO_BIN_EXE_toctou-file"))
            .args(["--processes", "3", "--iterations", "2"])
            .env("TMPDIR", tmp.path())
            .timeout(Duration::from_secs(60)),
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_contains_all(
        &stdout,
        &[
            "holders per round: 3 3",
            "holders per round: 1 1",
            "removed: yes",
        ],
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("read TMPDIR")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

const ALL: [&str; 8] = [
    env!("CARGO_BIN_EXE_lost-update"),
    env!("CARGO_BIN_EXE_check-then-act"),
    env!("CARGO_BIN_EXE_deadlock"),
    env!("CARGO_BIN_EXE_dining-philosophers"),
    env!("CARGO_BIN_EXE_livelock"),
    env!("CARGO_BIN_EXE_lost-wakeup"),
    env!("CARGO_BIN_EXE_mutex-poisoning"),
    env!("CARGO_BIN_EXE_toctou-file"),
];

#[test]
fn bad_input_gives_one_line_and_exit_2() {
    let bad: [&[&str]; 6] = [
        &["--threads", "0"],
        &["--threads", "abc"],
        &["--iterations", "-1"],
        &["--iterations", "0"],
        &["--iterations", "99999999999"],
        &["--no-such-flag"],
    ];
    for bin in ALL {
        for args in bad {
            assert_usage_error(bin, args);
        }
    }
}

#[test]
fn out_of_range_counts_are_refused() {
    for (bin, args) in [
        (env!("CARGO_BIN_EXE_lost-update"), &["--threads", "1"][..]),
        (env!("CARGO_BIN_EXE_lost-update"), &["--threads", "100000"]),
        (env!("CARGO_BIN_EXE_deadlock"), &["--threads", "1"]),
        (
            env!("CARGO_BIN_EXE_dining-philosophers"),
            &["--philosophers", "1"],
        ),
        (env!("CARGO_BIN_EXE_livelock"), &["--threads", "17"]),
        (env!("CARGO_BIN_EXE_livelock"), &["--iterations", "10000"]),
        (
            env!("CARGO_BIN_EXE_check-then-act"),
            &["--iterations", "100000"],
        ),
        (env!("CARGO_BIN_EXE_lost-wakeup"), &["--iterations", "100"]),
        (env!("CARGO_BIN_EXE_lost-wakeup"), &["--timeout-ms", "5000"]),
        (env!("CARGO_BIN_EXE_mutex-poisoning"), &["--threads", "65"]),
        (env!("CARGO_BIN_EXE_toctou-file"), &["--iterations", "101"]),
        (env!("CARGO_BIN_EXE_toctou-file"), &["--processes", "1"]),
        (env!("CARGO_BIN_EXE_lost-wakeup"), &["--timeout-ms", "0"]),
    ] {
        assert_usage_error(bin, args);
    }
}

#[test]
fn piped_into_head_is_quiet() {
    let _serial = serial();
    for bin in ALL {
        let tmp = tempfile::tempdir().expect("temp dir");
        let (_, stdout, stderr) = output(
            under_head(&format!("'{bin}'"))
                .env("TMPDIR", tmp.path())
                .timeout(Duration::from_secs(60)),
        );
        // deadlock's exit 3 comes with its one line on stderr, by design
        // (when head has not closed the pipe first); nothing else may appear.
        let allowed = |l: &str| l == "error: deadlock detected: exit 3";
        assert!(stderr.lines().all(allowed), "{bin}: {stderr}");
        assert!(
            !stderr.contains("Broken pipe") && !stderr.contains("panicked"),
            "{bin}: {stderr}"
        );
        assert_eq!(stdout.lines().count(), 1, "{bin}: {stdout}");
    }
}
