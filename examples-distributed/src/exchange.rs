//! Records between two timely workers: a one-way stream (throughput) and
//! one record there and back (latency), on two threads of one process or
//! on two processes over loopback TCP.
//!
//! Worker 0 sends every record to worker 1 (`exchange(|_| 1)`); each record
//! is a message of `examples_shared_memory::ring::stream` (sequence number,
//! body, checksum), and worker 1 verifies every one and that each arrived
//! exactly once, so the figures count only intact records. Worker 0 keeps
//! a few batches in flight (it waits on a probe), as a bounded channel
//! would. The round trip sends one record to worker 1 and back and waits
//! until the probe says it has come home: that is timely's latency,
//! progress tracking included.
//!
//! ```
//! use examples_distributed::exchange::{self, Plan};
//! let plan = Plan { small: 64, small_count: 500, large: 4096, large_count: 50, rounds: 20 };
//! let f = exchange::on_threads(&plan)?;
//! assert_eq!(f.verified, 550);
//! assert!(f.round_trip.as_nanos() > 0);
//! # Ok::<(), String>(())
//! ```

use std::cell::RefCell;
use std::ffi::OsString;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use examples_shared_memory::ring::stream::{
    Messages, StreamError, Transfer, over_pipe, over_ring, verify,
};
use timely::dataflow::operators::{Exchange, Input, Inspect, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};
use timely::worker::Worker;

use crate::cluster::{self, ClusterError, Member};
use crate::launch::{self, LaunchError};

/// Batches of records worker 0 lets be in flight before it waits.
const IN_FLIGHT: u64 = 4;
/// Records per batch (one timestamp).
const BATCH: u64 = 256;

/// Sizes and counts of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Bytes of a small record (at least 16).
    pub small: usize,
    /// Small records in the stream.
    pub small_count: u64,
    /// Bytes of a large record (at least 16).
    pub large: usize,
    /// Large records in the stream.
    pub large_count: u64,
    /// Round trips of one small record.
    pub rounds: u64,
}

impl Plan {
    /// A fingerprint, so processes with different plans refuse each other.
    pub fn fingerprint(&self) -> u64 {
        cluster::fingerprint(&format!("exchange {self:?}"))
    }
}

/// What worker 0 timed and worker 1 verified.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// The small-record stream, first send to the probe passing the last.
    pub small: Duration,
    /// The large-record stream.
    pub large: Duration,
    /// One round trip (the mean over the rounds).
    pub round_trip: Duration,
    /// Records worker 1 received intact, exactly once.
    pub verified: u64,
}

impl Figures {
    /// The line a cluster process prints and [`Figures::from_lines`] reads.
    pub fn line(&self) -> String {
        format!(
            "result: small {:.9} large {:.9} round_trip {:.9} verified {}",
            self.small.as_secs_f64(),
            self.large.as_secs_f64(),
            self.round_trip.as_secs_f64(),
            self.verified
        )
    }

    /// Reads and merges the lines of both processes (the times from
    /// process 0, the count from process 1).
    pub fn from_lines(outputs: &[String]) -> Option<Self> {
        let mut f = Figures::default();
        let mut found = false;
        for out in outputs {
            let Some(line) = out.lines().find_map(|l| l.strip_prefix("result: ")) else {
                continue;
            };
            found = true;
            let w: Vec<&str> = line.split_whitespace().collect();
            let get = |k: &str| -> Option<f64> {
                w.get(w.iter().position(|x| *x == k)? + 1)?.parse().ok()
            };
            let secs = |k: &str| get(k).map(Duration::from_secs_f64).unwrap_or_default();
            f.small = f.small.max(secs("small"));
            f.large = f.large.max(secs("large"));
            f.round_trip = f.round_trip.max(secs("round_trip"));
            f.verified += get("verified").unwrap_or(0.0) as u64;
        }
        found.then_some(f)
    }
}

