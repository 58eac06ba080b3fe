//! What crosses the lanes, and the shared page where each worker says
//! which task it is running.
//!
//! A task chunk is one [frame](crate::frame): a [`TaskHead`] (the first
//! task's sequence number, and which function to run: the address of a
//! trampoline in this program's code, and its argument), then the
//! encoded `Vec<T>` of items ([`codec`](crate::codec)). A result chunk is one frame: a
//! [`ResultHead`] (the first task), the chunk's [`Outcomes`] (encoded by
//! the worker as it finishes each task), then the nanoseconds the chunk
//! took as a `u64` (the average since the worker last read its clock, 0
//! when it did not). The heads decode without knowing `T` or `R`, so the
//! parent can route a result to its call before decoding it.

use std::sync::atomic::{AtomicU64, Ordering};

use process_toolkit::SharedMapping;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{codec, frame};

/// Which function a chunk runs: `tramp` is the address of a
/// monomorphized `worker::run_chunk::<C>` in this program's code (the same
/// address in every worker, forked from this image), `arg` what it needs
/// (a build-time closure's index).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub(crate) tramp: usize,
    pub(crate) arg: u64,
}

/// The start of every task frame.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TaskHead {
    pub first: u64,
    pub call: Call,
}

/// The start of every result frame.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ResultHead {
    pub first: u64,
}

/// One task's outcome, as the worker reports it.
#[derive(Serialize, Deserialize)]
pub(crate) enum Outcome<R> {
    Ok(R),
    Panicked(String),
    EncodeFailed(String),
}

impl<R> Outcome<R> {
    /// Task `index`'s outcome, from worker `pid`, as its result.
    pub fn into_result(self, index: usize, pid: i32) -> Result<R, crate::Error> {
        match self {
            Outcome::Ok(r) => Ok(r),
            Outcome::Panicked(message) => Err(crate::Error::Panicked {
                index,
                pid,
                message,
            }),
            Outcome::EncodeFailed(message) => Err(crate::Error::Encode { index, message }),
        }
    }
}

/// A result chunk's outcomes, read in task order. On the wire: how many
/// there are (`u64`), how many of them from the first are `Ok` (`u64`),
/// those values one after another with no tag, then each other outcome as
/// a tagged [`Outcome`]. Nearly every chunk is all `Ok`: its values are
/// decoded in one tight loop, with no branch on a tag, and cross the lanes
/// in a third fewer bytes (a `u64` result takes 8, not 12).
pub(crate) struct Outcomes<'a> {
    /// The chunk's outcomes.
    pub count: usize,
    /// How many of them, from the first, are untagged `Ok` values.
    pub oks: usize,
    rest: &'a [u8],
}

impl<'a> Outcomes<'a> {
    /// The outcomes at the front of `bytes`; `None` if their counts do not
    /// decode or more are `Ok` than there are.
    pub fn read(bytes: &'a [u8]) -> Option<Self> {
        let (count, rest) = codec::take::<usize>(bytes).ok()?;
        let (oks, rest) = codec::take::<usize>(rest).ok()?;
        (oks <= count).then_some(Outcomes { count, oks, rest })
    }

    /// The next of the first [`oks`](Self::oks) outcomes: an untagged
    /// value.
    #[inline(always)]
    pub fn value<R: DeserializeOwned>(&mut self) -> Option<R> {
        let (r, rest) = codec::take::<R>(self.rest).ok()?;
        self.rest = rest;
        Some(r)
    }

    /// The next outcome after the first [`oks`](Self::oks): a tagged one.
    pub fn tagged<R: DeserializeOwned>(&mut self) -> Option<Outcome<R>> {
        let (outcome, rest) = codec::take::<Outcome<R>>(self.rest).ok()?;
        self.rest = rest;
        Some(outcome)
    }

    /// What follows the outcomes (once all have been read).
    pub fn rest(self) -> &'a [u8] {
        self.rest
    }
}

/// A chunk of tasks as sent: the call it belongs to, the sequence number
/// of its first task, how many, and its frame. While the chunk is in
/// flight its frame is in its worker's outgoing buffer (kept there to send
/// again if the worker dies) and `frame` is empty; a chunk waiting to be
/// sent (again) owns its frame.
pub(crate) struct Chunk {
    pub run: u64,
    pub first: u64,
    pub count: usize,
    pub call: Call,
    /// The frame's length in bytes.
    pub bytes: usize,
    pub frame: Vec<u8>,
}

