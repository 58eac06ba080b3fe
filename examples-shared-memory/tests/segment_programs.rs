#![cfg(not(loom))]
//! Runs every program of the segment/sharing half of the crate with a time
//! limit, checks its figures and exit code, and checks that it left nothing
//! behind: no /dev/shm name, no process, no temp file.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use examples_shared_memory::owned_name::is_dead;

use lesson::testing::{
    Command, assert_contains_all, assert_lesson_last, assert_output_error, assert_pids_gone,
    assert_quiet_under_head, assert_usage_errors, entries, line_with, number_after, output,
    pid_exists, printed_pids, run, run_ok, running, serial, wait_gone, wait_until,
};

// Programs fork several processes and some claims depend on timing: run
// one at a time (`serial`).

const PREFIXES: [&str; 2] = ["lesson-shm-", "lesson-mmap-"];

/// Names in /dev/shm and the temp dir that this crate's programs create.
fn ours() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for dir in [std::path::PathBuf::from("/dev/shm"), std::env::temp_dir()] {
        for name in entries(&dir) {
            if PREFIXES.iter().any(|p| name.starts_with(p)) {
                names.insert(format!("{}/{name}", dir.display()));
            }
        }
    }
    names
}

/// The pid a name carries: `lesson-shm-<pid>-...`, `lesson-mmap-<pid>-...`.
fn owner(path: &str) -> Option<u32> {
    let name = path.rsplit('/').next()?;
    let rest = PREFIXES.iter().find_map(|p| name.strip_prefix(p))?;
    rest.split('-').next()?.parse().ok()
}

/// Names new since `before` whose creator has ended (gone, or a zombie
/// not yet reaped): leaks. A name whose creator still runs belongs to
/// another run on this machine (tests of a second checkout, say) and is not
/// counted; a leak must also still be there 200 ms later.
fn left_behind(before: &BTreeSet<String>) -> Vec<String> {
    let check = || -> BTreeSet<String> {
        let gone = |p: &String| owner(p).is_none_or(|pid| is_dead(pid as i32));
        ours()
            .difference(before)
            .filter(|p| gone(p))
            .cloned()
            .collect()
    };
    let first = check();
    if first.is_empty() {
        return Vec::new();
    }
    std::thread::sleep(Duration::from_millis(200));
    check().intersection(&first).cloned().collect()
}

/// Runs a program with the given flags; asserts exit 0 with the lesson
/// last, no new name left in /dev/shm or /tmp, and no printed pid (after
/// "pid", "pids" or in `Pid(...)`) still in the process table.
fn run_clean(bin: &str, args: &[&str], limit: u64) -> String {
    let _guard = serial();
    let before = ours();
    let (stdout, _) = run_ok(bin, args, limit);
    assert_lesson_last(&stdout);
    let left = left_behind(&before);
    assert!(left.is_empty(), "{bin} left {left:?}");
    assert_pids_gone(&printed_pids(&stdout), Duration::from_secs(2), &bin);
    stdout
}

/// [`run_clean`] for a program with a speed claim: exit 0, or 3 when a
/// release build found the claim missed (no test demands a speed claim);
/// everything else it checked must have held either way.
fn run_clean_speed(bin: &str, args: &[&str], limit: u64) -> String {
    let _guard = serial();
    let before = ours();
    let (code, stdout, stderr) = run(bin, args, limit);
    assert!(
        [0, 3].contains(&code),
        "{bin} exit {code}\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("\nlesson: "), "{stdout}");
    let left = left_behind(&before);
    assert!(left.is_empty(), "{bin} left {left:?}");
    assert_pids_gone(&printed_pids(&stdout), Duration::from_secs(2), &bin);
    stdout
}

/// The line that starts with `label`, split into words.
fn row<'a>(out: &'a str, label: &str) -> Vec<&'a str> {
    let line = out.lines().find(|l| l.starts_with(label));
    line.unwrap_or_else(|| panic!("no line {label:?} in\n{out}"))
        .split_whitespace()
        .collect()
}