/// Worker 0 streams `count` records of `len` bytes to worker 1; returns
/// (time at worker 0, records verified at worker 1).
fn stream(worker: &mut Worker, count: u64, len: usize) -> Result<(Duration, u64), String> {
    let me = worker.index();
    let state = Rc::new(RefCell::new((
        vec![false; count as usize],
        0u64,
        None::<String>,
    )));
    let seen = Rc::clone(&state);
    let mut input = InputHandle::new();
    let probe = ProbeHandle::new();
    worker.dataflow::<u64, _, _>(|scope| {
        scope
            .input_from(&mut input)
            .container::<Vec<Vec<u8>>>()
            .exchange(|_| 1)
            .inspect(move |msg: &Vec<u8>| {
                let mut s = seen.borrow_mut();
                if s.2.is_some() {
                    return;
                }
                let seq = msg
                    .get(..8)
                    .map_or(u64::MAX, |b| u64::from_le_bytes(b.try_into().expect("8")));
                let fresh =
                    s.0.get_mut(seq as usize)
                        .map(|x| !std::mem::replace(x, true));
                match (verify(msg, seq, len), fresh) {
                    (Ok(()), Some(true)) => s.1 += 1,
                    (Ok(()), _) => {
                        s.2 = Some(format!("record {seq} arrived twice or out of range"))
                    }
                    (Err(e), _) => s.2 = Some(e.to_string()),
                }
            })
            .probe_with(&probe);
    });
    let start = Instant::now();
    if me == 0 {
        let mut messages = Messages::new(len);
        for seq in 0..count {
            input.send(messages.get(seq).to_vec());
            if (seq + 1) % BATCH == 0 {
                let epoch = (seq + 1) / BATCH;
                input.advance_to(epoch);
                while probe.less_than(&epoch.saturating_sub(IN_FLIGHT)) {
                    worker.step();
                }
            }
        }
    }
    input.close();
    while !probe.done() {
        worker.step();
    }
    let elapsed = start.elapsed();
    let s = state.borrow();
    if let Some(e) = &s.2 {
        return Err(e.clone());
    }
    if me == 1 && s.1 != count {
        return Err(format!("{} of {count} records arrived", s.1));
    }
    Ok((elapsed, s.1))
}

/// `rounds` times: one record from worker 0 to worker 1 and back.
fn round_trip(worker: &mut Worker, rounds: u64, len: usize) -> Duration {
    let mut input = InputHandle::new();
    let probe = ProbeHandle::new();
    worker.dataflow::<u64, _, _>(|scope| {
        scope
            .input_from(&mut input)
            .container::<Vec<Vec<u8>>>()
            .exchange(|_| 1)
            .exchange(|_| 0)
            .probe_with(&probe);
    });
    let record = vec![0x5a_u8; len];
    let start = Instant::now();
    for round in 0..rounds {
        if worker.index() == 0 {
            input.send(record.clone());
        }
        input.advance_to(round + 1);
        while probe.less_than(&(round + 1)) {
            worker.step();
        }
    }
    input.close();
    while !probe.done() {
        worker.step();
    }
    start.elapsed() / rounds.max(1) as u32
}

/// The whole plan on this worker (there must be exactly 2 workers).
pub fn figures(worker: &mut Worker, plan: &Plan) -> Result<Figures, String> {
    if worker.peers() != 2 {
        return Err(format!(
            "the exchange needs 2 workers, not {}",
            worker.peers()
        ));
    }
    let (small, a) = stream(worker, plan.small_count, plan.small)?;
    let (large, b) = stream(worker, plan.large_count, plan.large)?;
    let round_trip = round_trip(worker, plan.rounds, plan.small);
    Ok(Figures {
        small,
        large,
        round_trip,
        verified: if worker.index() == 1 { a + b } else { 0 },
    })
}

fn merge(parts: impl IntoIterator<Item = Result<Figures, String>>) -> Result<Figures, String> {
    let mut f = Figures::default();
    for p in parts {
        let p = p?;
        f.small = f.small.max(p.small);
        f.large = f.large.max(p.large);
        f.round_trip = f.round_trip.max(p.round_trip);
        f.verified += p.verified;
    }
    Ok(f)
}

/// Two worker threads in this process.
pub fn on_threads(plan: &Plan) -> Result<Figures, String> {
    let plan = plan.clone();
    let guards = timely::execute(timely::Config::process(2), move |w| figures(w, &plan))?;
    merge(guards.join().into_iter().map(|r| r.and_then(|f| f)))
}

/// This process's part of a 2-process cluster.
pub fn in_cluster(member: &Member, plan: &Plan) -> Result<Result<Figures, String>, ClusterError> {
    let p = plan.clone();
    let parts = member.execute(plan.fingerprint(), move |w| figures(w, &p))?;
    Ok(merge(parts))
}

/// The flags a cluster process needs for this plan.
pub fn member_args(plan: &Plan) -> Vec<String> {
    [
        ("--small", plan.small.to_string()),
        ("--small-count", plan.small_count.to_string()),
        ("--large", plan.large.to_string()),
        ("--large-count", plan.large_count.to_string()),
        ("--rounds", plan.rounds.to_string()),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_string(), v])
    .collect()
}

/// Two processes of `exe` (one worker each) over loopback TCP; `exe` must
/// run [`in_cluster`] given `--process I --hosts FILE` and [`member_args`].
pub fn on_processes(exe: &Path, plan: &Plan, env: &[(&str, &str)]) -> Result<Figures, LaunchError> {
    let extra = member_args(plan);
    let args = |i: usize, hosts: &str| {
        let mut a: Vec<OsString> = vec![
            "--process".into(),
            i.to_string().into(),
            "--hosts".into(),
            hosts.into(),
        ];
        a.extend(extra.iter().map(OsString::from));
        a
    };
    let done = launch::run(exe, 2, args, env, Duration::from_secs(300), |_| {})?;
    Figures::from_lines(&done.stdout).ok_or_else(|| LaunchError {
        line: format!("the processes printed no result: {:?}", done.stdout),
        code: 1,
    })
}

