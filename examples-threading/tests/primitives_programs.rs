//! Runs every pool and primitive program with a time limit and checks its
//! exit code and the figures it printed.
#![cfg(not(loom))]

mod common;

use lesson::testing::{
    assert_contains_all, assert_lesson_last, assert_usage_error, assert_usage_errors, number_after,
    output, serial, under_head,
};
use std::time::Duration;

/// Runs `bin args` alone (`serial`): exit 0, the lesson line last;
/// returns (stdout, stderr).
fn run(bin: &str, args: &[&str]) -> (String, String) {
    let _guard = serial();
    let (stdout, stderr) = lesson::testing::run_ok(bin, args, 60);
    assert_lesson_last(&stdout);
    (stdout, stderr)
}

/// Piped into `head -1`: exit quietly, no broken-pipe report. Not
/// `assert_quiet_under_head`: a pool may print a task's expected panic on
/// stderr before head closes the pipe.
fn quiet_in_head(bin: &str) {
    let _guard = serial();
    let (code, stdout, stderr) =
        output(under_head(&format!("'{bin}'")).timeout(Duration::from_secs(60)));
    assert_eq!(code, 0, "{bin}: {stdout}{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{bin}: {stdout}");
    assert!(
        !stderr.contains("Broken pipe") && !stderr.contains("failed printing"),
        "{bin}: {stderr}"
    );
}

#[test]
fn thread_pool_survives_a_panicking_task() {
    let bin = env!("CARGO_BIN_EXE_thread-pool");
    let (out, err) = run(bin, &["--workers", "2", "--tasks", "2000"]);
    assert!(
        out.contains("1999 ok, 1 panicked: task 1000: task panicked: task 1000 fails on purpose"),
        "{out}"
    );
    assert!(
        out.contains("map chunksize   1") && out.contains("map chunksize  64"),
        "{out}"
    );
    assert!(
        out.contains("waited for 2000 of 2000 queued tasks"),
        "{out}"
    );
    // The program's hook reports the panic in one line of its own.
    assert!(err.is_empty(), "{err}");
    let caught = out.lines().filter(|l| l.contains("(caught by the pool)"));
    assert_eq!(caught.count(), 1, "{out}");
    assert!(
        out.contains("thread 'pool-worker-") && out.contains("task 1000 fails on purpose (caught"),
        "{out}"
    );
    // Still one line and no backtrace when the user asks for backtraces.
    let (code, out, err) = output(
        lesson::testing::Command::new(bin)
            .args(["--workers", "2", "--tasks", "200"])
            .env("RUST_BACKTRACE", "1")
            .timeout(Duration::from_secs(60)),
    );
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    let caught: Vec<&str> = out.lines().filter(|l| l.contains("panicked")).collect();
    assert_eq!(caught.len(), 2, "the report and the summary line:\n{out}"); // hook + submit+join row
    assert!(!out.contains("stack backtrace"), "{out}");
    assert_usage_errors(
        bin,
        &[
            &["--workers", "0"],
            &["--workers", "abc"],
            &["--tasks", "2000000"],
        ],
    );
    quiet_in_head(bin);
}

#[test]
fn producer_consumer_shows_backpressure_join_and_shutdown() {
    let bin = env!("CARGO_BIN_EXE_producer-consumer");
    let (out, _) = run(bin, &[]);
    assert_contains_all(
        &out,
        &[
            "channel filled to 8 of 8 before any consumer ran",
            "returned with 6000 of 6000 items finished",
            "6000 items, sum 17997000 (want 17997000)",
        ],
    );
    let (out, _) = run(
        bin,
        &[
            "--producers",
            "1",
            "--consumers",
            "4",
            "--items",
            "100",
            "--capacity",
            "1",
        ],
    );
    assert!(out.contains("100 items, sum 4950 (want 4950)"), "{out}");
    assert_usage_errors(
        bin,
        &[
            &["--producers", "0"],
            &["--capacity", "x"],
            &["--items", "1", "--producers", "1"], // nothing would ever wait
        ],
    );
    quiet_in_head(bin);
}