impl Chunk {
    pub fn contains(&self, seq: u64) -> bool {
        (self.first..self.first + self.count as u64).contains(&seq)
    }

    /// Moves the chunk's own frame to the end of `out`: it is in flight.
    pub fn into_out(mut self, out: &mut Vec<u8>) -> Chunk {
        out.extend_from_slice(&self.frame);
        self.frame = Vec::new();
        self
    }
}

/// The encoding of `call`: what follows `first` in a
/// [`TaskHead`], the same for every chunk of a call.
pub(crate) fn call_bytes(call: Call) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = codec::append(&call, &mut out); // two integers: cannot fail
    out
}

/// Encodes tasks `first..first + items.len()` for `call` as one frame of
/// its own.
pub(crate) fn encode_chunk<T: Serialize>(
    run: u64,
    call: Call,
    first: u64,
    items: &[T],
) -> Result<Chunk, String> {
    let mut frame = Vec::new();
    let mut chunk = append_chunk(&mut frame, run, call, &call_bytes(call), first, items)?;
    chunk.frame = frame;
    Ok(chunk)
}

/// Appends the frame of tasks `first..first + items.len()` for `call`
/// (encoded as `call_bytes`) to `out`, and returns the chunk, which owns
/// no frame. On error `out` is left as it was.
pub(crate) fn append_chunk<T: Serialize>(
    out: &mut Vec<u8>,
    run: u64,
    call: Call,
    call_bytes: &[u8],
    first: u64,
    items: &[T],
) -> Result<Chunk, String> {
    let start = out.len();
    out.extend_from_slice(&[0; frame::HEADER]);
    // A `TaskHead` field by field: `first`, then the call's bytes.
    let appended = codec::append(&first, out).and_then(|()| {
        out.extend_from_slice(call_bytes);
        codec::append(items, out)
    });
    let len = out.len() - start - frame::HEADER;
    let failed = match appended {
        Err(e) => Some(format!("cannot encode: {e}")),
        Ok(()) if len > frame::MAX_FRAME => {
            Some(format!("task chunk of {len} bytes exceeds the frame limit"))
        }
        Ok(()) => None,
    };
    if let Some(message) = failed {
        out.truncate(start);
        return Err(message);
    }
    out[start..start + frame::HEADER].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(Chunk {
        run,
        first,
        count: items.len(),
        call,
        bytes: frame::HEADER + len,
        frame: Vec::new(),
    })
}

/// Splits a chunk at task `at` into `[..at]` and `[at..]` (either may be
/// empty), re-encoding the tasks. Only on the rare paths (a worker died, a
/// retry does not fit a worker's remaining quota).
pub(crate) fn split_chunk<T: Serialize + DeserializeOwned>(chunk: &Chunk, at: usize) -> Vec<Chunk> {
    let Some(items) = frame::split(&chunk.frame)
        .ok()
        .flatten()
        .and_then(|(payload, _)| codec::take::<TaskHead>(payload).ok())
        .and_then(|(_, rest)| codec::decode::<Vec<T>>(rest).ok())
    else {
        return Vec::new();
    };
    let at = at.min(items.len());
    let (head, tail) = items.split_at(at);
    [(chunk.first, head), (chunk.first + at as u64, tail)]
        .into_iter()
        .filter_map(|(first, items)| encode_chunk(chunk.run, chunk.call, first, items).ok())
        .collect()
}

/// What a worker's slot says: `0` before its first task, `2 * seq + 1`
/// while running task `seq`, `2 * seq + 2` after it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SlotState {
    Fresh,
    Running(u64),
    Finished(u64),
}

impl From<u64> for SlotState {
    fn from(v: u64) -> Self {
        match v {
            0 => SlotState::Fresh,
            v if v % 2 == 1 => SlotState::Running((v - 1) / 2),
            v => SlotState::Finished((v - 2) / 2),
        }
    }
}

const SLOT_WORDS: usize = 8; // one cache line per worker

/// One cache line per worker in a [`SharedMapping`] made before the first
/// fork: a worker's stores are visible to the parent even after the worker
/// was killed.
pub(crate) struct Slots {
    map: SharedMapping,
}