/// The word `offset` places after `word` on the line that starts with `label`.
fn near<'a>(out: &'a str, label: &str, word: &str, offset: isize) -> &'a str {
    let r = row(out, label);
    let i = r.iter().position(|w| *w == word);
    let i = i.unwrap_or_else(|| panic!("no {word:?} in line {label:?}:\n{out}"));
    r[i.checked_add_signed(offset).unwrap()]
}

#[test]
fn map_anon_is_private_child_write_reaches_only_the_shared_mapping() {
    let bin = env!("CARGO_BIN_EXE_map-anon-is-private");
    let out = run_clean(bin, &["--value", "77"], 30);
    assert!(out.contains("child pid"), "{out}");
    assert_eq!(row(&out, "memmap2 map_anon").last(), Some(&"0"));
    assert_eq!(row(&out, "SharedMapping").last(), Some(&"77"));
    assert_usage_errors(bin, &[&["--value", "0"], &["--value", "abc"]]);
}

#[test]
fn shared_counter_racy_loses_atomic_and_lock_do_not() {
    let bin = env!("CARGO_BIN_EXE_shared-counter");
    let out = run_clean(bin, &["--processes", "3", "--iterations", "50000"], 60);
    let after = |label, word| {
        let r = row(&out, label);
        let i = r.iter().position(|w| *w == word).unwrap();
        r[i + 1].parse::<u64>().unwrap()
    };
    let lost = |label| after(label, "lost");
    assert!(lost("racy") > 0, "{out}");
    assert_eq!(lost("atomic"), 0, "{out}");
    assert_eq!(lost("lock"), 0, "{out}");
    assert_eq!(after("atomic", "of"), 150000);
    assert!(after("racy", "of") == 150000 && after("lock", "of") == 150000);
    assert_usage_errors(
        bin,
        &[
            &["--processes", "0"],
            &["--processes", "1"],
            &["--iterations", "abc"],
            &["--iterations", "99999999999"],
            &["--processes", "64", "--iterations", "10000000"],
            &["--processes", "18446744073709551615"],
        ],
    );
}

#[test]
fn shared_array_beats_pipes_and_checks_every_element() {
    let bin = env!("CARGO_BIN_EXE_shared-array");
    let out = run_clean_speed(bin, &["--workers", "8"], 120);
    assert!(out.contains("every element checked"), "{out}");
    // Each pipe worker counted its own /proc/<pid>/fd after closing the
    // rest: stdin, stdout, stderr and its two pipe ends, no sibling's.
    let fds = line_with(&out, "descriptors per pipe worker");
    assert!(number_after::<usize>(fds, "at most") <= 5, "{out}");
    for label in ["shared memory", "pipes (there"] {
        let wall: f64 = near(&out, label, "ms", -1).parse().unwrap();
        let cpu: f64 = row(&out, label)
            .iter()
            .rev()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert!(wall > 0.0 && cpu > 0.0, "{out}");
    }
    // The CPU comparison is the program's own claim: a test only sees
    // that both ratios are printed.
    let ratios = row(&out, "pipes / shared");
    let cpu_ratio: f64 = ratios[4].trim_end_matches('x').parse().unwrap();
    assert!(ratios[3].ends_with('x') && cpu_ratio > 0.0, "{out}");
    assert_usage_errors(
        bin,
        &[
            &["--elements", "0"],
            &["--elements", "999999999999"],
            &["--elements", "18446744073709551615"],
            &["--workers", "abc"],
            &["--workers", "65"],
        ],
    );
}

