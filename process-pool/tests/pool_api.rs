//! The pool's hard behaviours, driven through its API. `harness = false`:
//! this `main` is single-threaded, so it may fork (a test harness runs
//! threads). Each case checks that exactly the expected task failed, naming
//! its pid and signal; that every other result equals the sequential
//! answer; and that no child and no new descriptor is left. Prints each
//! case; exits 1 on any failure.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, raise};
use process_pool::testing::{live_children, new_fds_per_worker, open_fds};
use process_pool::{CancelToken, Death, Error, Pool};

fn square(x: u64) -> u64 {
    x * x
}

/// Kills its own worker on task `N` (each `N` is a function of its own,
/// zero-sized, as the pool wants).
fn crash_on<const N: u64>(x: u64) -> u64 {
    if x == N {
        let _ = raise(Signal::SIGKILL);
    }
    square(x)
}

fn panic_on_3(x: u64) -> u64 {
    assert!(x != 3, "task 3 panics on purpose");
    square(x)
}

/// A result that cannot be encoded when it holds 5.
#[derive(Debug, PartialEq, serde::Deserialize)]
struct Picky(u64);

impl serde::Serialize for Picky {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            5 => Err(serde::ser::Error::custom("5 is not sent")),
            n => s.serialize_u64(n),
        }
    }
}

/// Panics on task 3; task 5's result cannot be sent.
fn picky(x: u64) -> Picky {
    assert!(x != 3, "task 3 panics on purpose");
    Picky(x)
}

fn hang_on_2(x: u64) -> u64 {
    if x == 2 {
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    square(x)
}

fn slow(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(20));
    square(x)
}

fn slower(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(300));
    square(x)
}

