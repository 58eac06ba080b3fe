//! What the pool programs measure, as functions you can call on your own
//! pool: best-of-N wall time, the speedup of a pool over sequential work
//! with the CPU its workers really got, the pool's own cost per task across
//! chunksizes, how a small job spread over the workers, and what recycling
//! workers costs; and what a [frame](crate::frame) costs to encode, decode
//! and send through a pipe, next to raw bytes.
//!
//! Wall time on a shared machine measures the scheduler as much as the
//! work, so each timing is the best of several runs, and [`Speedup`] also
//! reports CPU time (which load does not inflate): how many CPUs the
//! workers got, and how much of their CPU went to the tasks themselves.
//!
//! ```no_run
//! use examples_multiprocessing::measure;
//!
//! let sweep = measure::per_task_costs(2, 10_000, 3, &[1, 100])?;
//! println!("{:.3} us/task at chunksize 1", sweep.window[0]);
//! assert!(sweep.spread.iter().all(|&n| n > 0)); // a small job reached every worker
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use nix::fcntl::OFlag;
use serde::{Deserialize, Serialize};

use process_pool::frame::{self, FrameReader};
use process_pool::{DEFAULT_MAX_IN_FLIGHT, Pool};
pub use process_toolkit::best_of;
use process_toolkit::{Child, fork as fork_single_threaded, thread_cpu_time};

use crate::cpu_work::{rounds_per_ms, spin};

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// How many times faster `other` is than `base`.
pub fn ratio(base: Duration, other: Duration) -> f64 {
    base.as_secs_f64() / other.as_secs_f64().max(1e-9)
}

/// One CPU-bound job run sequentially and on a pool; see [`speedup`].
/// Displays as aligned lines: times, ratios, CPUs, efficiency.
#[derive(Debug, Clone)]
pub struct Speedup {
    /// Workers in the pool.
    pub workers: usize,
    /// Tasks in the job.
    pub tasks: u64,
    /// Milliseconds of CPU work per task.
    pub task_ms: usize,
    /// Best sequential time, in this process.
    pub sequential: Duration,
    /// Best time of `Pool::map`.
    pub map: Duration,
    /// Best time of `Pool::imap_unordered`, drained.
    pub imap: Duration,
    /// How soon `imap_unordered` handed over its first result.
    pub first_result: Duration,
    /// The workers' CPU time over the pool's wall time: CPUs they really got.
    pub cpus: f64,
    /// Sequential CPU time over the workers' CPU time for the same work
    /// (1.0: no overhead); `None` when too little CPU time was used to count
    /// in clock ticks (under 0.2 s).
    pub efficiency: Option<f64>,
}

impl Speedup {
    /// How many times faster `map` was than sequential.
    pub fn map_x(&self) -> f64 {
        ratio(self.sequential, self.map)
    }

    /// How many times faster `imap_unordered` was than sequential.
    pub fn imap_x(&self) -> f64 {
        ratio(self.sequential, self.imap)
    }

    /// Whether the workers got the CPUs to show a speedup: at least 1.5 on
    /// average (with 2 or more workers). On a busy machine they do not, and
    /// the speed claim cannot be checked.
    pub fn got_the_cores(&self) -> bool {
        self.workers >= 2 && self.cpus >= 1.5
    }

    /// The speed claim of a pool with the cores it needs: both `map` and
    /// `imap_unordered` beat sequential by 1.25x (the margin for a loaded
    /// 2-core machine), and at least 80% of the workers' CPU time went to
    /// the tasks (when enough CPU time was used to count it).
    pub fn speed_holds(&self) -> bool {
        self.map_x().min(self.imap_x()) >= 1.25 && self.efficiency.is_none_or(|e| e >= 0.8)
    }

    /// Why [`speed_holds`](Self::speed_holds) is false, in one line.
    pub fn why_not(&self) -> String {
        let x = self.map_x().min(self.imap_x());
        match self.efficiency {
            Some(e) if e < 0.8 => {
                format!("the pool spent {:.0}% extra CPU", (1.0 / e - 1.0) * 100.0)
            }
            _ => format!("pool speedup {x:.2}x is below 1.25x"),
        }
    }
}

