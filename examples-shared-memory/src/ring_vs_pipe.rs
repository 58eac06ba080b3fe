//! What `spsc-ring` measures: the [`ring`](crate::ring) against a pipe,
//! as streams of small and large messages and as round trips of a small
//! one, on whatever CPUs the processes may use and, if asked, with both
//! pinned to one core; every message checked and counted by its receiver.

use std::fmt;

use crate::measure::{self, OnOneCpu};
use crate::ring::round_trip;
use crate::ring::stream::{self, StreamError, Transfer};

/// How much to send, and in what.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Messages in each small-message stream.
    pub small_count: u64,
    /// Messages in each large-message stream.
    pub large_count: u64,
    /// Round trips of a small message.
    pub trips: u64,
    /// Bytes in a small message.
    pub small: usize,
    /// Bytes in a large message.
    pub large: usize,
    /// Ring capacity in bytes, for the streams.
    pub capacity: usize,
    /// Runs of each measurement; the fastest counts.
    pub runs: usize,
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
    /// Small-message round trips (`messages`: trips timed).
    pub ring_trip: Transfer,
    /// The same over two pipes.
    pub pipe_trip: Transfer,
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
            measure::best_of(self.runs, &mut counted, |t| t.elapsed)
        };
        let (p, cap) = (self, self.capacity);
        Ok(Figures {
            pinned: None,
            ring_small: best(&mut || stream::over_ring(p.small_count, p.small, cap))?,
            pipe_small: best(&mut || stream::over_pipe(p.small_count, p.small))?,
            ring_large: best(&mut || stream::over_ring(p.large_count, p.large, cap))?,
            pipe_large: best(&mut || stream::over_pipe(p.large_count, p.large))?,
            ring_trip: best(&mut || round_trip::over_ring(p.trips, p.small))?,
            pipe_trip: best(&mut || round_trip::over_pipe(p.trips, p.small))?,
        })
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

    /// Pipe round-trip time over the ring's: above 1, the ring is faster.
    pub fn trip_x(&self) -> f64 {
        self.ring_trip.messages_per_sec() / self.pipe_trip.messages_per_sec()
    }

    /// Pipe CPU time per small message over the ring's.
    pub fn cpu_x(&self) -> f64 {
        self.pipe_small.cpu_ns_per_message() / self.ring_small.cpu_ns_per_message()
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