#[test]
fn named_shm_leaves_no_name_even_when_the_creator_is_killed() {
    let bin = env!("CARGO_BIN_EXE_named-shm");
    let out = run_clean(bin, &[], 60);
    let first = row(&out, "segment");
    assert!(first[1].starts_with("/lesson-shm-"), "{out}");
    assert!(!Path::new("/dev/shm").join(&first[1][1..]).exists());
    assert_contains_all(
        &out,
        &[
            "name gone while both mapped it: true",
            "wrote 0x5eed00000002",
        ],
    );
    let killed = row(&out, "unlinked once opened");
    assert_eq!((killed[9], killed[12]), ("9", "false"), "{out}");
    let kept = row(&out, "kept its name");
    assert_eq!(
        (kept[10], kept[13]),
        ("9", "true"),
        "the Python-style leak:\n{out}"
    );
    for line in out.lines() {
        if let Some(i) = line.find("/dev/shm/") {
            let path = line[i..].split_whitespace().next().unwrap();
            assert!(!Path::new(path).exists(), "{path} left behind");
        }
    }
    assert_usage_errors(
        bin,
        &[
            &["--bytes", "0"],
            &["--bytes", "8"],
            &["--bytes", "99999999999999"],
            &["--role", "bogus"],
        ],
    );
}

#[test]
fn file_backed_mmap_persists_and_truncation_is_sigbus() {
    let bin = env!("CARGO_BIN_EXE_file-backed-mmap");
    let out = run_clean(bin, &["--pages", "3"], 60);
    assert!(out.contains("(12288 bytes)"), "{out}");
    assert_eq!(row(&out, "writer process").last(), Some(&"0"));
    assert_eq!(row(&out, "reader process").last(), Some(&"0"));
    assert!(
        out.contains("writer 0xf11e0000000a, reader 0xf11e0000000b"),
        "{out}"
    );
    assert!(
        row(&out, "touch after truncate").contains(&"SIGBUS,"),
        "{out}"
    );
    let temp = row(&out, "shared file")[2];
    assert!(!Path::new(temp).exists(), "{temp} left behind");
    assert_usage_errors(
        bin,
        &[&["--pages", "0"], &["--pages", "5000"], &["--pages", "-1"]],
    );
}

#[test]
fn manager_process_is_slower_than_shared_memory() {
    let bin = env!("CARGO_BIN_EXE_manager-process");
    let out = run_clean_speed(bin, &["--ops", "2000"], 60);
    let before_ns = |label| {
        let r = row(&out, label);
        let i = r.iter().position(|w| *w == "ns").unwrap();
        r[i - 1].parse::<f64>().unwrap()
    };
    let (manager, shared) = (before_ns("manager"), before_ns("shared memory"));
    assert!(manager > 0.0 && shared > 0.0, "{out}");
    assert_contains_all(
        &out,
        &[
            "Exited(Pid(",
            "shared store: true, parent saw the server's: true",
        ],
    );
    assert_usage_errors(
        bin,
        &[
            &["--ops", "0"],
            &["--keys", "9999999999"],
            &["--ops", "18446744073709551615"],
            &["--ops", "1000000"], // would run for minutes
        ],
    );
}

#[test]
fn programs_are_quiet_when_piped_into_head() {
    for bin in [
        env!("CARGO_BIN_EXE_named-shm"),
        env!("CARGO_BIN_EXE_file-backed-mmap"),
        env!("CARGO_BIN_EXE_shared-counter"),
    ] {
        let _guard = serial();
        let before = ours();
        assert_quiet_under_head(&format!("'{bin}'"), 60);
        let left = left_behind(&before);
        assert!(left.is_empty(), "{bin} | head -1 left {left:?}");
    }
}

#[test]
fn killed_programs_leave_no_process_behind() {
    let long_runs: [(&str, &[&str]); 3] = [
        (
            env!("CARGO_BIN_EXE_shared-counter"),
            &["--iterations", "10000000"],
        ),
        (env!("CARGO_BIN_EXE_manager-process"), &["--ops", "300000"]),
        (
            env!("CARGO_BIN_EXE_shared-array"),
            &["--elements", "30000000"],
        ),
    ];
    for (bin, args) in long_runs {
        let _guard = serial();
        let mut program = std::process::Command::new(bin)
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it has forked its workers, then kill it mid-run.
        let forked = wait_until(Duration::from_secs(10), || running(bin).len() >= 2);
        assert!(forked, "{bin} never forked");
        program.kill().unwrap();
        program.wait().unwrap();
        // Its children die with it (PR_SET_PDEATHSIG).
        let left = wait_gone(Duration::from_secs(5), || running(bin));
        assert_eq!(left, Vec::<u32>::new(), "{bin} left children running");
    }
}