impl fmt::Display for Speedup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, w) = (self.tasks, self.workers);
        let (seq, map, imap) = (ms(self.sequential), ms(self.map), ms(self.imap));
        let (map_x, imap_x) = (self.map_x(), self.imap_x());
        writeln!(
            f,
            "sequential          {n:>6} tasks x {:>4} ms  {seq:>8.1} ms",
            self.task_ms
        )?;
        writeln!(
            f,
            "pool map            {w:>6} workers          {map:>8.1} ms  {map_x:.2}x"
        )?;
        writeln!(
            f,
            "pool imap_unordered {w:>6} workers          {imap:>8.1} ms  {imap_x:.2}x"
        )?;
        let first = ms(self.first_result);
        writeln!(f, "imap_unordered      first result after  {first:>8.1} ms")?;
        writeln!(f, "workers were busy   {:>6.2} CPUs on average", self.cpus)?;
        match self.efficiency {
            Some(e) => write!(
                f,
                "pool CPU efficiency {:>6.1} % of worker CPU was task work: up to {:.2}x on {w} idle cores",
                e * 100.0,
                e * w as f64
            ),
            None => write!(
                f,
                "pool CPU efficiency    n/a (too little CPU time to count in clock ticks)"
            ),
        }
    }
}

/// Forks a pool of `workers` and runs `tasks` tasks of [`spin`], each
/// calibrated to `task_ms` of CPU, sequentially, with `map` and with
/// `imap_unordered` (`rounds` times each, keeping the best), checking that
/// every answer equals the sequential one.
pub fn speedup(workers: usize, tasks: u64, task_ms: usize, rounds: usize) -> Result<Speedup> {
    let rounds_per_task = rounds_per_ms() * task_ms as u64;
    // The calibrated length is state captured before the fork: a build-time job.
    let mut builder = Pool::builder(workers);
    let job = builder.job(move |s: u64| spin(s, rounds_per_task));
    let mut pool = builder.build()?;
    let cpu_time = process_pool::testing::cpu_time;
    let (mut seq, mut map, mut imap) = (Duration::MAX, Duration::MAX, Duration::MAX);
    let (mut pool_wall, mut seq_cpu, cpu_before) =
        (Duration::ZERO, Duration::ZERO, cpu_time(&pool));
    for _ in 0..rounds.max(1) {
        let (t, c) = (Instant::now(), thread_cpu_time());
        let expected: Vec<u64> = (0..tasks).map(|s| spin(s, rounds_per_task)).collect();
        seq = seq.min(t.elapsed());
        seq_cpu += thread_cpu_time() - c;
        let t = Instant::now();
        let mapped: Vec<u64> = pool
            .map(job, 0..tasks)?
            .into_iter()
            .collect::<Result<_, _>>()?;
        map = map.min(t.elapsed());
        let t2 = Instant::now();
        let mut unordered = vec![0; tasks as usize];
        for r in pool.imap_unordered(job, 0..tasks)? {
            let (i, v) = r?;
            unordered[i] = v;
        }
        imap = imap.min(t2.elapsed());
        pool_wall += t.elapsed();
        ensure!(
            mapped == expected && unordered == expected,
            "pool results differ from the sequential ones"
        );
    }
    let pool_cpu = (cpu_time(&pool) - cpu_before).as_secs_f64();
    // An iterator dropped early leaves tasks in flight that the pool discards.
    let t = Instant::now();
    pool.imap_unordered(job, 0..tasks)?.next().transpose()?;
    Ok(Speedup {
        workers,
        tasks,
        task_ms,
        sequential: seq,
        map,
        imap,
        first_result: t.elapsed(),
        cpus: pool_cpu / pool_wall.as_secs_f64().max(1e-9),
        // The pool did the sequential work twice per round (map, imap_unordered).
        efficiency: (pool_cpu >= 0.2).then(|| 2.0 * seq_cpu.as_secs_f64() / pool_cpu),
    })
}

/// A tiny task: one multiplication.
pub fn tiny(x: u64) -> u64 {
    x.wrapping_mul(x)
}

/// Wall time per task, in microseconds, of `pool.map` over `n` [`tiny`]
/// tasks, `chunksize` per message, checking the results.
pub fn per_task_us(pool: &mut Pool, n: usize, chunksize: usize) -> Result<f64> {
    let t = Instant::now();
    let out = pool.chunked(chunksize).map(tiny, 0..n as u64)?;
    let us = t.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64;
    for (x, r) in out.into_iter().enumerate() {
        let x = x as u64;
        ensure!(r? == x.wrapping_mul(x), "wrong tiny result for {x}");
    }
    Ok(us)
}

/// The pool's own cost per tiny task at each chunksize; see
/// [`per_task_costs`]. Displays as a table and the spread line.
#[derive(Debug, Clone)]
pub struct PerTaskCosts {
    /// The chunksizes, one column each.
    pub chunksizes: Vec<usize>,
    /// us/task with one chunk in flight per worker (a round trip per chunk).
    pub one_in_flight: Vec<f64>,
    /// us/task with the default window of chunks in flight.
    pub window: Vec<f64>,
    /// Tasks per worker of a job of 4 tasks per worker, run on the windowed
    /// pool after the sweep (windows of hundreds of chunks by then).
    pub spread: Vec<usize>,
}

