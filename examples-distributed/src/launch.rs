//! Starting a whole cluster on this machine: N copies of a program, each
//! told `--process I --hosts FILE`, supervised until all of them end.
//!
//! The launcher binds one listening socket per process on a free loopback
//! port and hands it to the child on descriptor 3 (so no other program,
//! and no parallel test, can take the port in between), and the hostfile
//! on descriptor 4 as `/dev/fd/4`: an unlinked temporary file, so nothing
//! is left behind even if the launcher is killed. The children die with
//! the launcher (`PR_SET_PDEATHSIG`, from `examples_shared_memory::child`).
//!
//! When one child fails, the others get [`GRACE`] to notice and end by
//! themselves (they do, through [`crate::cluster::guard`]); whoever is
//! still running after that is killed. Every child is reaped.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use examples_shared_memory::child::{self, Spawned};

use crate::cluster::{self, Hosts, LISTEN_FD_ENV};

/// How long the others may take to end by themselves after one failed.
pub const GRACE: Duration = Duration::from_secs(3);

/// The hostfile path every child is given.
pub const HOSTFILE_IN_CHILD: &str = "/dev/fd/4";

/// A cluster that did not end well: one line and the exit code to end with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}")]
pub struct LaunchError {
    /// What happened, naming the process that failed first.
    pub line: String,
    /// The failed child's own code ([`cluster::PEER_LOST`] for one killed by
    /// a signal, [`cluster::STALLED`] when the launcher's limit passed).
    pub code: i32,
}

impl From<io::Error> for LaunchError {
    fn from(e: io::Error) -> Self {
        LaunchError {
            line: format!("cannot start the cluster: {e}"),
            code: cluster::SYSTEM,
        }
    }
}

/// What a cluster run printed, per process.
#[derive(Debug, Clone)]
pub struct Finished {
    /// Each process's stdout, in process order.
    pub stdout: Vec<String>,
    /// From starting the first process to reaping the last.
    pub wall: Duration,
}

struct Running {
    child: Spawned,
    status: Option<ExitStatus>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

/// Runs `processes` copies of `exe` as one cluster on loopback and waits
/// for them, at most `limit`. Child `i` gets `args(i, "/dev/fd/4")` and
/// the environment `env`; `started` is told the pids once all run.
pub fn run(
    exe: &Path,
    processes: usize,
    args: impl Fn(usize, &str) -> Vec<OsString>,
    env: &[(&str, &str)],
    limit: Duration,
    started: impl FnOnce(&[u32]),
) -> Result<Finished, LaunchError> {
    let t0 = Instant::now();
    let listeners = cluster::free_loopback_listeners(processes)?;
    let hosts = Hosts::of_listeners(&listeners)?;
    let mut hostfile: File = tempfile::tempfile()?;
    hostfile.write_all(hosts.text().as_bytes())?;
    hostfile.rewind()?;
    let mut running = Vec::with_capacity(processes);
    for (i, listener) in listeners.iter().enumerate() {
        let mut cmd = Command::new(exe);
        cmd.args(args(i, HOSTFILE_IN_CHILD))
            .env(LISTEN_FD_ENV, "3")
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (sock, file) = (listener.as_raw_fd(), hostfile.as_raw_fd());
        // SAFETY: runs in the child between fork and exec and calls only
        // fcntl, dup2 and close, which are async-signal-safe. The fds are
        // first copied above 10 so that putting one on 3 cannot overwrite
        // the other; dup2 leaves 3 and 4 without FD_CLOEXEC.
        unsafe {
            cmd.pre_exec(move || {
                let high_sock = libc::fcntl(sock, libc::F_DUPFD, 10);
                let high_file = libc::fcntl(file, libc::F_DUPFD, 10);
                if high_sock < 0
                    || high_file < 0
                    || libc::dup2(high_sock, 3) < 0
                    || libc::dup2(high_file, 4) < 0
                {
                    return Err(io::Error::last_os_error());
                }
                libc::close(high_sock);
                libc::close(high_file);
                Ok(())
            });
        }
        let mut child = child::spawn(&mut cmd)?;
        drop(child.inner().stdin.take()); // the children read nothing
        let stdout = child.inner().stdout.take().map(drain);
        let stderr = child.inner().stderr.take().map(drain);
        running.push(Running {
            child,
            status: None,
            stdout,
            stderr,
        });
    }
    drop(listeners); // each child has its own
    let pids: Vec<u32> = running.iter_mut().map(|r| r.child.inner().id()).collect();
    started(&pids);
    supervise(&mut running, t0 + limit, limit)?;
    Ok(Finished {
        stdout: running.iter_mut().map(|r| join(&mut r.stdout)).collect(),
        wall: t0.elapsed(),
    })
}

fn drain(mut from: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = from.read_to_string(&mut text);
        text
    })
}