#[test]
fn ctrl_c_and_sigterm_clean_up_and_exit_130_and_143() {
    for (bin, signal, code) in [
        (env!("CARGO_BIN_EXE_named-shm"), "INT", 130),
        (env!("CARGO_BIN_EXE_named-shm"), "TERM", 143),
        (env!("CARGO_BIN_EXE_file-backed-mmap"), "INT", 130),
        (env!("CARGO_BIN_EXE_file-backed-mmap"), "TERM", 143),
    ] {
        let _guard = serial();
        let before = ours();
        // The hidden flag sends the signal to the program (and its helper)
        // at the moment it holds a name: deterministic, unlike a timed kill.
        let (got, _, stderr) = output(
            Command::new(bin)
                .arg(format!("--interrupt-self={signal}"))
                .timeout(Duration::from_secs(60)),
        );
        assert_eq!(got, code, "{bin} {signal}: {stderr}");
        let line = format!("error: stopped by SIG{signal}, after cleaning up\n");
        assert_eq!(stderr, line, "{bin}");
        let left = left_behind(&before);
        assert!(left.is_empty(), "{bin} left {left:?}");
        let left = wait_gone(Duration::from_secs(5), || running(bin));
        assert_eq!(left, Vec::<u32>::new(), "{bin} left helpers");
    }
}

#[test]
fn the_leak_check_flags_a_dead_owner_only() {
    let _guard = serial();
    let before = ours();
    let dead = (400_000..).find(|&pid| !pid_exists(pid)).unwrap();
    let leaked = format!("/dev/shm/lesson-shm-{dead}-0-test");
    let live = format!("/dev/shm/lesson-shm-{}-0-test", std::process::id());
    for path in [&leaked, &live] {
        std::fs::write(path, b"").unwrap();
    }
    let found = left_behind(&before);
    for path in [&leaked, &live] {
        std::fs::remove_file(path).unwrap();
    }
    assert_eq!(found, vec![leaked]);
}

const ALL: [(&str, &[&str]); 6] = [
    (env!("CARGO_BIN_EXE_map-anon-is-private"), &[]),
    (
        env!("CARGO_BIN_EXE_shared-counter"),
        &["--iterations", "20000"],
    ),
    (
        env!("CARGO_BIN_EXE_shared-array"),
        &["--elements", "100000"],
    ),
    (env!("CARGO_BIN_EXE_named-shm"), &[]),
    (env!("CARGO_BIN_EXE_file-backed-mmap"), &[]),
    (env!("CARGO_BIN_EXE_manager-process"), &["--ops", "200"]),
];

#[test]
fn a_full_stdout_is_one_line_exit_74_and_nothing_left() {
    for (bin, args) in ALL {
        let _guard = serial();
        let before = ours();
        assert_output_error(bin, args, 120);
        let left = left_behind(&before);
        assert!(left.is_empty(), "{bin} > /dev/full left {left:?}");
    }
}

/// SIGKILL in the first milliseconds leaves what the program had made and
/// not yet removed (it runs no cleanup); the next run sweeps the names
/// whose owner is dead before it makes its own.
#[test]
fn a_sigkill_early_leaks_only_until_the_next_run() {
    for bin in [
        env!("CARGO_BIN_EXE_named-shm"),
        env!("CARGO_BIN_EXE_file-backed-mmap"),
    ] {
        let _guard = serial();
        let before = ours();
        for i in 0..12u64 {
            let mut program = std::process::Command::new(bin)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(2 * i));
            program.kill().unwrap();
            program.wait().unwrap();
            // Its helpers die with it (PR_SET_PDEATHSIG), a moment later.
            let left = wait_gone(Duration::from_secs(5), || running(bin));
            assert_eq!(left, Vec::<u32>::new(), "{bin} left helpers");
        }
        let leaked = left_behind(&before).len();
        let (code, out, err) = run(bin, &[], 60);
        assert_eq!(code, 0, "{bin}\n{out}\n{err}");
        let left = left_behind(&before);
        assert!(
            left.is_empty(),
            "{bin}: {leaked} leaked by SIGKILL, {left:?} left after a run"
        );
    }
}