/// Runs `tiny` tiny tasks at each of `chunksizes` (best of `rounds`) on two
/// pools of `workers`: one chunk in flight per worker, and the default
/// window. The one-in-flight pool makes at most `tiny / 100` round trips,
/// so it finishes in reasonable time.
pub fn per_task_costs(
    workers: usize,
    tiny: usize,
    rounds: usize,
    chunksizes: &[usize],
) -> Result<PerTaskCosts> {
    let mut rows = [Vec::new(), Vec::new()];
    let mut spread = Vec::new();
    for (row, window) in [(0, 1), (1, DEFAULT_MAX_IN_FLIGHT)] {
        let mut pool = Pool::builder(workers).max_in_flight(window).build()?;
        for &chunksize in chunksizes {
            let n = if window == 1 {
                (tiny / 100 * chunksize).clamp(1, tiny)
            } else {
                tiny
            };
            rows[row].push(best_of(rounds, || per_task_us(&mut pool, n, chunksize))?);
        }
        if window > 1 {
            per_task_us(&mut pool, 4 * workers, 1)?;
            spread = pool.tasks_per_worker().to_vec();
        }
    }
    let [one_in_flight, window] = rows;
    Ok(PerTaskCosts {
        chunksizes: chunksizes.to_vec(),
        one_in_flight,
        window,
        spread,
    })
}

impl fmt::Display for PerTaskCosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tiny tasks, us/task chunksize")?;
        for c in &self.chunksizes {
            write!(f, " {c:>7}")?;
        }
        for (label, row) in [
            ("one chunk in flight", &self.one_in_flight),
            ("pipelined (window)", &self.window),
        ] {
            write!(f, "\n{label:<29}")?;
            for us in row {
                write!(f, " {us:>7.3}")?;
            }
        }
        let (small, spread) = (self.spread.iter().sum::<usize>(), &self.spread);
        let w = spread.len();
        write!(
            f,
            "\nsmall job spread    {small:>6} tasks on {w} workers: {spread:?} tasks per worker"
        )
    }
}

/// Runs `tiny` tiny tasks on a pool of `workers` that retires each worker
/// after `every` tasks; returns how many workers retired and the cost in
/// us/task.
pub fn recycling(workers: usize, tiny: usize, every: usize) -> Result<(usize, f64)> {
    let mut pool = Pool::builder(workers).max_tasks_per_child(every).build()?;
    let us = per_task_us(&mut pool, tiny, 1)?;
    let retired = pool.replacements().iter().filter(|r| r.retired).count();
    Ok((retired, us))
}

/// A sample message for the frame measurements: a number, a short string
/// and a few floats, like a sensor reading.
#[derive(Serialize, Deserialize, PartialEq, Debug)]
pub struct Reading {
    /// Its position in the stream.
    pub id: u64,
    /// `sensor-0` .. `sensor-15`.
    pub sensor: String,
    /// `values` floats: `id`, `id + 1`, ...
    pub values: Vec<f64>,
}

impl Reading {
    /// Reading number `id`, with `values` floats.
    pub fn new(id: u64, values: usize) -> Self {
        Reading {
            id,
            sensor: format!("sensor-{}", id % 16),
            values: (0..values).map(|k| (id + k as u64) as f64).collect(),
        }
    }

    /// A cheap check that this reading arrived whole: `values` floats, the
    /// last one right, a sensor name.
    pub fn intact(&self, values: usize) -> bool {
        let last = (self.id + values as u64).saturating_sub(1) as f64;
        self.values.len() == values
            && self.values.last().is_none_or(|&x| x == last)
            && self.sensor.starts_with("sensor-")
    }
}

/// What a frame costs in this process; see [`frame_costs`].
#[derive(Debug, Clone, Copy)]
pub struct FrameCosts {
    /// Nanoseconds to encode one [`Reading`] into a frame.
    pub encode_ns: f64,
    /// Nanoseconds to cut one frame from a buffer and decode it.
    pub decode_ns: f64,
    /// Bytes per frame, length prefix included.
    pub frame_bytes: f64,
}

