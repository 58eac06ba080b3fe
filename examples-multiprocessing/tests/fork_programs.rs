#![cfg(not(loom))]
//! Runs the fork, start-method and process-gotcha programs with a time
//! limit; checks their figures, exit codes, bad input, and that every
//! process they report (every `pid N` they print) is gone afterwards.
//! Nothing here forks: the programs do.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::thread::sleep;
use std::time::{Duration, Instant};

use assert_cmd::Command;

/// Programs whose claims depend on timing or CPU run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run_program(bin: &str, args: &[&str], secs: u64) -> Run {
    let out = Command::new(bin)
        .args(args)
        .timeout(Duration::from_secs(secs))
        .output()
        .expect("the program starts");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every number printed after `pid ` or inside `Pid(...)`.
fn pids_in(text: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for marker in ["pid ", "Pid("] {
        for (at, _) in text.match_indices(marker) {
            let rest = text[at + marker.len()..].trim_start();
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(pid) = digits.parse() {
                pids.push(pid);
            }
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Fails unless every pid the program printed has left the process table
/// within a few seconds (PID 1 reaps lazily here, so give it a moment).
fn assert_all_gone(output: &str) {
    let pids = pids_in(output);
    assert!(!pids.is_empty(), "the program printed no pids:\n{output}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processes left behind: {left:?}\n{output}"
        );
        sleep(Duration::from_millis(50));
    }
}

fn assert_ok(run: &Run) {
    assert_eq!(
        run.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stdout
            .lines()
            .last()
            .unwrap_or("")
            .starts_with("lesson: "),
        "{}",
        run.stdout
    );
    assert_all_gone(&run.stdout);
}

fn assert_usage_error(bin: &str, args: &[&str]) {
    let run = run_program(bin, args, 30);
    assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
    assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
}

#[test]
fn pids_are_found_in_both_spellings() {
    assert_eq!(
        pids_in("child pid 12  x Exited(Pid(34), 0) pid  56"),
        vec![12, 34, 56]
    );
}

#[test]
fn fork_basics_tells_exit_codes_from_signals_and_shows_copy_on_write() {
    let bin = env!("CARGO_BIN_EXE_fork-basics");
    let run = run_program(bin, &["--code", "3"], 60);
    assert_ok(&run);
    assert!(run.stdout.contains("), 3)  exit code 3"), "{}", run.stdout);
    assert!(
        run.stdout.contains("SIGKILL, false)  killed by SIGKILL"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("parent sees heap Vec 1 (copy-on-write), MAP_SHARED page 99")
    );
    assert_usage_error(bin, &["--code", "256"]);
    assert_usage_error(bin, &["--code", "abc"]);
}

fn assert_quiet_under_head(bin: &str, args: &str) {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("'{bin}' {args} | head -1"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn fork_basics_is_quiet_when_piped_into_head() {
    assert_quiet_under_head(env!("CARGO_BIN_EXE_fork-basics"), "");
}

#[test]
fn pipe_deadlock_is_quiet_when_piped_into_head() {
    let _serial = serial();
    assert_quiet_under_head(env!("CARGO_BIN_EXE_pipe-deadlock"), "--timeout-ms 200");
}

#[test]
fn start_methods_fork_cost_grows_with_memory_and_spawn_does_not() {
    let bin = env!("CARGO_BIN_EXE_start-methods");
    let run = {
        let _serial = serial();
        run_program(bin, &[], 120)
    };
    assert_ok(&run);
    for method in ["fork ", "fork+exec ", "spawn ", "forkserver "] {
        assert!(
            run.stdout.contains(&format!("{method:<12}inherits")),
            "{}",
            run.stdout
        );
    }
    let rows: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains(" MiB ") && l.ends_with(" ms"))
        .collect();
    assert_eq!(rows.len(), 3, "16, 64 and 256 MiB rows:\n{}", run.stdout);
    for row in rows {
        assert_eq!(row.matches(" ms").count(), 4, "{row}");
    }
    let growth = run
        .stdout
        .lines()
        .find(|l| l.starts_with("from 16 to 256 MiB: fork "))
        .expect("growth line");
    let fork: f64 = growth
        .split("fork ")
        .nth(1)
        .and_then(|r| r.split('x').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(fork >= 2.0, "{growth}");
    let rss = run
        .stdout
        .lines()
        .find(|l| l.starts_with("a child's own resident memory at start: fork "))
        .expect("child RSS line");
    let fork_mib: u64 = rss
        .split("fork ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        fork_mib >= 192,
        "the forked child shares the 256 MiB parent's pages: {rss}"
    );
    assert_usage_error(bin, &["--max-mib", "2048"]);
    assert_usage_error(bin, &["--max-mib", "16"]);
    assert_usage_error(bin, &["--reps", "0"]);
    assert_usage_error(bin, &["--reps", "abc"]);
}

#[test]
fn fork_with_threads_hangs_on_the_copied_lock_and_both_fixes_work() {
    let bin = env!("CARGO_BIN_EXE_fork-with-threads");
    let run = {
        let _serial = serial();
        run_program(bin, &[], 60)
    };
    assert_ok(&run);
    let line = |label: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("{label}:\n{}", run.stdout))
            .to_owned()
    };
    assert!(line("fork before threads").contains("), 0)  as predicted"));
    assert!(line("fork while locked").contains("SIGALRM, false)  as predicted"));
    assert!(line("fork + exec").contains("), 0)  as predicted"));
    assert_usage_error(bin, &["--watchdog-secs", "0"]);
    assert_usage_error(bin, &["--watchdog-secs", "x"]);
}

#[test]
fn rayon_after_fork_hangs_and_forking_first_works() {
    let bin = env!("CARGO_BIN_EXE_rayon-after-fork");
    let run = {
        let _serial = serial();
        run_program(bin, &["--n", "1000"], 60)
    };
    assert_ok(&run);
    assert!(
        run.stdout.contains("forked before the pool"),
        "{}",
        run.stdout
    );
    let after = run
        .stdout
        .lines()
        .find(|l| l.starts_with("forked after the pool"))
        .expect("after line");
    assert!(after.contains("SIGALRM, false)  as predicted"), "{after}");
    assert!(
        run.stdout.contains("parent started rayon: "),
        "{}",
        run.stdout
    );
    assert_usage_error(bin, &["--n", "0"]);
    assert_usage_error(bin, &["--n", "1000000000000"]);
}

#[test]
fn zombies_show_as_z_until_reaped_and_orphans_live_on_without_pdeathsig() {
    let bin = env!("CARGO_BIN_EXE_zombies-and-orphans");
    let run = {
        let _serial = serial();
        run_program(bin, &["--children", "2", "--workers", "3"], 60)
    };
    assert_ok(&run);
    let out = &run.stdout;
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
    assert_usage_error(bin, &["--workers", "0"]);
    assert_usage_error(bin, &["--children", "abc"]);
    assert_usage_error(bin, &["--children", "65"]);
}

#[test]
fn pipe_deadlock_stalls_past_the_capacity_and_draining_fixes_it() {
    let bin = env!("CARGO_BIN_EXE_pipe-deadlock");
    let run = {
        let _serial = serial();
        run_program(bin, &[], 60)
    };
    assert_ok(&run);
    let out = &run.stdout;
    assert!(
        out.contains("pipe capacity:      65536 bytes; the child writes 262144"),
        "{out}"
    );
    assert!(
        out.contains("STALLED: still running after 1000 ms"),
        "{out}"
    );
    assert!(
        out.contains("65536 bytes queued) -> killed by SIGKILL"),
        "{out}"
    );
    assert!(
        out.contains("exit code 0, read 262144 of 262144 bytes"),
        "{out}"
    );

    let small = run_program(bin, &["--bytes", "1000", "--timeout-ms", "2000"], 60);
    assert_ok(&small);
    assert!(
        small.stdout.contains("exited within 2000 ms"),
        "{}",
        small.stdout
    );
    assert!(
        small.stdout.contains("read 1000 of 1000 bytes"),
        "{}",
        small.stdout
    );

    assert_usage_error(bin, &["--bytes", "0"]);
    assert_usage_error(bin, &["--bytes", "999999999999"]);
    assert_usage_error(bin, &["--timeout-ms", "5"]);
}

/// The pids whose parent is `parent`, from /proc.
fn children_of(parent: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(after_name) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let ppid = after_name
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            kids.push(pid);
        }
    }
    kids
}

/// Whether `pid` is gone or only a zombie waiting for PID 1 (which reaps
/// orphans lazily here): either way it runs no more.
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rfind(')')
            .is_some_and(|i| stat[i + 1..].trim_start().starts_with('Z')),
    }
}