fn join(handle: &mut Option<JoinHandle<String>>) -> String {
    handle
        .take()
        .and_then(|h| h.join().ok())
        .unwrap_or_default()
}

/// Waits until every child ended; on the first failure gives the others
/// [`GRACE`], then kills and reaps them.
fn supervise(
    running: &mut [Running],
    deadline: Instant,
    limit: Duration,
) -> Result<(), LaunchError> {
    let mut first_failure: Option<(usize, Instant)> = None;
    loop {
        for (i, r) in running.iter_mut().enumerate() {
            if r.status.is_none() {
                r.status = r.child.inner().try_wait()?;
                if let Some(st) = r.status
                    && !st.success()
                    && first_failure.is_none()
                {
                    first_failure = Some((i, Instant::now()));
                }
            }
        }
        let left = running.iter().filter(|r| r.status.is_none()).count();
        let now = Instant::now();
        let give_up = match first_failure {
            Some((_, at)) => now >= at + GRACE,
            None => now >= deadline,
        };
        if left == 0 || give_up {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut killed = Vec::new();
    for (i, r) in running.iter_mut().enumerate() {
        if r.status.is_none() {
            let _ = r.child.kill();
            killed.push(i.to_string());
        }
    }
    let stderr: Vec<String> = running.iter_mut().map(|r| join(&mut r.stderr)).collect();
    let Some((bad, _)) = first_failure else {
        if killed.is_empty() {
            return Ok(());
        }
        return Err(LaunchError {
            line: format!(
                "the cluster had no result after {} s; killed processes {}",
                limit.as_secs_f64(),
                killed.join(", ")
            ),
            code: cluster::STALLED,
        });
    };
    // The culprit: one killed by a signal, else one that did not just
    // report a lost peer, else the first that failed.
    let failed = |i: &usize| running[*i].status.is_some_and(|s| !s.success());
    let bad = (0..running.len())
        .filter(failed)
        .find(|&i| running[i].status.is_some_and(|s| s.signal().is_some()))
        .or_else(|| {
            (0..running.len())
                .filter(failed)
                .find(|&i| running[i].status.and_then(|s| s.code()) != Some(cluster::PEER_LOST))
        })
        .unwrap_or(bad);
    let status = running[bad].status.expect("the failed child was reaped");
    let pid = running[bad].child.inner().id();
    let (how, code) = match (status.code(), status.signal()) {
        (Some(c), _) => (format!("exited {c}"), c),
        (None, Some(s)) => (format!("was killed by signal {s}"), cluster::PEER_LOST),
        _ => ("ended".to_string(), cluster::PEER_LOST),
    };
    let said = last_error(&stderr[bad]);
    let others: Vec<String> = running
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != bad)
        .map(|(i, r)| match r.status.and_then(|s| s.code()) {
            _ if killed.contains(&i.to_string()) => {
                format!("{i} killed after {} s", GRACE.as_secs())
            }
            Some(c) => format!("{i} exit {c}"),
            None => format!("{i} killed by a signal"),
        })
        .collect();
    Err(LaunchError {
        line: format!(
            "process {bad} (pid {pid}) {how}{said}; the others: {}",
            if others.is_empty() {
                "none".to_string()
            } else {
                others.join(", ")
            }
        ),
        code,
    })
}

/// `": <its error line>"` when a child said one, else nothing.
fn last_error(stderr: &str) -> String {
    stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map_or(String::new(), |l| format!(": {l}"))
}
