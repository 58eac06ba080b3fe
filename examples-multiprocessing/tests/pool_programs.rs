//! Runs the process-pool programs (process-pool, pool-worker-crash,
//! graceful-shutdown, pipe-messages) with time limits and checks what they
//! print, their exit codes, and that none of their workers outlives them.
//! No test forks: the programs fork, the tests drive them.
#![cfg(not(loom))]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command as StdCommand, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use lesson::testing::{
    assert_contains_all, assert_lesson_last, assert_quiet_under_head, assert_usage_errors,
    children_of, line_starting, line_with, number_after, run, run_ok, serial, stat, wait_until,
};

// Programs that time things or keep both cores busy run one at a time
// (`serial`).

/// The numbers in the first `[a, b]` list on the line starting with
/// `label` (worker pids, or tasks per worker).
fn pids_on(stdout: &str, label: &str) -> Vec<u32> {
    let line = line_starting(stdout, label);
    let inside = line
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .unwrap_or_else(|| panic!("no [..] list in {line:?}"))
        .0;
    inside
        .split(", ")
        .map(|p| {
            p.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{p:?} in {line:?}"))
        })
        .collect()
}

/// True once `pid` is gone, or is at most a zombie that is no child of
/// `parent` (an orphan waiting for PID 1, which reaps lazily here), within
/// 10 s.
fn gone(pid: u32, parent: Option<u32>) -> bool {
    wait_until(Duration::from_secs(10), || {
        stat(pid).is_none_or(|s| s.state == 'Z' && Some(s.ppid) != parent)
    })
}

#[test]
fn process_pool_measures_speedup_and_per_task_overhead() {
    let _serial = serial();
    let bin = env!("CARGO_BIN_EXE_process-pool");
    let args = [
        "--tasks",
        "16",
        "--task-ms",
        "10",
        "--tiny",
        "20000",
        "--rounds",
        "1",
    ];
    let (out, _) = run_ok(bin, &args, 120);
    for label in [
        "sequential",
        "pool map",
        "pool imap_unordered",
        "workers were busy",
        "pool CPU efficiency",
    ] {
        line_starting(&out, label);
    }
    assert!(
        out.contains("imap_unordered      first result after"),
        "{out}"
    );
    // Per-task cost at chunksizes 1, 10, 100, 1000, in us, both ways.
    let row = |label: &str| -> Vec<f64> {
        line_starting(&out, label)[label.len()..]
            .split_whitespace()
            .map(|c| c.parse().unwrap_or_else(|_| panic!("{c:?} in {out}")))
            .collect()
    };
    let (naive, piped) = (row("one chunk in flight"), row("pipelined (window)"));
    assert!(naive.len() == 4 && piped.len() == 4, "{out}");
    assert!(naive.iter().chain(&piped).all(|&us| us > 0.0), "{out}");
    // Which cost is lower is the program's claim, checked only in a release
    // build; this debug build says it did not check.
    assert!(
        out.contains("note: a debug build: speed and CPU cost not checked"),
        "{out}"
    );
    // 8 tasks on 2 workers with windows of hundreds of chunks: dealt out
    // round-robin, every worker gets some (filling worker 0's window first
    // put all 8 on it).
    let spread = pids_on(&out, "small job spread");
    assert!(
        spread.len() == 2 && spread.iter().all(|&n| n > 0) && spread.iter().sum::<u32>() == 8,
        "{out}"
    );
    // 20000 tasks, a fresh worker after every 1000: about 20 retirements
    // (the last ones may end after the run).
    let recycled = line_starting(&out, "max_tasks_per_child 1000:");
    let retired: usize = recycled.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!((18..=20).contains(&retired), "{recycled}");
    assert_lesson_last(&out);
}

#[test]
fn process_pool_refuses_bad_flags() {
    let bin = env!("CARGO_BIN_EXE_process-pool");
    assert_usage_errors(
        bin,
        &[
            &["--workers", "0"],
            &["--workers", "abc"],
            &["--tiny", "99999999999"],
            &["--tiny", "200000"],
            &["--tiny", "10"],
            &["--task-ms", "5000"],
            &["--task-ms", "1000"],
            &["--tasks", "10000"],
            &["--tasks", "1"],
            &["--rounds", "4"],
        ],
    );
}