/// The workspace's own figures for the same plan, measured without timely:
/// the one-way streams of `examples_shared_memory::ring::stream` (pipe and
/// ring) and [`echo_round_trip`] over both.
#[derive(Debug, Clone, Copy)]
pub struct Baselines {
    /// Small messages through a pipe, then through a ring.
    pub small: [Transfer; 2],
    /// Large messages through a pipe, then through a ring.
    pub large: [Transfer; 2],
    /// One small message there and back: pipe, ring.
    pub round_trip: [Duration; 2],
}

impl Baselines {
    /// Measures them all, each once. Each one forks, so call it while the
    /// process is single-threaded: the fork refuses otherwise (an error).
    pub fn measure(plan: &Plan) -> Result<Self, StreamError> {
        let capacity = (plan.large + 16).next_power_of_two().max(1 << 20) * 2;
        let (s, l) = (plan.small_count, plan.large_count);
        Ok(Self {
            small: [
                over_pipe(s, plan.small)?,
                over_ring(s, plan.small, capacity)?,
            ],
            large: [
                over_pipe(l, plan.large)?,
                over_ring(l, plan.large, capacity)?,
            ],
            round_trip: [
                echo_round_trip(plan.rounds, plan.small, false)?,
                echo_round_trip(plan.rounds, plan.small, true)?,
            ],
        })
    }
}

/// The same round trip between two processes of this machine, without
/// timely: `rounds` times one `len`-byte message to a forked echo child
/// and back, through a pipe pair (`ring == false`) or a pair of
/// shared-memory rings (`examples_shared_memory::ring`). Returns the mean.
/// It forks, so the process must be single-threaded: the fork refuses
/// otherwise (an error).
pub fn echo_round_trip(rounds: u64, len: usize, ring: bool) -> std::io::Result<Duration> {
    use examples_shared_memory::child;
    use examples_shared_memory::ring::Ring;
    use std::io::{Read, Write};
    let limit = Duration::from_secs(20);
    let msg = vec![0x5a_u8; len.max(1)];
    let mut buf = Vec::with_capacity(msg.len());
    let start;
    if ring {
        let cap = (msg.len() + 16).next_power_of_two().max(4096) * 4;
        let (there, back) = (Ring::new(cap)?, Ring::new(cap)?);
        let echo = || {
            let (Ok(mut rx), Ok(mut tx)) = (there.consumer(), back.producer()) else {
                return 1;
            };
            let mut buf = Vec::new();
            while rx.recv_timeout(&mut buf, limit).is_ok() {
                if tx.send(&buf).is_err() {
                    return 1;
                }
            }
            0
        };
        let mut child = child::fork(echo)?;
        let (mut tx, mut rx) = (
            there.producer().map_err(io_err)?,
            back.consumer().map_err(io_err)?,
        );
        start = Instant::now();
        for _ in 0..rounds {
            tx.send(&msg).map_err(io_err)?;
            rx.recv_timeout(&mut buf, limit).map_err(io_err)?;
        }
        let elapsed = start.elapsed();
        drop(tx);
        child.wait_timeout(limit)?;
        return Ok(elapsed / rounds.max(1) as u32);
    }
    let (there_r, there_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (back_r, back_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let mut ends = Some((
        std::fs::File::from(there_r),
        std::fs::File::from(back_w),
        std::fs::File::from(there_w),
        std::fs::File::from(back_r),
    ));
    let n = msg.len();
    let echo = || {
        let (mut r, mut w, parent_w, parent_r) = ends.take().expect("once");
        // The parent's ends, copied by fork: closed, or EOF never comes.
        drop((parent_w, parent_r));
        let mut buf = vec![0u8; n];
        while r.read_exact(&mut buf).is_ok() {
            if w.write_all(&buf).is_err() {
                return 1;
            }
        }
        0
    };
    let mut child = child::fork(echo)?;
    let (child_r, child_w, mut w, mut r) = ends.take().expect("the parent's copy");
    drop((child_r, child_w)); // the child's ends
    buf.resize(n, 0);
    start = Instant::now();
    for _ in 0..rounds {
        w.write_all(&msg)?;
        r.read_exact(&mut buf)?;
    }
    let elapsed = start.elapsed();
    drop(w);
    child.wait_timeout(limit)?;
    Ok(elapsed / rounds.max(1) as u32)
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}