#[test]
fn semaphore_caps_concurrency_and_refuses_an_extra_release() {
    let bin = env!("CARGO_BIN_EXE_semaphore");
    let (out, _) = run(bin, &["--workers", "6", "--limit", "2"]);
    let capped = out
        .lines()
        .find(|l| l.starts_with("semaphore("))
        .expect("semaphore line");
    let most = number_after::<usize>(capped, "at most");
    assert!((1..=2).contains(&most), "{out}");
    assert_contains_all(
        &out,
        &[
            "release #1         Ok(())",
            "Err: semaphore released too many times (limit 2)",
        ],
    );
    assert_usage_errors(bin, &[&["--limit", "0"], &["--workers", "1000"]]);
}

#[test]
fn event_wakes_all_waiters_and_times_out_when_cleared() {
    let bin = env!("CARGO_BIN_EXE_event");
    let (out, _) = run(bin, &["--waiters", "6", "--timeout-ms", "30"]);
    assert_contains_all(
        &out,
        &[
            "woke 6 of 6 waiters, 0 woke before the set",
            "wait after set returns true",
            "is_set() = false, wait_timeout(30 ms) = false",
        ],
    );
    assert_usage_errors(bin, &[&["--waiters", "0"], &["--timeout-ms", "999999"]]);
}

#[test]
fn barrier_keeps_phases_in_step() {
    let bin = env!("CARGO_BIN_EXE_barrier");
    let (out, _) = run(bin, &["--threads", "3", "--phases", "50"]);
    assert_contains_all(
        &out,
        &[
            "leaders       50 (one per phase)",
            "equals the one-thread result",
        ],
    );
    assert_usage_errors(bin, &[&["--threads", "0"], &["--phases", "-1"]]);
}

#[test]
fn condition_buffer_delivers_everything_within_capacity() {
    let bin = env!("CARGO_BIN_EXE_condition");
    let (out, _) = run(bin, &["--pairs", "3", "--items", "1000", "--capacity", "2"]);
    assert!(
        out.contains("3000 of 3000 delivered, sum 4498500 (want 4498500)"),
        "{out}"
    );
    let used = out
        .lines()
        .find(|l| l.starts_with("buffer"))
        .expect("buffer line");
    assert!(
        used.contains("at most 1 of 2") || used.contains("at most 2 of 2"),
        "{out}"
    );
    assert_usage_error(bin, &["--capacity", "0"]);
}

#[test]
fn timer_fires_or_is_cancelled_at_once() {
    let bin = env!("CARGO_BIN_EXE_timer");
    let (out, _) = run(bin, &["--fire-ms", "20", "--cancel-ms", "60000"]);
    assert!(out.contains("fired: true"), "{out}");
    assert!(
        out.contains("cancelled: true") && out.contains("action ran: false"),
        "{out}"
    );
    assert_usage_errors(bin, &[&["--cancel-ms", "10"], &["--fire-ms", "0"]]);
}

#[test]
fn thread_local_makes_one_buffer_per_pool_thread() {
    let bin = env!("CARGO_BIN_EXE_thread-local");
    let (out, _) = run(bin, &["--threads", "3", "--tasks", "20000"]);
    let fresh = out
        .lines()
        .find(|l| l.starts_with("buffer per task"))
        .expect("per-task line");
    assert_eq!(
        number_after::<usize>(fresh, "buffer per task"),
        20000,
        "{out}"
    );
    let local = out
        .lines()
        .find(|l| l.starts_with("thread_local!"))
        .expect("thread_local line");
    let created = number_after::<usize>(local, "thread_local!");
    assert!((1..=3).contains(&created), "{out}");
    assert_usage_errors(bin, &[&["--threads", "0"], &["--threads", "abc"]]);
}

