//! What `spsc-ring` measures: the [`ring`](crate::ring) against a pipe,
//! as streams of small and large messages and as round trips of a small
//! one, on whatever CPUs the processes may use and, if asked, with both
//! pinned to one core; every message checked and counted by its receiver.

use std::fmt;

use crate::measure::{self, OnOneCpu};
use crate::ring::round_trip;
use crate::ring::stream::{self, MIN_MESSAGE, StreamError, Transfer};

/// Bytes of large messages in one stream: with the most runs and small
/// messages too, a release build ends within about 25 s on 2 cores.
pub const MAX_LARGE_BYTES: u64 = 512 << 20;

/// How much to send, and in what: `spsc-ring`'s flags, each limit stated
/// here once.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Plan {
    /// Messages in each small-message stream.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub small_count: u64,
    /// Messages in each large-message stream (count x size at most 512 MiB).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub large_count: u64,
    /// Round trips of a small message.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=200_000))]
    pub trips: u64,
    /// Runs of each measurement; the fastest counts.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=5))]
    pub runs: u64,
    /// Size of a small message in bytes.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(MIN_MESSAGE as u64..=4096))]
    pub small: u64,
    /// Size of a large message in bytes (it must fit in the ring).
    #[arg(long, default_value_t = 64 << 10, value_parser = clap::value_parser!(u64).range(MIN_MESSAGE as u64..=4 << 20))]
    pub large: u64,
    /// Ring capacity in bytes, for the streams (rounded up to a power of two).
    #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1..=256 << 20))]
    pub capacity: u64,
}

/// One placement's figures: each the fastest of [`Plan::runs`].
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// Where both processes ran: `None` for wherever the scheduler put
    /// them, `Some(cpu)` when both were pinned to that one.
    pub pinned: Option<usize>,
    /// Small-message streams.
    pub ring_small: Transfer,
    /// The same over a pipe.
    pub pipe_small: Transfer,
    /// Large-message streams.
    pub ring_large: Transfer,
    /// The same over a pipe.
    pub pipe_large: Transfer,
    /// The large stream's baseline, like for like: one thread sends,
    /// receives and verifies the same messages through the same ring
    /// ([`stream::over_one_thread`]), all the stream's work but the
    /// crossing.
    pub one_thread_large: Transfer,
    /// The same messages only copied in, once each, by one thread into a
    /// buffer of the ring's size ([`stream::over_memcpy`]): the producer's
    /// share alone, nothing received or verified.
    pub memcpy_large: Transfer,
    /// Small-message round trips (`messages`: trips timed).
    pub ring_trip: Transfer,
    /// The same over two pipes.
    pub pipe_trip: Transfer,
}

/// The figures on any CPU and, if measured, on one core.
#[derive(Debug, Clone, Copy)]
pub struct Placements {
    /// Wherever the scheduler put the processes.
    pub any: Figures,
    /// Both pinned to one CPU.
    pub one: Option<Figures>,
}

/// Messages that arrived intact and in order (counted by their receivers,
/// every run included) and the streams they came in.
#[derive(Debug, Clone, Copy, Default)]
pub struct Count {
    /// Messages.
    pub messages: u64,
    /// Streams (a series of round trips counts as one).
    pub streams: u64,
}

impl Plan {
    /// What the flags' ranges cannot say: one large message must fit in
    /// the ring, and a large stream carry at most [`MAX_LARGE_BYTES`].
    pub fn check(&self) -> Result<(), &'static str> {
        let ring = crate::ring::rounded_capacity(self.capacity as usize);
        if self.large as usize + 8 > ring || self.large_count * self.large > MAX_LARGE_BYTES {
            return Err(
                "--capacity must hold one --large message, and --large-count x --large be at most 512 MiB",
            );
        }
        Ok(())
    }

    /// Measures every row in this placement (fastest of `runs` each),
    /// adding what arrived to `count`.
    pub fn measure(&self, count: &mut Count) -> Result<Figures, StreamError> {
        let mut best = |measure: &mut dyn FnMut() -> Result<Transfer, StreamError>| {
            let mut counted = || {
                measure().inspect(|t| {
                    count.messages += t.received;
                    count.streams += 1;
                })
            };
            measure::cheapest(self.runs as usize, &mut counted, |t| t.elapsed)
        };
        let (p, cap) = (self, self.capacity as usize);
        let (small, large) = (p.small as usize, p.large as usize);
        let ring_small = best(&mut || stream::over_ring(p.small_count, small, cap))?;
        let pipe_small = best(&mut || stream::over_pipe(p.small_count, small))?;
        let ring_large = best(&mut || stream::over_ring(p.large_count, large, cap))?;
        // Baselines, in one process: not counted with the streams between two.
        let runs = self.runs as usize;
        let alone = || stream::over_one_thread(p.large_count, large, cap);
        let one_thread_large = measure::cheapest(runs, alone, |t| t.elapsed)?;
        let copy = || stream::over_memcpy(p.large_count, large, cap);
        let memcpy_large = measure::cheapest(runs, copy, |t| t.elapsed)?;
        Ok(Figures {
            pinned: None,
            ring_small,
            pipe_small,
            ring_large,
            one_thread_large,
            memcpy_large,
            pipe_large: best(&mut || stream::over_pipe(p.large_count, large))?,
            ring_trip: best(&mut || round_trip::over_ring(p.trips, small))?,
            pipe_trip: best(&mut || round_trip::over_pipe(p.trips, small))?,
        })
    }

    /// [`Plan::measure`], and then again on one core if `one_core`.
    pub fn measure_both(
        &self,
        one_core: bool,
        count: &mut Count,
    ) -> Result<Placements, StreamError> {
        let any = self.measure(count)?;
        let one = one_core
            .then(|| self.measure_on_one_core(count))
            .transpose()?;
        Ok(Placements { any, one })
    }

    /// [`Plan::measure`] with this process, and so both processes of each
    /// stream, pinned to one CPU (the set is restored afterwards).
    pub fn measure_on_one_core(&self, count: &mut Count) -> Result<Figures, StreamError> {
        let pin = OnOneCpu::pin()?;
        let figures = self.measure(count)?;
        Ok(Figures {
            pinned: Some(pin.cpu()),
            ..figures
        })
    }
}