/// Encodes `n` readings of `values` floats into one buffer, then decodes
/// them all: the cost of the encoding alone, without a pipe.
pub fn frame_costs(n: usize, values: usize) -> Result<FrameCosts> {
    let sample: Vec<Reading> = (0..n.max(1) as u64)
        .map(|i| Reading::new(i, values))
        .collect();
    let t = Instant::now();
    let mut wire = Vec::new();
    for r in &sample {
        frame::encode(r, &mut wire)?;
    }
    let encode = t.elapsed();
    let t = Instant::now();
    let mut reader = FrameReader::new(&wire[..]);
    while let Some(r) = reader.read::<Reading>()? {
        std::hint::black_box(r);
    }
    let per = |d: Duration| d.as_nanos() as f64 / sample.len() as f64;
    Ok(FrameCosts {
        encode_ns: per(encode),
        decode_ns: per(t.elapsed()),
        frame_bytes: wire.len() as f64 / sample.len() as f64,
    })
}

/// What the reading end of a pipe counted; see [`framed_through_pipe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Messages read, decoded and found intact (0 for raw bytes).
    pub messages: u64,
    /// Bytes read, length prefixes included.
    pub bytes: u64,
    /// Wall time of the whole transfer, fork included.
    pub took: Duration,
}

/// Forks a child that builds, encodes and writes `n` readings of `values`
/// floats into a pipe; reads, decodes, checks and counts every one. The
/// counts are the reader's: a message that did not arrive is not counted
/// (and is an error).
pub fn framed_through_pipe(n: u64, values: usize) -> Result<Received> {
    let t = Instant::now();
    let (pipe, mut child) = pipe_to_child(n, values, true)?;
    let (mut got, mut id_sum, mut bytes) = (0u64, 0u64, 0u64);
    let mut reader = FrameReader::new(pipe);
    while let Some(payload) = reader.next_payload()? {
        bytes += (frame::HEADER + payload.len()) as u64;
        let r: Reading = frame::decode(payload)?;
        ensure!(r.intact(values), "message {} arrived damaged", r.id);
        (got, id_sum) = (got + 1, id_sum + r.id);
    }
    let took = t.elapsed();
    child.wait()?;
    let expected = n * n.saturating_sub(1) / 2;
    ensure!(
        got == n && id_sum == expected,
        "received {got} of {n} messages"
    );
    Ok(Received {
        messages: got,
        bytes,
        took,
    })
}

/// Forks a child that writes `bytes` raw bytes into a pipe and reads them
/// all, counting them.
pub fn raw_through_pipe(bytes: u64) -> Result<Received> {
    let t = Instant::now();
    let (mut pipe, mut child) = pipe_to_child(bytes, 0, false)?;
    let (mut buf, mut got) = (vec![0u8; 64 << 10], 0u64);
    while let Ok(k @ 1..) = pipe.read(&mut buf) {
        got += k as u64;
    }
    let took = t.elapsed();
    child.wait()?;
    ensure!(got == bytes, "raw transfer moved {got} of {bytes} bytes");
    Ok(Received {
        messages: 0,
        bytes: got,
        took,
    })
}

/// Forks a child that writes `n` framed readings (or `n` raw bytes) into a
/// pipe and exits; returns the read end and the child.
fn pipe_to_child(n: u64, values: usize, framed: bool) -> Result<(File, Child)> {
    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    // The closure owns the write end: the child writes through it, and the
    // parent's copy closes when the closure is dropped after the fork.
    let child = fork_single_threaded(move || {
        let mut out = File::from(write_end);
        let mut buf = Vec::with_capacity(128 << 10);
        let mut left = n;
        while left > 0 {
            if framed {
                let _ = frame::encode(&Reading::new(n - left, values), &mut buf);
                left -= 1;
            } else {
                let k = left.min(64 << 10);
                buf.resize(k as usize, 7);
                left -= k;
            }
            if buf.len() >= 64 << 10 || left == 0 {
                if out.write_all(&buf).is_err() {
                    return 1;
                }
                buf.clear();
            }
        }
        0
    })?;
    Ok((File::from(read_end), child))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_of_keeps_the_shortest_and_ratio_divides() {
        let mut runs = [30u64, 10, 20].into_iter();
        let best = best_of(3, || {
            Ok::<_, ()>(Duration::from_millis(runs.next().unwrap()))
        });
        assert_eq!(best, Ok(Duration::from_millis(10)));
        assert_eq!(ms(Duration::from_micros(1500)), 1.5);
        assert_eq!(
            ratio(Duration::from_millis(30), Duration::from_millis(10)),
            3.0
        );
    }

    #[test]
    fn frame_costs_are_measured_per_message() {
        let c = frame_costs(100, 8).unwrap();
        assert!(c.encode_ns > 0.0 && c.decode_ns > 0.0);
        // The 4-byte prefix, the id (8), "sensor-N" (an 8-byte count and 8
        // or 9 bytes), the floats (an 8-byte count, 8 of 8 bytes).
        assert!((100.0..=101.0).contains(&c.frame_bytes), "{c:?}");
    }
}