/// One worker's words in [`Slots`]: its [`SlotState`], and when (on
/// `CLOCK_MONOTONIC`, in ns) its current task started.
#[derive(Clone, Copy)]
pub(crate) struct Slot<'a> {
    pub state: &'a AtomicU64,
    pub started: &'a AtomicU64,
}

impl Slots {
    pub fn new(count: usize) -> std::io::Result<Self> {
        Ok(Slots {
            map: SharedMapping::new(count.max(1) * SLOT_WORDS * 8)?,
        })
    }

    pub fn get(&self, i: usize) -> Slot<'_> {
        let words = &self.map.atomic_u64s()[i * SLOT_WORDS..];
        Slot {
            state: &words[0],
            started: &words[1],
        }
    }

    pub fn state(&self, i: usize) -> SlotState {
        SlotState::from(self.get(i).state.load(Ordering::Acquire))
    }
}

/// Nanoseconds on `CLOCK_MONOTONIC`, the same clock in every process.
pub(crate) fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// Nanoseconds on `CLOCK_MONOTONIC_COARSE`: the time of the last timer
/// tick (1 to 10 ms apart), read for a fifth of `monotonic_ns`'s cost.
pub(crate) fn coarse_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC_COARSE)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_states_round_trip() {
        assert_eq!(SlotState::from(0), SlotState::Fresh);
        assert_eq!(SlotState::from(2 * 41 + 1), SlotState::Running(41));
        assert_eq!(SlotState::from(2 * 41 + 2), SlotState::Finished(41));
    }

    #[test]
    fn a_chunk_frame_is_a_task_head_then_the_items() {
        let call = Call {
            tramp: 0x5555_dead_beef,
            arg: 300,
        };
        let mut out = vec![7];
        let chunk =
            append_chunk(&mut out, 3, call, &call_bytes(call), 1 << 40, &[5u64, 6]).unwrap();
        assert_eq!((chunk.bytes, out[0]), (out.len() - 1, 7));
        let (payload, used) = frame::split(&out[1..]).unwrap().unwrap();
        assert_eq!(used, chunk.bytes);
        let (head, rest) = codec::take::<TaskHead>(payload).unwrap();
        assert_eq!((head.first, head.call), (1 << 40, call));
        assert_eq!(codec::decode::<Vec<u64>>(rest).unwrap(), [5, 6]);
        let owned = encode_chunk(3, call, 1 << 40, &[5u64, 6]).unwrap();
        assert_eq!(
            (owned.frame.as_slice(), owned.bytes),
            (&out[1..], chunk.bytes)
        );
    }

    #[test]
    fn outcomes_are_a_run_of_untagged_values_then_tagged_ones() {
        let mut out = Vec::new();
        for n in [4u64, 2, 7, 8] {
            codec::append(&n, &mut out).unwrap();
        }
        codec::append(&Outcome::<u64>::Panicked("p".into()), &mut out).unwrap();
        codec::append(&Outcome::Ok(9u64), &mut out).unwrap();
        out.push(0xee);
        let mut o = Outcomes::read(&out).unwrap();
        assert_eq!((o.count, o.oks), (4, 2));
        assert_eq!((o.value::<u64>(), o.value::<u64>()), (Some(7), Some(8)));
        assert!(matches!(o.tagged::<u64>(), Some(Outcome::Panicked(m)) if m == "p"));
        assert!(matches!(o.tagged::<u64>(), Some(Outcome::Ok(9))));
        assert_eq!(o.rest(), [0xee]);
        // More `Ok` than outcomes, or counts cut short: not outcomes.
        let mut bad = Vec::new();
        codec::append(&(1u64, 2u64), &mut bad).unwrap();
        assert!(Outcomes::read(&bad).is_none());
        assert!(Outcomes::read(&out[..12]).is_none());
    }

    #[test]
    fn split_chunk_keeps_sequence_numbers_and_call() {
        let call = Call { tramp: 77, arg: 3 };
        let chunk = encode_chunk(3, call, 10, &[1u8, 2, 3, 4]).unwrap();
        let parts = split_chunk::<u8>(&chunk, 1);
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].first, parts[0].count, parts[0].run), (10, 1, 3));
        assert_eq!(
            (parts[1].first, parts[1].count, parts[1].call),
            (11, 3, call)
        );
        assert!(parts[1].contains(13) && !parts[1].contains(14));
    }
}