#[test]
fn a_killed_worker_costs_one_task_and_is_replaced() {
    let _serial = serial();
    let bin = env!("CARGO_BIN_EXE_pool-worker-crash");
    let (out, _) = run_ok(
        bin,
        &[
            "--tasks",
            "30",
            "--crash-task",
            "4",
            "--panic-task",
            "9",
            "--hang-task",
            "14",
            "--timeout-ms",
            "500",
        ],
        60,
    );
    let workers = pids_on(&out, "workers");
    let lost = line_with(&out, "task 4 lost: worker");
    assert!(
        lost.contains("was killed by SIGKILL (signal 9) while running it"),
        "{lost}"
    );
    let pid: u32 = number_after(lost, "task 4 lost: worker");
    assert!(workers.contains(&pid), "{pid} is not one of {workers:?}");
    let replacements: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("replacement"))
        .collect();
    assert_eq!(replacements.len(), 2, "{out}");
    let killed = format!("worker {pid} (was killed by SIGKILL (signal 9)) replaced by");
    assert!(replacements.iter().any(|r| r.contains(&killed)), "{out}");
    assert_contains_all(
        &out,
        &[
            "task 14 timed out after 500ms: worker",
            "task 9 panicked in worker",
            "panics on purpose",
            "other results  27 of 27 equal the sequential answer",
            "pool broken: 5 workers died in a row",
            "python: run with --python",
        ],
    );
    assert_eq!(
        out.lines().filter(|l| l.starts_with("failed")).count(),
        3,
        "{out}"
    );
}

#[test]
fn a_task_lost_mid_chunk_costs_only_itself() {
    let _serial = serial();
    let bin = env!("CARGO_BIN_EXE_pool-worker-crash");
    let args = [
        "--tasks",
        "20",
        "--chunksize",
        "4",
        "--crash-task",
        "6",
        "--panic-task",
        "13",
        "--hang-task",
        "17",
        "--timeout-ms",
        "500",
    ];
    let (out, _) = run_ok(bin, &args, 60);
    assert_contains_all(
        &out,
        &[
            "task 6 lost: worker",
            "other results  17 of 17 equal the sequential answer",
        ],
    );
    let init = line_starting(&out, "initializer");
    assert!(
        init.contains("each a worker of this pool") && !init.contains("{0"),
        "{init}"
    );
}

#[test]
fn pool_worker_crash_refuses_bad_flags() {
    let bin = env!("CARGO_BIN_EXE_pool-worker-crash");
    assert_usage_errors(
        bin,
        &[
            &["--crash-task", "40"],
            &["--crash-task", "3", "--panic-task", "3"],
            &["--crash-task", "3", "--hang-task", "3"],
            &["--timeout-ms", "0"],
            &["--timeout-ms", "70000"],
            &["--tasks", "0"],
            &["--tasks", "10000"],
            &["--task-ms", "1000"],
            &["--chunksize", "0"],
            &["--python-limit-secs", "0"],
            &["--python", "--python-exe", "/nonexistent/python3"],
        ],
    );
}

/// CPython's pools meet the same crash, run by the program: `Pool.map`
/// hangs and is stopped at the limit, `ProcessPoolExecutor` raises
/// `BrokenProcessPool` (the replaced fixed `python` row said both without
/// running them). Nothing of the Python run is left.
#[test]
fn pool_worker_crash_runs_cpythons_pools_into_the_same_crash() {
    if lesson::python::Interpreter::find(None).is_err() {
        println!("note: no python3 here, so the --python run is not tested");
        return;
    }
    let _serial = serial();
    let bin = env!("CARGO_BIN_EXE_pool-worker-crash");
    let args = ["--python", "--python-limit-secs", "2", "--tasks", "30"];
    let (out, _) = run_ok(bin, &args, 90);
    let build = line_starting(&out, "python build");
    assert!(build.contains("CPython 3."), "{build}");
    // gh-96062: Pool.map never returns once a worker is killed mid-task.
    let pool = line_starting(&out, "python Pool.map");
    assert!(
        pool.contains("hung: ") && pool.contains("stopped after"),
        "{pool}"
    );
    let ran: usize = number_after(pool, "hung:");
    assert!(ran < 30, "{pool}");
    let executor = line_starting(&out, "python ProcessPoolExecutor");
    assert!(
        executor.contains("raised BrokenProcessPool for"),
        "{executor}"
    );
    let failed: usize = number_after(executor, "BrokenProcessPool for");
    assert!((1..=30).contains(&failed), "{executor}");
    // The fixed text is gone; what is there was measured.
    assert!(!out.contains("hangs forever here"), "{out}");
    let marker = examples_multiprocessing::cpython_crash::MARKER;
    let left = lesson::testing::wait_gone(Duration::from_secs(5), || {
        lesson::testing::processes_with_cmdline(marker)
    });
    assert!(left.is_empty(), "Python processes left: {left:?}");
    assert_lesson_last(&out);
}