/// Starts `bin`, lets it reach its stall for `after`, SIGKILLs it and
/// checks that the children it had then stop running within a few seconds.
fn killed_mid_run_leaves_nothing(bin: &str, after: Duration) {
    let mut program = std::process::Command::new(bin)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    sleep(after);
    let kids = children_of(program.id());
    program.kill().unwrap();
    program.wait().unwrap();
    assert!(!kids.is_empty(), "{bin} had no children at {after:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !kids.iter().all(|&pid| is_dead(pid)) {
        assert!(
            Instant::now() < deadline,
            "{bin}: children still running: {kids:?}"
        );
        sleep(Duration::from_millis(50));
    }
}

#[test]
fn killing_pipe_deadlock_during_the_stall_frees_its_child() {
    let _serial = serial();
    killed_mid_run_leaves_nothing(
        env!("CARGO_BIN_EXE_pipe-deadlock"),
        Duration::from_millis(400),
    );
}

#[test]
fn killing_fork_with_threads_during_the_hang_frees_its_children() {
    let _serial = serial();
    killed_mid_run_leaves_nothing(
        env!("CARGO_BIN_EXE_fork-with-threads"),
        Duration::from_millis(400),
    );
}

#[test]
fn killing_start_methods_takes_its_forkserver_down() {
    let _serial = serial();
    killed_mid_run_leaves_nothing(
        env!("CARGO_BIN_EXE_start-methods"),
        Duration::from_millis(300),
    );
}
