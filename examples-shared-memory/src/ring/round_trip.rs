//! Latency: one message to a forked child and back, `count` times, over two
//! [`Ring`]s or two pipes, each echo checked (the same messages, sequence
//! numbers and checksums as [`super::stream`]).
//!
//! A round trip is where spinning matters most: each side waits for the
//! other once per message. On two cores the ring's waiter catches the reply
//! while spinning, with no system call; with both sides on one core it
//! yields the CPU to its peer at once ([`super::wait::Spin`]), so a round
//! trip costs two `sched_yield` calls where a pipe's costs two `write` and
//! two `read` calls, each with the same two context switches.

use std::io::{self, BufReader, Write};
use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;

use super::Ring;
use super::stream::{
    Messages, STALL, StreamError, Transfer, consume, join, read_frame, recv_watching,
    spawn_producer,
};
use crate::measure::cpu_time;

/// Times `count` (at least 2) round trips with `trip(seq, buf)`, which
/// sends message `seq` and receives the echo into `buf`; the first trip
/// only starts the clock (the stream's [`consume`], counting the trips).
fn time_trips(
    count: u64,
    len: usize,
    mut trip: impl FnMut(u64, &mut Vec<u8>) -> Result<(), String>,
) -> Result<Transfer, StreamError> {
    let mut seq = 0;
    consume(count, len, |buf| {
        let sent = seq;
        seq += 1;
        trip(sent, buf)
    })
}

/// `count` round trips of a `len`-byte message to a forked child through
/// two rings (64 KiB each, or four messages' worth): there on one, back on
/// the other.
///
/// Forks, so the calling process must be single-threaded.
pub fn over_ring(count: u64, len: usize) -> Result<Transfer, StreamError> {
    let count = count.max(2);
    let cpu = cpu_time();
    let capacity = (4 * (len + 16)).max(64 << 10);
    let (down, up) = (Ring::new(capacity)?, Ring::new(capacity)?);
    let echo = || {
        let mut rx = down.consumer().map_err(io::Error::other)?;
        let mut tx = up.producer().map_err(io::Error::other)?;
        let mut buf = Vec::with_capacity(len);
        for _ in 0..count {
            rx.recv_timeout(&mut buf, STALL).map_err(io::Error::other)?;
            tx.send(&buf).map_err(io::Error::other)?;
        }
        Ok(())
    };
    let mut child = spawn_producer(echo)?;
    let mut tx = down.producer().map_err(io::Error::other)?;
    let mut rx = up.consumer().map_err(io::Error::other)?;
    let mut messages = Messages::new(len);
    let transfer = time_trips(count, len, |seq, buf| {
        tx.send(messages.get(seq)).map_err(|e| e.to_string())?;
        recv_watching(&mut rx, buf, &mut child)
    })?;
    drop((tx, rx));
    join(child)?;
    Ok(Transfer {
        cpu: cpu_time().saturating_sub(cpu),
        ..transfer
    })
}

/// The same round trips through two pipes: each message goes as one
/// `write(2)` of `[len: u64][payload]` and comes back the same way.
///
/// Forks, so the calling process must be single-threaded.
pub fn over_pipe(count: u64, len: usize) -> Result<Transfer, StreamError> {
    let count = count.max(2);
    let cpu = cpu_time();
    let (down_r, down_w): (OwnedFd, OwnedFd) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let (up_r, up_w): (OwnedFd, OwnedFd) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let mut ends = Some((down_r, up_w));
    let mut record = Vec::with_capacity(8 + len);
    let echo = || {
        let (from, to) = ends.take().expect("the child takes its ends once");
        let (mut from, mut to) = (std::fs::File::from(from), std::fs::File::from(to));
        let mut buf = Vec::with_capacity(len);
        for _ in 0..count {
            read_frame(&mut from, &mut buf, len).map_err(io::Error::other)?;
            frame(&mut record, &buf);
            to.write_all(&record)?;
        }
        Ok(())
    };
    let child = spawn_producer(echo)?;
    drop(ends); // the child's ends: EOF comes when the child's copies close
    let (mut to, from) = (std::fs::File::from(down_w), std::fs::File::from(up_r));
    let mut from = BufReader::with_capacity(64 * 1024, from);
    let mut messages = Messages::new(len);
    let mut record = Vec::with_capacity(8 + len);
    let transfer = time_trips(count, len, |seq, buf| {
        frame(&mut record, messages.get(seq));
        to.write_all(&record).map_err(|e| format!("write: {e}"))?;
        read_frame(&mut from, buf, len)
    })?;
    drop(to);
    join(child)?;
    Ok(Transfer {
        cpu: cpu_time().saturating_sub(cpu),
        ..transfer
    })
}

/// `[len: u64][payload]` into `record`, as [`read_frame`] reads it.
fn frame(record: &mut Vec<u8>, payload: &[u8]) {
    record.clear();
    record.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    record.extend_from_slice(payload);
}
