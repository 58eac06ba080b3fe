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

use anyhow::{Result, ensure};
use clap::Parser;
use examples_multiprocessing::frame;
use examples_multiprocessing::measure::{self, frame_costs};

#[derive(Parser)]
struct Args {
    /// Messages to send (at most 10000000).
    #[arg(long, default_value_t = 200_000, value_parser = lesson::at_least_one)]
    messages: usize,
    /// f64 values per message (at most 4096).
    #[arg(long, default_value_t = 8, value_parser = lesson::at_least_one)]
    values: usize,
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
    let c = frame_costs(a.messages.min(100_000), v)?;
    let (enc, dec, bytes) = (c.encode_ns, c.decode_ns, c.frame_bytes);
    println!("encode         {enc:>8.0} ns/message ({bytes:.0} bytes framed)");
    println!("decode         {dec:>8.0} ns/message");
    // Frames through a pipe to a forked child (build + encode + write, read
    // + decode), then the same number of bytes, raw.
    let framed = measure::framed_through_pipe(n, v)?;
    let total = (bytes * n as f64) as u64;
    let raw = measure::raw_through_pipe(total)?;
    let mb = total as f64 / 1e6;
    for (label, took) in [("pipe, framed", framed), ("pipe, raw   ", raw)] {
        let ns = took.as_nanos() as f64 / n as f64;
        let rate = mb / took.as_secs_f64();
        println!("{label}   {ns:>8.0} ns/message  {mb:>7.1} MB  {rate:>7.0} MB/s");
    }
    let refused = frame::split(&[0xff, 0xff, 0xff, 0xff, 0]);
    match &refused {
        Err(e) => println!("corrupt length refused: {e}"),
        Ok(_) => println!("corrupt length accepted (bug)"),
    }
    println!(
        "lesson: a frame is length + encoding; the encoding, not the pipe, is most of the cost per small message (Python pays it in pickle)"
    );
    ensure!(refused.is_err(), "a 4 GiB length prefix was not refused");
    Ok(())
}