#[test]
fn graceful_shutdown_finishes_and_exits_0_when_left_alone() {
    let _serial = serial();
    let bin = env!("CARGO_BIN_EXE_graceful-shutdown");
    let (out, _) = run_ok(bin, &["--tasks", "6", "--task-ms", "10"], 60);
    assert_contains_all(
        &out,
        &[
            "finished       6 of 6 tasks",
            "children left  0",
            "worker fds     [2, 2] new in each worker",
        ],
    );
    assert!(fds_unchanged(&out), "{out}");
    for pid in pids_on(&out, "workers") {
        assert!(gone(pid, None), "worker {pid} outlived the program");
    }
}

/// The "fds N before the pool and M after" figures agree.
fn fds_unchanged(out: &str) -> bool {
    let line = line_starting(out, "children left");
    let nums: Vec<&str> = line
        .split_whitespace()
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    nums.len() == 2 && nums[0] == nums[1]
}

#[test]
fn graceful_shutdown_interrupts_itself_and_exits_130() {
    let _serial = serial();
    let bin = env!("CARGO_BIN_EXE_graceful-shutdown");
    let (code, out, err) = run(
        bin,
        &[
            "--tasks",
            "240",
            "--task-ms",
            "20",
            "--interrupt-after-ms",
            "300",
        ],
        60,
    );
    assert_eq!(code, 130, "{out}{err}");
    assert!(out.contains("interrupted    by SIGINT after"), "{out}");
    assert!(
        out.contains("children left  0") && fds_unchanged(&out),
        "{out}"
    );
    for pid in pids_on(&out, "workers") {
        assert!(gone(pid, None), "worker {pid} outlived the program");
    }
}

/// Starts graceful-shutdown with long work, in a process group of its own
/// (so a test can signal the whole group), and returns it with its worker
/// pids.
fn start_long_run() -> (Child, BufReader<std::process::ChildStdout>, Vec<u32>) {
    use std::os::unix::process::CommandExt;
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_graceful-shutdown"))
        .args(["--tasks", "240", "--task-ms", "50"])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let pids = pids_on(&first, "workers");
    sleep(Duration::from_millis(300)); // let the workers get busy
    (child, stdout, pids)
}

/// Waits for `child` (killing it after `limit`, a hang guard); returns its
/// exit code and the rest of its output.
fn finish(
    mut child: Child,
    mut stdout: BufReader<std::process::ChildStdout>,
    limit: u64,
) -> (Option<i32>, String) {
    let deadline = Instant::now() + Duration::from_secs(limit);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("program did not end within {limit} s");
        }
        sleep(Duration::from_millis(20));
    };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    (status.code(), rest)
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a pid we started and have not yet reaped.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

#[test]
fn a_real_sigint_stops_the_pool_reaps_workers_and_exits_130() {
    let _serial = serial();
    let (child, stdout, pids) = start_long_run();
    let parent = child.id();
    signal(parent, libc::SIGINT);
    let (code, out) = finish(child, stdout, 30);
    assert_eq!(code, Some(130), "{out}");
    assert_contains_all(&out, &["interrupted    by SIGINT", "children left  0"]);
    for pid in pids {
        assert!(gone(pid, Some(parent)), "worker {pid} outlived the program");
    }
}

#[test]
fn sigterm_exits_143_after_the_same_cleanup() {
    let _serial = serial();
    let (child, stdout, pids) = start_long_run();
    let parent = child.id();
    signal(parent, libc::SIGTERM);
    let (code, out) = finish(child, stdout, 30);
    assert_eq!(code, Some(143), "{out}");
    assert!(out.contains("children left  0"), "{out}");
    for pid in pids {
        assert!(gone(pid, Some(parent)), "worker {pid} outlived the program");
    }
}