#[test]
fn scoped_threads_borrow_and_static_threads_share_an_arc() {
    let bin = env!("CARGO_BIN_EXE_scoped-threads");
    let (out, _) = run(bin, &["--threads", "3", "--len", "1000"]);
    // sum of x*x for x in 0..1000
    assert_contains_all(
        &out,
        &[
            "&mut out chunks   sum 332833500   (no Arc, no lock)",
            "sum 332833500   Arc count while running: 4, after join: 1",
        ],
    );
    assert_usage_errors(bin, &[&["--len", "0"], &["--len", "99999999999"]]);
}

#[test]
fn daemon_thread_dies_without_drop_and_joined_one_cleans_up() {
    let bin = env!("CARGO_BIN_EXE_daemon-threads");
    let (out, _) = run(bin, &[]);
    let detached = out
        .lines()
        .find(|l| l.starts_with("detached"))
        .expect("detached line");
    assert!(detached.ends_with("Drop marker NEVER printed"), "{out}");
    let ticks = number_after::<usize>(detached, "ticked");
    assert!(ticks > 0, "{out}");
    assert!(out.contains("Drop marker printed"), "{out}");
    assert_usage_error(bin, &["--child", "sideways"]);
    quiet_in_head(bin);
}

#[test]
fn thread_panic_reaches_hook_join_and_poisons_the_lock() {
    let bin = env!("CARGO_BIN_EXE_thread-panics");
    let (out, err) = run(bin, &[]);
    assert_contains_all(
        &out,
        &[
            "excepthook   thread 'transfer' panicked: network error",
            "join         Err(\"network error before crediting the other account\")",
            "Err(PoisonError) ; data inside: [60, 0], total 60 of 100",
            "lock() is Ok again",
        ],
    );
    assert!(
        err.is_empty(),
        "the hook replaced the default report: {err}"
    );
    assert_usage_error(bin, &["--threads", "2"]);
}

#[test]
fn every_program_reports_a_full_stdout_in_one_line() {
    let _guard = serial();
    let quick: [(&str, &[&str]); 11] = [
        (env!("CARGO_BIN_EXE_thread-pool"), &["--tasks", "100"]),
        (env!("CARGO_BIN_EXE_producer-consumer"), &[]),
        (env!("CARGO_BIN_EXE_semaphore"), &[]),
        (env!("CARGO_BIN_EXE_event"), &[]),
        (env!("CARGO_BIN_EXE_barrier"), &["--phases", "5"]),
        (env!("CARGO_BIN_EXE_condition"), &["--items", "100"]),
        (
            env!("CARGO_BIN_EXE_timer"),
            &["--fire-ms", "1", "--cancel-ms", "1000"],
        ),
        (env!("CARGO_BIN_EXE_thread-local"), &["--tasks", "100"]),
        (env!("CARGO_BIN_EXE_scoped-threads"), &["--len", "100"]),
        (env!("CARGO_BIN_EXE_daemon-threads"), &[]),
        (env!("CARGO_BIN_EXE_thread-panics"), &[]),
    ];
    for (bin, args) in quick {
        lesson::testing::assert_output_error(bin, args, 60);
    }
}

#[test]
fn no_thread_to_spare_is_one_line_and_exit_71_never_a_hang() {
    let _guard = serial();
    for bin in [
        env!("CARGO_BIN_EXE_semaphore"),
        env!("CARGO_BIN_EXE_condition"),
        env!("CARGO_BIN_EXE_event"),
        env!("CARGO_BIN_EXE_barrier"),
        env!("CARGO_BIN_EXE_producer-consumer"),
        env!("CARGO_BIN_EXE_scoped-threads"),
        env!("CARGO_BIN_EXE_thread-pool"),
        env!("CARGO_BIN_EXE_thread-local"),
        env!("CARGO_BIN_EXE_timer"),
        env!("CARGO_BIN_EXE_thread-panics"),
    ] {
        common::assert_no_threads(bin, &[]);
    }
}