impl Figures {
    /// Ring messages per second over the pipe's, small messages.
    pub fn small_x(&self) -> f64 {
        self.ring_small.messages_per_sec() / self.pipe_small.messages_per_sec()
    }

    /// Ring bytes per second over the pipe's, large messages.
    pub fn large_x(&self) -> f64 {
        self.ring_large.bytes_per_sec() / self.pipe_large.bytes_per_sec()
    }

    /// Ring bytes per second over one thread's doing the same work (copy
    /// in, copy out, verify) through the same ring.
    pub fn alone_x(&self) -> f64 {
        self.ring_large.bytes_per_sec() / self.one_thread_large.bytes_per_sec()
    }

    /// Ring bytes per second over one `memcpy` of the same messages' (copy
    /// in only).
    pub fn copy_x(&self) -> f64 {
        self.ring_large.bytes_per_sec() / self.memcpy_large.bytes_per_sec()
    }

    /// Pipe round-trip time over the ring's: above 1, the ring is faster.
    pub fn trip_x(&self) -> f64 {
        self.ring_trip.messages_per_sec() / self.pipe_trip.messages_per_sec()
    }

    /// Pipe CPU time per small message over the ring's.
    pub fn cpu_x(&self) -> f64 {
        self.pipe_small.cpu_ns_per_message() / self.ring_small.cpu_ns_per_message()
    }
}

/// Decimals for two significant digits however small a ratio is (a debug
/// build's ring is a few thousandths of a memcpy).
fn digits(x: f64) -> usize {
    if x > 0.0 && x < 0.1 {
        (1 - x.log10().floor() as i32).clamp(2, 6) as usize
    } else {
        2
    }
}

/// Microseconds per message (per round trip, for a round trip).
fn us_per(t: &Transfer) -> f64 {
    1e6 / t.messages_per_sec()
}

/// The rows, under a heading that says where the processes ran.
impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pinned {
            None => writeln!(f, "on any CPU (two cores where there are two):")?,
            Some(cpu) => writeln!(f, "on one core (both processes pinned to cpu {cpu}):")?,
        }
        let (small, large) = (self.ring_small.bytes, self.ring_large.bytes);
        let sizes = [
            small / self.ring_small.messages,
            large / self.ring_large.messages,
        ];
        for (len, ring, pipe) in [
            (sizes[0], &self.ring_small, &self.pipe_small),
            (sizes[1], &self.ring_large, &self.pipe_large),
        ] {
            let len = format!("{len} B");
            writeln!(f, "ring  {len:<12} {ring}\npipe  {len:<12} {pipe}")?;
        }
        let len = format!("{} B", sizes[1]);
        writeln!(f, "1 thread {len:<9} {}", self.one_thread_large)?;
        writeln!(f, "memcpy {len:<11} {}", self.memcpy_large)?;
        for (name, t) in [("ring", &self.ring_trip), ("pipe", &self.pipe_trip)] {
            let (us, cpu) = (us_per(t), t.cpu_ns_per_message());
            let len = format!("{} B", sizes[0]);
            writeln!(
                f,
                "{name}  round trip {len:<8} {us:>9.2} us/trip {cpu:>18.0} ns cpu/trip"
            )?;
        }
        Ok(())
    }
}

impl Placements {
    /// Every row, then the ratios against their targets, one line each.
    pub fn report(&self) -> String {
        let (any, mut out) = (&self.any, self.any.to_string());
        if let Some(one) = &self.one {
            out += &one.to_string();
        }
        let mut line = |text: String| {
            out += &text;
            out.push('\n');
        };
        line(format!(
            "ring/pipe  small msg/s {:>6.1}x  (target >= 10x)",
            any.small_x()
        ));
        line(format!(
            "ring/pipe  large bytes {:>6.1}x  (target >= 4x)",
            any.large_x()
        ));
        let (alone_x, copy_x) = (any.alone_x(), any.copy_x());
        let (a, c) = (digits(alone_x), digits(copy_x));
        line(format!(
            "ring/1 thread large    {alone_x:>6.a$}x  (like for like: one thread sends, receives and verifies through the same ring)"
        ));
        line(format!(
            "ring/memcpy large      {copy_x:>6.c$}x  (target >= 0.8x; memcpy: the copy in only, nothing received or verified)"
        ));
        line(format!(
            "pipe/ring  round trip  {:>6.1}x  (target >= 10x)",
            any.trip_x()
        ));
        if let Some(one) = &self.one {
            let x = one.trip_x();
            line(format!(
                "pipe/ring  round trip, one core {x:>5.2}x  (target >= 1x)"
            ));
        }
        line(format!(
            "pipe/ring  small cpu/msg {:>4.1}x  (checked: > 1x)",
            any.cpu_x()
        ));
        out
    }
}
