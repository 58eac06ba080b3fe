//! Typed messages over a pipe: length-prefixed serde frames, and what the
//! encoding costs next to moving raw bytes.
//!
//! Notice: a pipe is a byte stream, so each message carries its length
//! (4 bytes) before its postcard encoding, and the reader cuts the stream
//! there; encoding and decoding cost tens to hundreds of nanoseconds per
//! message, while raw bytes move at memory-copy speed. A corrupt length
//! prefix is refused, never allocated. Reach for frames whenever processes
//! exchange structured data over a pipe or socket; batch small messages.
//! Python: `multiprocessing.Connection.send` is the same design with
//! pickle (`pickle.dumps` plus a 4-byte length), and pickling each object
//! is the overhead every `Pool` task and result pays. Exits 0 when every
//! message arrived intact and the corrupt frame was refused; 1 otherwise.

use std::fs::File;
use std::io::{Read, Write};
use std::time::Instant;

use anyhow::{Result, ensure};
use clap::Parser;
use examples_multiprocessing::fork::fork_single_threaded;
use examples_multiprocessing::frame::{self, FrameReader};
use nix::fcntl::OFlag;
use serde::{Deserialize, Serialize};

#[derive(Parser)]
struct Args {
    /// Messages to send (at most 10000000).
    #[arg(long, default_value_t = 200_000, value_parser = lesson::at_least_one)]
    messages: usize,
    /// f64 values per message (at most 4096).
    #[arg(long, default_value_t = 8, value_parser = lesson::at_least_one)]
    values: usize,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Reading {
    id: u64,
    sensor: String,
    values: Vec<f64>,
}

fn reading(id: u64, values: usize) -> Reading {
    Reading {
        id,
        sensor: format!("sensor-{}", id % 16),
        values: (0..values).map(|k| (id + k as u64) as f64).collect(),
    }
}

fn main() -> std::process::ExitCode {
    examples_multiprocessing::fork::exit_code(run())
}

fn run() -> Result<()> {
    let a: Args = lesson::args();
    if a.messages > 10_000_000 || a.values > 4096 {
        lesson::usage_error("at most 10000000 messages of at most 4096 values");
    }
    let (n, v) = (a.messages as u64, a.values);

    // Encoding alone, in this process.
    let sample: Vec<Reading> = (0..n.min(100_000)).map(|i| reading(i, v)).collect();
    let t = Instant::now();
    let mut wire = Vec::new();
    for r in &sample {
        frame::encode(r, &mut wire)?;
    }
    let encode_ns = t.elapsed().as_nanos() as f64 / sample.len() as f64;
    let t = Instant::now();
    let mut reader = FrameReader::new(&wire[..]);
    while let Some(r) = reader.read::<Reading>()? {
        std::hint::black_box(r);
    }
    let decode_ns = t.elapsed().as_nanos() as f64 / sample.len() as f64;
    let frame_bytes = wire.len() as f64 / sample.len() as f64;
    println!("encode         {encode_ns:>8.0} ns/message ({frame_bytes:.0} bytes framed)");
    println!("decode         {decode_ns:>8.0} ns/message");

    // Frames through a pipe to a forked child: build + encode + write, read + decode.
    let t = Instant::now();
    let (pipe, mut child) = pipe_to_child(n, v, true)?;
    let (mut got, mut id_sum, mut reader) = (0u64, 0u64, FrameReader::new(pipe));
    while let Some(r) = reader.read::<Reading>()? {
        let intact = r.values.len() == v && r.values[v - 1] == (r.id + v as u64 - 1) as f64;
        ensure!(
            intact && r.sensor.starts_with("sensor-"),
            "message {} arrived damaged",
            r.id
        );
        (got, id_sum) = (got + 1, id_sum + r.id);
    }
    let framed = t.elapsed();
    child.wait()?;
    ensure!(
        got == n && id_sum == n * (n - 1) / 2,
        "received {got} of {n} messages"
    );
    let total = (frame_bytes * n as f64) as u64;

    // The same number of bytes, raw.
    let t = Instant::now();
    let (mut pipe, mut child) = pipe_to_child(total, v, false)?;
    let (mut buf, mut raw_bytes) = (vec![0u8; 64 << 10], 0u64);
    while let Ok(k @ 1..) = pipe.read(&mut buf) {
        raw_bytes += k as u64;
    }
    let raw = t.elapsed();
    child.wait()?;
    ensure!(
        raw_bytes == total,
        "raw transfer moved {raw_bytes} of {total} bytes"
    );
    let mb = total as f64 / 1e6;
    println!(
        "pipe, framed   {:>8.0} ns/message  {mb:>7.1} MB  {:>7.0} MB/s",
        framed.as_nanos() as f64 / n as f64,
        mb / framed.as_secs_f64()
    );
    println!(
        "pipe, raw      {:>8.0} ns/message  {mb:>7.1} MB  {:>7.0} MB/s",
        raw.as_nanos() as f64 / n as f64,
        mb / raw.as_secs_f64()
    );

    let refused = frame::split(&[0xff, 0xff, 0xff, 0xff, 0]);
    println!(
        "corrupt length {}",
        refused
            .as_ref()
            .err()
            .map_or("accepted (bug)".into(), |e| format!("refused: {e}"))
    );
    println!(
        "lesson: a frame is length + encoding; the encoding, not the pipe, is most of the cost per small message (Python pays it in pickle)"
    );
    ensure!(refused.is_err(), "a 4 GiB length prefix was not refused");
    Ok(())
}

/// Forks a child that writes `n` framed readings (or `n` raw bytes) into a
/// pipe and exits; returns the read end and the child.
fn pipe_to_child(
    n: u64,
    values: usize,
    framed: bool,
) -> Result<(File, examples_multiprocessing::fork::Child)> {
    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    // The closure owns the write end: the child writes through it, and the
    // parent's copy closes when the closure is dropped after the fork.
    let child = fork_single_threaded(move || {
        let mut out = File::from(write_end);
        let mut buf = Vec::with_capacity(128 << 10);
        let mut left = n;
        while left > 0 {
            if framed {
                let _ = frame::encode(&reading(n - left, values), &mut buf);
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