#[test]
fn the_internal_roles_refuse_a_file_or_segment_they_did_not_make() {
    let mmap = env!("CARGO_BIN_EXE_file-backed-mmap");
    let dir = tempfile::tempdir().unwrap();
    let precious = dir.path().join("precious.txt");
    std::fs::write(&precious, [7u8; 8192]).unwrap();
    let short = dir.path().join("short");
    std::fs::write(&short, b"tiny").unwrap();
    for (role, path) in [("writer", &precious), ("reader", &short)] {
        let path = path.to_str().unwrap();
        assert_usage_errors(mmap, &[&["--role", role, "--path", path]]);
    }
    assert_eq!(
        std::fs::read(&precious).unwrap(),
        [7u8; 8192],
        "overwritten"
    );
    assert_eq!(std::fs::read(&short).unwrap(), b"tiny");
    assert_usage_errors(
        mmap,
        &[&["--role", "writer"], &["--role", "boss", "--path", "x"]],
    );
    let shm = env!("CARGO_BIN_EXE_named-shm");
    // Named as the test's (the program's parent): the missing owner marker
    // refuses it. Named as another process's: the name refuses it.
    let me = std::process::id();
    for (owner, why) in [(me, "no owner marker"), (me + 1, "refusing to open it")] {
        let foreign = format!("/lesson-shm-{owner}-0-foreign");
        let path = Path::new("/dev/shm").join(&foreign[1..]);
        std::fs::write(&path, [0u8; 4096]).unwrap();
        let (code, out, err) = run(shm, &["--role", "open", "--name", &foreign], 30);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!((code, out.as_str()), (2, ""), "{err}");
        assert!(err.contains(why) && err.lines().count() == 1, "{err}");
        assert!(bytes.iter().all(|&b| b == 0), "the opener wrote into it");
    }
    assert_usage_errors(shm, &[&["--name", "/x"], &["--role", "open"]]);
}

/// Out of processes: a program that cannot fork says so in one line and
/// exits 71, never a hang or a panic. Root ignores the process limit, so
/// the program runs as `nobody` (`setpriv`) under `prlimit --nproc=3`.
#[test]
fn no_process_to_spare_is_one_line_and_exit_71() {
    let me = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    let tools = ["setpriv", "prlimit"].iter().all(|t| {
        std::process::Command::new(t)
            .arg("--version")
            .output()
            .is_ok()
    });
    if me.ok() != Some(0) || !tools {
        eprintln!("not checked: needs root with setpriv and prlimit (util-linux)");
        return;
    }
    for (bin, args) in [
        (
            env!("CARGO_BIN_EXE_shared-counter"),
            &["--processes", "8", "--iterations", "1000"][..],
        ),
        (env!("CARGO_BIN_EXE_shared-array"), &["--workers", "8"][..]),
    ] {
        let _guard = serial();
        let before = ours();
        let (code, out, err) = output(
            Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .args(["prlimit", "--nproc=3", bin])
                .args(args)
                .timeout(Duration::from_secs(60)),
        );
        if err.contains("Permission denied") {
            eprintln!("not checked: nobody cannot run {bin}");
            return;
        }
        assert_eq!(code, 71, "{bin}\n{out}\n{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("cannot fork: the process limit is reached"),
            "{err}"
        );
        let left = left_behind(&before);
        assert!(left.is_empty(), "{bin} left {left:?}");
    }
}
