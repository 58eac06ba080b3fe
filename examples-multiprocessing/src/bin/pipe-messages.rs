//! Typed messages over a pipe: length-prefixed serde frames, and what the
//! encoding costs next to moving raw bytes.
//!
//! Notice: a pipe is a byte stream, so each message carries its length
//! (4 bytes) before its serde encoding (the pool's fixed-width codec,
//! `process_pool::codec`), and the reader cuts the stream
//! there; encoding and decoding cost tens to hundreds of nanoseconds per
//! message, while raw bytes move at memory-copy speed. A corrupt length
//! prefix is refused, never allocated. Reach for frames whenever processes
//! exchange structured data over a pipe or socket; batch small messages.
//! Python: `multiprocessing.Connection.send` is the same design with
//! pickle (`pickle.dumps` plus a 4-byte length), and pickling each object
//! is the overhead every `Pool` task and result pays. Exits 0 when every
//! message arrived intact (counted by the reader) and the corrupt frame
//! was refused; 1 otherwise; 71 when the system refuses a pipe or process.

use clap::Parser;
use examples_multiprocessing::failure::failure;
use examples_multiprocessing::frame;
use examples_multiprocessing::measure::{self, frame_costs};
use lesson::Failure;

/// Typed messages over a pipe: frames against raw bytes.
#[derive(Parser)]
struct Args {
    /// Messages to send.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=MAX_MESSAGES))]
    messages: u64,
    /// f64 values per message.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=MAX_VALUES))]
    values: u64,
}

/// Limits that keep the largest run within about 20 s of a debug build
/// on 2 busy cores (1_000_000 x 32 took 41 s there, at a load of 9).
const MAX_MESSAGES: u64 = 500_000;
const MAX_VALUES: u64 = 32;

fn main() -> std::process::ExitCode {
    lesson::main(run)
}

fn run() -> Result<(), Failure> {
    let a: Args = lesson::args();
    let (n, v) = (a.messages, a.values as usize);
    // Encoding alone, in this process.
    let c = frame_costs(n.min(100_000) as usize, v).map_err(failure)?;
    let (enc, dec, bytes) = (c.encode_ns, c.decode_ns, c.frame_bytes);
    println!("encode         {enc:>8.0} ns/message ({bytes:.0} bytes framed)");
    println!("decode         {dec:>8.0} ns/message");
    // Frames through a pipe to a forked child (build + encode + write, read
    // + decode, each message checked and counted), then as many bytes, raw.
    let framed = measure::framed_through_pipe(n, v).map_err(failure)?;
    let (got, framed_bytes) = (framed.messages, framed.bytes);
    println!("received       {got} messages intact, {framed_bytes} bytes (counted by the reader)");
    let raw = measure::raw_through_pipe(framed_bytes).map_err(failure)?;
    for (label, r) in [("pipe, framed", framed), ("pipe, raw   ", raw)] {
        // Per message of the framed run: the raw run moved the same bytes.
        let ns = r.took.as_nanos() as f64 / got.max(1) as f64;
        let mb = r.bytes as f64 / 1e6;
        let rate = mb / r.took.as_secs_f64();
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
    if refused.is_ok() {
        return Err(Failure::claim("a 4 GiB length prefix was not refused"));
    }
    Ok(())
}