type Check = Result<(), String>;
type Case = (&'static str, fn() -> Check);

fn ensure(ok: bool, what: impl FnOnce() -> String) -> Check {
    if ok { Ok(()) } else { Err(what()) }
}

/// Every result but `bad` equals the sequential answer.
fn others_right(results: &[Result<u64, Error>], bad: Option<usize>) -> Check {
    for (i, r) in results.iter().enumerate() {
        if Some(i) == bad {
            continue;
        }
        match r {
            Ok(v) if *v == square(i as u64) => {}
            other => return Err(format!("task {i}: {other:?}")),
        }
    }
    Ok(())
}

fn killed_worker_mid_task() -> Check {
    let mut pool = Pool::new(2).map_err(|e| e.to_string())?;
    let pids = pool.pids();
    let out = pool
        .map(crash_on::<5>, 0..20u64)
        .map_err(|e| e.to_string())?;
    match &out[5] {
        Err(Error::WorkerDied {
            index: 5,
            pid,
            cause: Death::Signaled(Signal::SIGKILL),
        }) if pids.contains(pid) => {}
        other => return Err(format!("task 5: {other:?}")),
    }
    let e = out[5].as_ref().unwrap_err().to_string();
    ensure(e.contains("SIGKILL"), || e.clone())?;
    others_right(&out, Some(5))
}

/// The chunks queued behind the lost task are sent again, byte for byte.
fn killed_worker_with_a_full_window() -> Check {
    let mut pool = Pool::new(2).map_err(|e| e.to_string())?;
    let out = pool
        .chunked(7)
        .map(crash_on::<15_000>, 0..20_000u64)
        .map_err(|e| e.to_string())?;
    match &out[15_000] {
        Err(Error::WorkerDied { index: 15_000, .. }) => {}
        other => return Err(format!("task 15000: {other:?}")),
    }
    ensure(pool.replacements().len() == 1, || {
        format!("{:?}", pool.replacements())
    })?;
    others_right(&out, Some(15_000))
}

/// `try_map`: every value in order, or the first failure in input order
/// (here a killed worker's task before a panicking one), and the pool
/// stays good for the next call.
fn try_map_gives_values_or_the_first_failure() -> Check {
    let mut pool = Pool::new(2).map_err(|e| e.to_string())?;
    let squares = pool
        .chunked(64)
        .try_map(square, 0..10_000u64)
        .map_err(|e| e.to_string())?;
    ensure(
        squares
            .iter()
            .enumerate()
            .all(|(i, &s)| s == square(i as u64))
            && squares.len() == 10_000,
        || "wrong squares".into(),
    )?;
    let both = |x: u64| {
        if x == 3 {
            panic_on_3(x)
        } else {
            crash_on::<2>(x)
        }
    };
    match pool.chunked(2).try_map(both, 0..20u64) {
        Err(Error::WorkerDied { index: 2, .. }) => {}
        other => return Err(format!("crash at 2, panic at 3: {other:?}")),
    }
    match pool.try_map(panic_on_3, 0..20u64) {
        Err(Error::Panicked { index: 3, .. }) => {}
        other => return Err(format!("panic at 3: {other:?}")),
    }
    let again = pool.try_map(square, 0..100u64).map_err(|e| e.to_string())?;
    ensure(again == (0..100).map(square).collect::<Vec<_>>(), || {
        "wrong values after the failures".into()
    })
}

fn panicking_task() -> Check {
    let mut pool = Pool::new(2).map_err(|e| e.to_string())?;
    let out = pool.map(panic_on_3, 0..20u64).map_err(|e| e.to_string())?;
    match &out[3] {
        Err(Error::Panicked {
            index: 3, message, ..
        }) if message.contains("on purpose") => {}
        other => return Err(format!("task 3: {other:?}")),
    }
    ensure(pool.replacements().is_empty(), || {
        "a panic cost a worker".into()
    })?;
    others_right(&out, Some(3))?;
    // Within chunks: a panic, then a result that cannot be sent, each
    // failing its task alone, before, between and after values (chunks of
    // 8: the panic ends the chunk's run of values; of 4: the unsendable
    // result does).
    for chunk in [8, 4] {
        let out = pool
            .chunked(chunk)
            .map(picky, 0..20u64)
            .map_err(|e| e.to_string())?;
        for (i, r) in out.iter().enumerate() {
            let right = match (i, r) {
                (
                    3,
                    Err(Error::Panicked {
                        index: 3, message, ..
                    }),
                ) => message.contains("on purpose"),
                (5, Err(Error::Encode { index: 5, message })) => message.contains("5 is not sent"),
                (i, Ok(Picky(v))) => *v == i as u64 && i != 3 && i != 5,
                _ => false,
            };
            ensure(right, || format!("chunks of {chunk}, task {i}: {r:?}"))?;
        }
    }
    ensure(pool.replacements().is_empty(), || {
        "a failed task cost a worker".into()
    })
}

fn hung_task_under_timeout() -> Check {
    let mut pool = Pool::builder(2)
        .task_timeout(Duration::from_millis(300))
        .build()
        .map_err(|e| e.to_string())?;
    let out = pool.map(hang_on_2, 0..10u64).map_err(|e| e.to_string())?;
    match &out[2] {
        Err(Error::TimedOut { index: 2, .. }) => {}
        other => return Err(format!("task 2: {other:?}")),
    }
    others_right(&out, Some(2))
}

fn retirement() -> Check {
    let mut pool = Pool::builder(2)
        .max_tasks_per_child(3)
        .build()
        .map_err(|e| e.to_string())?;
    let out = pool.map(square, 0..30u64).map_err(|e| e.to_string())?;
    let retired = pool.replacements().iter().filter(|r| r.retired).count();
    ensure(retired >= 8, || format!("only {retired} workers retired"))?;
    others_right(&out, None)
}

fn cancel() -> Check {
    let token = CancelToken::new();
    let mut pool = Pool::builder(2)
        .cancel_token(token.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let mut seen = 0;
    for r in pool
        .imap_unordered(slow, 0..1000u64)
        .map_err(|e| e.to_string())?
    {
        match r {
            Ok(_) if seen < 3 => seen += 1,
            Ok(_) => token.cancel(),
            Err(Error::Cancelled) => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    ensure(token.is_cancelled(), || "never cancelled".into())?;
    match pool.map(square, [1u64]) {
        Err(Error::Cancelled) => Ok(()),
        other => Err(format!("a call after cancel: {other:?}")),
    }
}

fn ordered_imap_and_starmap() -> Check {
    let mut pool = Pool::new(2).map_err(|e| e.to_string())?;
    let first: Vec<u64> = pool
        .chunked(3)
        .imap(square, 0..)
        .map_err(|e| e.to_string())?
        .take(500)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    ensure(first == (0..500).map(square).collect::<Vec<_>>(), || {
        "imap order".into()
    })?;
    let sums = pool
        .starmap(|a: u64, b: u64| a + b, (0..50u64).map(|i| (i, i)))
        .map_err(|e| e.to_string())?;
    ensure(
        sums.iter()
            .enumerate()
            .all(|(i, r)| r.as_ref().ok() == Some(&(2 * i as u64))),
        || "starmap".into(),
    )
}

/// A kilobyte-long pattern per `(seed, i)`, repeated to `len` bytes.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seed as usize * 31 + i % 1021) as u8)
        .collect()
}

/// Turns a big item into a bigger result: both cross the lanes (64 KiB
/// each) in many pieces.
fn doubled(item: (u64, Vec<u8>)) -> Vec<u8> {
    let (seed, bytes) = item;
    assert!(
        bytes == pattern(seed, bytes.len()),
        "item {seed} arrived damaged"
    );
    [bytes.as_slice(), bytes.as_slice()].concat()
}

fn larger_than_a_lane() -> Check {
    let mut pool = Pool::new(2).map_err(|e| e.to_string())?;
    let items = (0..12u64).map(|seed| (seed, pattern(seed, 100_000 + seed as usize * 7_919)));
    // Chunks of 3 items, 300 KB of tasks and 600 KB of results each.
    let results = pool
        .chunked(3)
        .try_map(doubled, items.clone())
        .map_err(|e| e.to_string())?;
    ensure(results.len() == 12, || format!("{} results", results.len()))?;
    for ((seed, bytes), got) in items.zip(&results) {
        ensure(
            *got == [bytes.as_slice(), bytes.as_slice()].concat(),
            || format!("result {seed} damaged ({} bytes)", got.len()),
        )?;
    }
    // Tiny tasks after the big ones: the lanes kept their place.
    let squares = pool
        .chunked(64)
        .try_map(square, 0..5_000)
        .map_err(|e| e.to_string())?;
    ensure(
        squares == (0..5_000).map(square).collect::<Vec<_>>(),
        || "tiny tasks after big ones".into(),
    )
}

fn submit_and_wait_timeout() -> Check {
    let mut pool = Pool::new(2).map_err(|e| e.to_string())?;
    let pids = pool.pids();
    let e = |e: Error| e.to_string();
    // Both workers busy for 300 ms, so a third task waits in the parent.
    let (a, b) = (
        pool.submit(slower, 7).map_err(e)?,
        pool.submit(slower, 8).map_err(e)?,
    );
    let queued = pool.submit(slower, 9).map_err(e)?;
    ensure(
        a.wait_timeout(&mut pool, Duration::from_millis(20))
            .is_none(),
        || "a 300 ms task finished within 20 ms".into(),
    )?;
    ensure(queued.cancel(&mut pool) && !a.cancel(&mut pool), || {
        "cancel: the queued task is taken back, the running one is not".into()
    })?;
    match queued.wait(&mut pool) {
        Err(Error::Cancelled) => {}
        other => return Err(format!("a cancelled task: {other:?}")),
    }
    let handles = (0..20u64)
        .map(|x| pool.submit(crash_on::<5>, x))
        .collect::<Result<Vec<_>, _>>()
        .map_err(e)?;
    let out: Vec<Result<u64, Error>> = handles.into_iter().map(|h| h.wait(&mut pool)).collect();
    match &out[5] {
        Err(Error::WorkerDied {
            pid,
            cause: Death::Signaled(Signal::SIGKILL),
            ..
        }) if pids.contains(pid) => {}
        other => return Err(format!("task 5: {other:?}")),
    }
    others_right(&out, Some(5))?;
    for (h, x) in [(a, 7), (b, 8)] {
        match h.wait_timeout(&mut pool, Duration::from_secs(5)) {
            Some(Ok(v)) if v == square(x) => {}
            other => return Err(format!("slow task {x}: {other:?}")),
        }
    }
    Ok(())
}

/// The program starts a thread after build; a worker killed then is still
/// replaced (by the fork server), and the replacement holds only its pipes.
fn thread_then_killed_worker() -> Check {
    let e = |e: Error| e.to_string();
    let before = open_fds(None).map_err(|e| e.to_string())?;
    let mut pool = Pool::new(2).map_err(e)?;
    let (stop, parked) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || parked.recv());
    let threads = process_toolkit::thread_count().map_err(|e| e.to_string())?;
    ensure(threads == 2, || format!("{threads} threads, wanted 2"))?;
    let pids = pool.pids();
    let out = pool.map(crash_on::<5>, 0..20u64).map_err(e)?;
    match &out[5] {
        Err(
            err @ Error::WorkerDied {
                index: 5,
                pid,
                cause: Death::Signaled(Signal::SIGKILL),
            },
        ) if pids.contains(pid)
            && err
                .to_string()
                .contains(&format!("worker {pid} was killed by SIGKILL")) => {}
        other => return Err(format!("task 5: {other:?}")),
    }
    others_right(&out, Some(5))?;
    let replaced = pool.replacements();
    ensure(replaced.len() == 1 && replaced[0].new_pid.is_some(), || {
        format!("replacements {replaced:?}")
    })?;
    let fds =
        new_fds_per_worker(&pool, &before, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    ensure(fds == [2, 2], || {
        format!("new descriptors per worker {fds:?}")
    })?;
    others_right(&pool.map(square, 0..20u64).map_err(e)?, None)?;
    drop(pool);
    drop(stop);
    let _ = thread.join();
    // `join` returns when the thread's id is cleared, a moment before the
    // kernel takes it out of the process; the next case forks again.
    let deadline = Instant::now() + Duration::from_secs(1);
    while process_toolkit::thread_count().map_err(|e| e.to_string())? > 1 {
        ensure(Instant::now() < deadline, || "the thread never left".into())?;
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// The parent pid of `pid`, from `/proc/<pid>/stat`.
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(") ").next()?.split(' ').nth(1)?.parse().ok()
}

/// Whether `pid` runs (exists and is not a zombie).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(") ").next().is_some_and(|r| !r.starts_with('Z')))
}

/// Someone SIGKILLs the fork server: its workers die with it, and the next
/// call is an error (no replacement can be forked), not a hang.
fn server_killed() -> Check {
    let mut pool = Pool::new(2).map_err(|e| e.to_string())?;
    let pids = pool.pids();
    let server = parent_of(pids[0]).ok_or("no fork server")?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(server), Signal::SIGKILL)
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(1);
    while pids.iter().any(|&p| running(p)) {
        ensure(Instant::now() < deadline, || {
            format!("workers {pids:?} outlived their server by 1 s")
        })?;
        std::thread::sleep(Duration::from_millis(10));
    }
    let began = Instant::now();
    let out = pool.map(square, 0..10u64);
    ensure(began.elapsed() < Duration::from_secs(10), || {
        "a call on a pool without its server took 10 s".into()
    })?;
    match out {
        Err(Error::Spawn(e)) if e.to_string().contains("fork server") => {}
        other => return Err(format!("a call after the server died: {other:?}")),
    }
    match pool.map(square, [1u64]) {
        Err(Error::Broken { .. }) => Ok(()),
        other => Err(format!("the next call: {other:?}")),
    }
}

fn dropped_with_tasks_in_flight() -> Check {
    let mut pool = Pool::new(2).map_err(|e| e.to_string())?;
    let mut it = pool
        .imap_unordered(slow, 0..100u64)
        .map_err(|e| e.to_string())?;
    let _ = it.next();
    drop(it);
    drop(pool);
    Ok(())
}

/// Forks a child that builds a pool, reports its workers' pids and waits;
/// SIGKILLs the child; the workers must be gone within 1 s.
fn parent_killed() -> Check {
    let (read_end, write_end) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    let mut read_end = std::fs::File::from(read_end);
    let mut child = process_toolkit::fork(move || {
        let Ok(pool) = Pool::new(2) else { return 1 };
        let line = format!("{:?}\n", pool.pids());
        // SAFETY: writing a buffer we own to a pipe end we own.
        unsafe { libc::write(write_end.as_raw_fd(), line.as_ptr().cast(), line.len()) };
        std::thread::sleep(Duration::from_secs(30));
        0
    })
    .map_err(|e| e.to_string())?;
    let mut text = [0u8; 128];
    let n = read_end.read(&mut text).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&text[..n]).to_string();
    let pids: Vec<i32> = text
        .trim()
        .trim_matches(['[', ']'])
        .split(", ")
        .filter_map(|p| p.parse().ok())
        .collect();
    ensure(pids.len() == 2, || format!("pids {text:?}"))?;
    // The workers' parent is the pool's fork server; it must go too.
    let server = parent_of(pids[0]).ok_or_else(|| format!("no parent of {}", pids[0]))?;
    ensure(server != child.pid().as_raw(), || {
        "workers forked by the pool's process, not a server".into()
    })?;
    let pids: Vec<i32> = pids.into_iter().chain([server]).collect();
    child.kill_and_wait().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(1);
    while pids.iter().any(|&p| running(p)) {
        if Instant::now() > deadline {
            return Err(format!(
                "workers and server {pids:?} outlived their killed parent by 1 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn main() -> ExitCode {
    let cases: [Case; 14] = [
        ("a SIGKILLed worker mid-task", killed_worker_mid_task),
        (
            "try_map: the values, or the first failure",
            try_map_gives_values_or_the_first_failure,
        ),
        (
            "a SIGKILLed worker with a full window",
            killed_worker_with_a_full_window,
        ),
        ("a panicking task, an unsendable result", panicking_task),
        ("a hung task under a timeout", hung_task_under_timeout),
        ("max_tasks_per_child retirement", retirement),
        ("cancel through a token", cancel),
        ("ordered imap and starmap", ordered_imap_and_starmap),
        ("items and results larger than a lane", larger_than_a_lane),
        ("submit, wait_timeout, cancel", submit_and_wait_timeout),
        (
            "a thread started after build, then a worker killed",
            thread_then_killed_worker,
        ),
        (
            "the fork server killed: the next call fails, no hang",
            server_killed,
        ),
        (
            "a pool dropped with tasks in flight",
            dropped_with_tasks_in_flight,
        ),
        (
            "the parent SIGKILLed: workers and server gone within 1 s",
            parent_killed,
        ),
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in cases {
        let fds = open_fds(None).unwrap_or_default();
        let mut result = case();
        if result.is_ok() {
            let left = live_children().unwrap_or_default();
            let after = open_fds(None).unwrap_or_default();
            if !left.is_empty() {
                result = Err(format!("children left: {left:?}"));
            } else if after != fds {
                result = Err(format!("fds {fds:?} before, {after:?} after"));
            }
        }
        match result {
            Ok(()) => {
                passed += 1;
                println!("ok      {name}");
            }
            Err(e) => {
                failed += 1;
                println!("FAILED  {name}: {e}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