/// `kill -TERM -PGID`: the workers get SIGTERM too. They ignore it, so
/// the parent shuts the pool down as after a SIGTERM of its own (before,
/// the workers died of it and the check found "a worker holds extra fds:
/// [0, 0]", exit 1).
#[test]
fn sigterm_to_the_whole_process_group_exits_143_and_leaves_nothing() {
    let _serial = serial();
    let (child, stdout, pids) = start_long_run();
    let parent = child.id();
    // SAFETY: kill(2) on the process group we just made for the child.
    assert_eq!(unsafe { libc::kill(-(parent as i32), libc::SIGTERM) }, 0);
    let (code, out) = finish(child, stdout, 30);
    assert_eq!(code, Some(143), "{out}");
    assert_contains_all(
        &out,
        &[
            "interrupted    by SIGTERM",
            "worker fds     [2, 2] new in each worker",
            "children left  0",
        ],
    );
    assert!(fds_unchanged(&out), "{out}");
    assert!(
        !out.contains("replaced"),
        "a worker died of the signal: {out}"
    );
    for pid in pids {
        assert!(gone(pid, Some(parent)), "worker {pid} outlived the program");
    }
}

#[test]
fn killing_a_worker_mid_task_loses_only_its_task() {
    let _serial = serial();
    let (child, stdout, pids) = start_long_run();
    let parent = child.id();
    signal(pids[0], libc::SIGKILL);
    // The fork server (the program's child) reaps the worker and forks its
    // replacement: wait for the pool to be whole again before the SIGINT.
    assert!(gone(pids[0], None), "the killed worker was never reaped");
    let replaced = wait_until(Duration::from_secs(10), || {
        let workers: Vec<u32> = children_of(parent)
            .into_iter()
            .flat_map(children_of)
            .collect();
        workers.len() == pids.len() && !workers.contains(&pids[0])
    });
    assert!(replaced, "the killed worker was never replaced");
    signal(parent, libc::SIGINT); // no need to wait for all 240 tasks
    let (code, out) = finish(child, stdout, 30);
    assert_eq!(code, Some(130), "{out}");
    let replaced = line_starting(&out, "replaced");
    assert!(
        replaced.contains(&format!("worker {} (was killed by SIGKILL", pids[0])),
        "{replaced}"
    );
    // The worker was busy with a 50 ms task: that one task, and only it, is lost.
    let lost: Vec<&str> = out.lines().filter(|l| l.starts_with("lost")).collect();
    assert!(lost.len() <= 1, "{out}");
    for line in lost {
        assert!(
            line.contains(&format!("worker {} was killed by SIGKILL", pids[0])),
            "{line}"
        );
    }
    assert!(out.contains("children left  0"), "{out}");
}

#[test]
fn killing_the_parent_takes_its_workers_down_too() {
    let _serial = serial();
    let (child, stdout, pids) = start_long_run();
    signal(child.id(), libc::SIGKILL);
    let (code, _) = finish(child, stdout, 30);
    assert_eq!(code, None, "killed by a signal, so no exit code");
    for pid in pids {
        // PR_SET_PDEATHSIG(SIGKILL) ends each orphaned worker.
        assert!(gone(pid, None), "worker {pid} outlived its killed parent");
    }
}

#[test]
fn graceful_shutdown_refuses_bad_flags() {
    let bin = env!("CARGO_BIN_EXE_graceful-shutdown");
    assert_usage_errors(
        bin,
        &[
            &["--workers", "0"],
            &["--interrupt-after-ms", "-3"],
            &["--interrupt-after-ms", "99999999"],
            &["--tasks", "10000"],
            &["--tasks", "241"],
            &["--task-ms", "1000"],
        ],
    );
}

#[test]
fn pipe_messages_moves_frames_intact_and_refuses_a_corrupt_length() {
    let _serial = serial();
    let bin = env!("CARGO_BIN_EXE_pipe-messages");
    let (out, _) = run_ok(bin, &["--messages", "20000"], 60);
    for label in ["encode", "decode", "pipe, framed", "pipe, raw"] {
        let line = line_starting(&out, label);
        let ns: f64 = number_after(line, label);
        assert!(ns > 0.0, "{line}");
    }
    // The count is the reader's, not the request echoed back.
    let received = line_starting(&out, "received");
    assert_eq!(
        number_after::<u64>(received, "received"),
        20000,
        "{received}"
    );
    assert!(received.contains("counted by the reader"), "{received}");
    assert!(
        out.contains("corrupt length refused: frame of 4294967295 bytes"),
        "{out}"
    );
    assert_usage_errors(bin, &[&["--messages", "0"], &["--values", "100000"]]);
}

#[test]
fn pipe_messages_is_quiet_when_piped_into_head() {
    let bin = env!("CARGO_BIN_EXE_pipe-messages");
    let line = assert_quiet_under_head(&format!("'{bin}' --messages 5000"), 60);
    assert!(line.starts_with("encode"), "{line}");
}
