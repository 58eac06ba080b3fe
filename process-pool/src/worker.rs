//! The worker's side: read chunks, run them, send results in batches.
//!
//! A chunk names its function by the address of a trampoline,
//! [`run_chunk::<C>`](run_chunk), monomorphized for the caller's function
//! type `C`. The worker was forked from this very program image, so that
//! address is the same function here; the parent is the only writer on the
//! task lane, so the address is one the parent took from a real function.

use std::any::Any;
use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::Instant;

use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};
use nix::unistd::Pid;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::lane::{Lane, Unusable};
use crate::options::{EXIT_INIT_FAILED, EXIT_PROTOCOL};
use crate::wire::{Call, Outcome, ResultHead, Slot, TaskHead, coarse_ns, monotonic_ns};
use crate::{codec, frame};
use process_toolkit::EXIT_PARENT_GONE;
use process_toolkit::linger::{LINGER, linger};

/// A worker sends its finished results at least this often...
const FLUSH_NS: u128 = 100_000;
/// ...or when this many bytes of results are waiting (a push into the
/// lane costs no system call, so batches can be small: the parent starts
/// decoding sooner, and has less left to decode once the workers finish).
const FLUSH_BYTES: usize = 4 << 10;

/// What a running worker knows: its slot, whether tasks are timed, and the
/// closures given at build.
pub(crate) struct Ctx<'a> {
    pub slot: Slot<'a>,
    /// Tasks come in through this lane, results go out through the other.
    pub tasks: Lane<'a>,
    pub results: Lane<'a>,
    pub timed: bool,
    pub closures: &'a [Box<dyn Any>],
}

/// A function type the pool can run: how the worker turns `arg` and an
/// item into a result.
pub(crate) trait Runner: 'static {
    type T: Serialize + DeserializeOwned;
    type R: Serialize + DeserializeOwned;
    fn run(ctx: &Ctx<'_>, arg: u64, item: Self::T) -> Self::R;
}

/// The trampoline type every chunk names by address: runs the chunk's
/// items, appends the result frame to the buffer, and ticks the clock.
type Tramp = fn(&Ctx<'_>, u64, u64, &[u8], &mut Vec<u8>, &mut Clock) -> Result<(), ()>;

/// Chunks per clock reading at most...
const MAX_STRIDE: u32 = 64;
/// ...and about how long a reading covers.
const STRIDE_NS: u64 = 10_000;

/// Times chunks without reading the clock after every one (a reading
/// costs as much as a tiny task, about 28 ns in a VM): it is read every
/// `stride` chunks, and the stride adapts so that a reading covers about
/// `STRIDE_NS`. So that a sudden long chunk is not hidden behind a stride
/// set by tiny ones (its result held back, the parent's estimate stale),
/// every chunk also reads the coarse clock (about 6 ns), and a timer tick
/// since the last reading forces one: readings are never more than a tick
/// (1 to 10 ms) apart, and a long chunk brings the stride back to 1.
pub(crate) struct Clock {
    /// The last reading.
    pub last: Instant,
    /// The coarse clock at the last reading.
    tick_at: u64,
    /// Chunks ended since then.
    chunks: u32,
    stride: u32,
}

impl Clock {
    fn new() -> Self {
        Clock {
            last: Instant::now(),
            tick_at: coarse_ns(),
            chunks: 0,
            stride: 1,
        }
    }

    /// Starts over after waiting for input; the next chunk is timed, so
    /// a worker fed a few chunks at a time (a small window) reports often
    /// and the parent's estimate, hence the window, can grow.
    fn restart(&mut self) {
        *self = Clock::new();
    }

    /// Whether the clock was read at the end of the last chunk.
    fn just_read(&self) -> bool {
        self.chunks == 0
    }

    /// A chunk ended: the average nanoseconds of the chunks since the
    /// last reading if the clock was read now, else 0 (not measured).
    fn tick(&mut self) -> u64 {
        self.chunks += 1;
        let tick_at = coarse_ns();
        if self.chunks < self.stride && tick_at == self.tick_at {
            return 0;
        }
        self.tick_at = tick_at;
        let now = Instant::now();
        let ns = now
            .duration_since(self.last)
            .as_nanos()
            .min(u64::MAX as u128) as u64;
        let per = (ns / u64::from(self.chunks)).max(1);
        let fits = (STRIDE_NS / per).min(u64::from(MAX_STRIDE)) as u32;
        self.stride = fits.min(self.stride * 2).max(1);
        self.last = now;
        self.chunks = 0;
        per
    }
}

/// The [`Call`] that runs `C` with `arg`.
pub(crate) fn call_of<C: Runner>(arg: u64) -> Call {
    Call {
        tramp: run_chunk::<C> as Tramp as usize,
        arg,
    }
}

/// A zero-sized `Copy` function (a `fn` item or a closure that captures
/// nothing), run by conjuring it in the worker.
pub(crate) struct Plain<F, T, R>(PhantomData<F>, PhantomData<fn(T) -> R>);

/// Produces the value of a zero-sized `Copy` type.
fn conjure<F: Copy>() -> F {
    const { assert!(size_of::<F>() == 0) };
    // SAFETY: `F` has size 0 (checked at compile time) and is `Copy`, and
    // the caller in the parent held a value of it: a bitwise copy of that
    // value is zero bytes, which is what this produces.
    unsafe { std::mem::zeroed::<F>() }
}

impl<F, T, R> Runner for Plain<F, T, R>
where
    F: Fn(T) -> R + Copy + 'static,
    T: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    type T = T;
    type R = R;
    fn run(_: &Ctx<'_>, _: u64, item: T) -> R {
        conjure::<F>()(item)
    }
}

/// `starmap`: a zero-sized `Fn(A, B) -> R` run on a tuple.
pub(crate) struct Star<F, A, B, R>(PhantomData<F>, PhantomData<fn(A, B) -> R>);

impl<F, A, B, R> Runner for Star<F, A, B, R>
where
    F: Fn(A, B) -> R + Copy + 'static,
    A: Serialize + DeserializeOwned + 'static,
    B: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    type T = (A, B);
    type R = R;
    fn run(_: &Ctx<'_>, _: u64, (a, b): (A, B)) -> R {
        conjure::<F>()(a, b)
    }
}

/// A closure given at build, found by index in the worker's copy.
pub(crate) struct Closure<T, R>(PhantomData<fn(T) -> R>);

/// How a build-time closure is stored: boxed twice, so it can be found
/// with `downcast_ref`.
pub(crate) type Boxed<T, R> = Box<dyn Fn(T) -> R>;

impl<T, R> Runner for Closure<T, R>
where
    T: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    type T = T;
    type R = R;
    fn run(ctx: &Ctx<'_>, arg: u64, item: T) -> R {
        let job = ctx
            .closures
            .get(arg as usize)
            .and_then(|b| b.downcast_ref::<Boxed<T, R>>());
        match job {
            Some(job) => job(item),
            None => panic!("job {arg} was not made by this pool's builder"),
        }
    }
}

/// Runs one chunk of `C` and appends its result frame to `out`: items
/// are decoded one at a time and each outcome is encoded as soon as it is
/// known, so a chunk costs no allocation but its results' own. The
/// frame ends with the chunk's nanoseconds from [`Clock::tick`] (0: not
/// measured).
fn run_chunk<C: Runner>(
    ctx: &Ctx<'_>,
    arg: u64,
    first: u64,
    items: &[u8],
    out: &mut Vec<u8>,
    clock: &mut Clock,
) -> Result<(), ()> {
    let (count, mut items) = codec::take::<usize>(items).map_err(|_| ())?;
    let start = out.len();
    out.extend_from_slice(&[0; frame::HEADER]);
    let oks_at = append_head(first, count, out).map_err(|_| ())?;
    let stop = run_oks::<C>(ctx, arg, first, count, &mut items, out)?;
    if let Some((stopped, outcome)) = &stop {
        append_outcome(outcome, out);
        for k in stopped + 1..count {
            let (item, rest) = codec::take::<C::T>(items).map_err(|_| ())?;
            items = rest;
            let outcome = match run_one::<C>(ctx, arg, first + k as u64, item) {
                Ok(r) => Outcome::Ok(r),
                Err(payload) => Outcome::Panicked(panic_text(&*payload)),
            };
            append_outcome(&outcome, out);
        }
    }
    let oks = stop.map_or(count, |(stopped, _)| stopped);
    set_oks(out, oks_at, oks);
    let ns = clock.tick();
    let _ = codec::append(&ns, out);
    let len = out.len() - start - frame::HEADER;
    if len > frame::MAX_FRAME {
        // Too large as a whole: every task of it fails, each on its own.
        out.truncate(start + frame::HEADER);
        let too_large = Outcome::<C::R>::EncodeFailed("result chunk too large to send".into());
        let _ = append_head(first, count, out);
        for _ in 0..count {
            append_outcome(&too_large, out);
        }
        let _ = codec::append(&ns, out);
    }
    let len = (out.len() - start - frame::HEADER) as u32;
    out[start..start + frame::HEADER].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// Where [`run_oks`] stopped: the first task that gave no value to send,
/// and its outcome; `None` if every task did.
type Stop<R> = Option<(usize, Outcome<R>)>;

/// Runs the chunk's tasks from the first while they give values that can
/// be sent, appending each untagged; stops at the first that does not:
/// its index, and its outcome to append tagged. `Err` on items that do
/// not decode. The loop every tiny task runs in, so nothing in it that is
/// not inlined takes the appender.
#[inline(always)]
fn run_oks<C: Runner>(
    ctx: &Ctx<'_>,
    arg: u64,
    first: u64,
    count: usize,
    items: &mut &[u8],
    out: &mut Vec<u8>,
) -> Result<Stop<C::R>, ()> {
    let mut out = codec::Appender::new(out);
    for k in 0..count {
        let (item, rest) = codec::take::<C::T>(items).map_err(|_| ())?;
        *items = rest;
        let r = match run_one::<C>(ctx, arg, first + k as u64, item) {
            Ok(r) => r,
            Err(payload) => return Ok(Some((k, Outcome::Panicked(panic_text(&*payload))))),
        };
        let at = out.len();
        let appended = out.append(&r);
        if let Some(why) = unsendable(appended, out.len() - at) {
            out.truncate(at);
            return Ok(Some((k, Outcome::EncodeFailed(why))));
        }
    }
    Ok(None)
}

/// Runs task `seq`, saying in the worker's slot that it runs and when it
/// has finished; a panic is caught and given back.
#[inline(always)]
fn run_one<C: Runner>(ctx: &Ctx<'_>, arg: u64, seq: u64, item: C::T) -> std::thread::Result<C::R> {
    if ctx.timed {
        ctx.slot.started.store(monotonic_ns(), Ordering::Relaxed);
    }
    ctx.slot.state.store(2 * seq + 1, Ordering::Release);
    let ran = catch_unwind(AssertUnwindSafe(|| C::run(ctx, arg, item)));
    ctx.slot.state.store(2 * seq + 2, Ordering::Release);
    ran
}

/// A result frame's head: the first task, then the count of
/// [outcomes](crate::wire::Outcomes) and how many of them are untagged
/// `Ok` values, 0 for now; returns where that count is, for [`set_oks`].
fn append_head(first: u64, count: usize, out: &mut Vec<u8>) -> Result<usize, codec::Error> {
    codec::append(&ResultHead { first }, out)?;
    codec::append(&count, out)?;
    let at = out.len();
    codec::append(&0usize, out)?;
    Ok(at)
}

/// Writes how many outcomes, from the first, are untagged `Ok` values
/// into the head [`append_head`] appended.
fn set_oks(out: &mut [u8], at: usize, oks: usize) {
    out[at..at + 8].copy_from_slice(&(oks as u64).to_le_bytes());
}

/// Appends one tagged outcome; a result that cannot be encoded, or is too
/// large, becomes an error for its task alone.
fn append_outcome<R: Serialize>(outcome: &Outcome<R>, out: &mut Vec<u8>) {
    let at = out.len();
    let appended = codec::append(outcome, out);
    keep_or_fail::<R>(appended, at, out);
}

/// Keeps the outcome appended from `at` on, unless it failed to encode or
/// is too large to send: then it becomes an `EncodeFailed` saying why.
#[inline(always)]
fn keep_or_fail<R: Serialize>(appended: Result<(), codec::Error>, at: usize, out: &mut Vec<u8>) {
    if let Some(why) = unsendable(appended, out.len() - at) {
        out.truncate(at);
        let _ = codec::append(&Outcome::<R>::EncodeFailed(why), out);
    }
}

/// Why a result that took `bytes` bytes to encode (or failed to,
/// `appended`) cannot be sent; `None` if it can.
#[inline(always)]
fn unsendable(appended: Result<(), codec::Error>, bytes: usize) -> Option<String> {
    if appended.is_ok() && bytes <= frame::MAX_FRAME / 2 {
        return None;
    }
    Some(why_unsendable(appended, bytes))
}

#[cold]
fn why_unsendable(appended: Result<(), codec::Error>, bytes: usize) -> String {
    match appended {
        Err(e) => format!("cannot encode result: {e}"),
        Ok(()) => format!("result of {bytes} bytes is too large to send"),
    }
}

thread_local! {
    /// The last panic message in a worker, recorded by its panic hook.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    match LAST_PANIC.with(|p| p.borrow_mut().take()) {
        Some(message) => message.replace('\n', " "),
        None => process_toolkit::panic_message(payload),
    }
}

/// What a worker needs to start.
pub(crate) struct Start<'a> {
    pub init: Option<&'a dyn Fn()>,
    pub ctx: Ctx<'a>,
    pub parent: Pid,
    /// Inherited descriptors this worker must close: every pool's
    /// parent-side pipe ends.
    pub close: &'a [i32],
}

/// The body of a worker process. Never returns: every path ends in `_exit`,
/// so the child never unwinds into the caller's stack or runs the parent's
/// destructors.
pub(crate) fn worker_main(start: Start<'_>, task_r: OwnedFd, result_w: OwnedFd) -> ! {
    let code = catch_unwind(AssertUnwindSafe(|| {
        if process_toolkit::die_with_parent(start.parent).is_err() {
            return EXIT_PARENT_GONE;
        }
        // Ctrl-C goes to the whole foreground process group: leave it to the
        // parent. Handlers inherited from the parent would run the parent's
        // logic here, so SIGTERM and friends get their default action back.
        // SAFETY: installing SIG_IGN / SIG_DFL runs no code of ours.
        unsafe {
            let _ = signal::signal(Signal::SIGINT, SigHandler::SigIgn);
            let _ = signal::signal(Signal::SIGPIPE, SigHandler::SigIgn);
            for sig in [
                Signal::SIGTERM,
                Signal::SIGHUP,
                Signal::SIGQUIT,
                Signal::SIGALRM,
                Signal::SIGUSR1,
            ] {
                let _ = signal::signal(sig, SigHandler::SigDfl);
            }
        }
        let _ = signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
        for &fd in start.close {
            // SAFETY: these are pool-side pipe ends inherited from the
            // parent; nothing in this process owns them (the parent's
            // `OwnedFd`s are never dropped here: the child ends in `_exit`).
            unsafe { libc::close(fd) };
        }
        std::panic::set_hook(Box::new(|info| {
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
        }));
        if let Some(init) = start.init {
            if catch_unwind(AssertUnwindSafe(init)).is_err() {
                return EXIT_INIT_FAILED;
            }
        }
        serve(&start.ctx, File::from(task_r), File::from(result_w))
    }))
    .unwrap_or(EXIT_PROTOCOL);
    // SAFETY: `_exit` ends the process at once: no destructors of the
    // parent's objects, no atexit handlers, no flushing of copied buffers.
    unsafe { libc::_exit(code) }
}

/// The worker loop: read chunks, run them, send results in batches.
fn serve(ctx: &Ctx<'_>, mut input: File, mut output: File) -> i32 {
    // `buf[start..filled]` holds unread task bytes; `buf` never shrinks,
    // so reading costs no zeroing.
    let mut buf: Vec<u8> = vec![0; 64 << 10];
    let (mut start, mut filled) = (0, 0);
    let mut out: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut oldest_unsent: Option<Instant> = None;
    let mut clock = Clock::new();
    let mut bells = Bells {
        input: &mut input,
        output: &mut output,
        ended: false,
    };
    loop {
        loop {
            let (payload, used) = match frame::split(&buf[start..filled]) {
                Ok(Some(found)) => found,
                Ok(None) => break,
                Err(_) => return EXIT_PROTOCOL,
            };
            let Ok((head, items)) = codec::take::<TaskHead>(payload) else {
                return EXIT_PROTOCOL;
            };
            // At or before the chunk's start.
            let began = clock.last;
            // SAFETY: the parent, the only writer of this lane, put the
            // address of a `run_chunk::<C>` there (see `call_of`); this
            // process runs the parent's program image, so the same function
            // is at that address here.
            let tramp: Tramp = unsafe { std::mem::transmute::<usize, Tramp>(head.call.tramp) };
            if tramp(ctx, head.call.arg, head.first, items, &mut out, &mut clock).is_err() {
                return EXIT_PROTOCOL;
            }
            start += used;
            // Flush once the oldest unsent result began FLUSH_NS ago (as
            // far as the clock's last reading tells): a long task's result
            // goes at once, tiny ones travel in batches.
            let oldest = *oldest_unsent.get_or_insert(began);
            let late =
                clock.just_read() && clock.last.duration_since(oldest).as_nanos() >= FLUSH_NS;
            if late || out.len() >= FLUSH_BYTES {
                if let Err(code) = bells.send(ctx.results, &out) {
                    return code;
                }
                out.clear();
                oldest_unsent = None;
            }
        }
        // About to wait for more tasks: send what is finished first.
        if !out.is_empty() {
            if let Err(code) = bells.send(ctx.results, &out) {
                return code;
            }
            out.clear();
            oldest_unsent = None;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        start = 0;
        if buf.len() < filled + (64 << 10) {
            buf.resize(filled + (64 << 10), 0);
        }
        let got = bells.receive(ctx.tasks, &mut buf[filled..]);
        clock.restart();
        match got {
            Ok(0) if filled == 0 => return 0, // end of work
            Ok(0) => return EXIT_PROTOCOL,    // closed inside a frame
            Ok(n) => filled += n,
            Err(code) => return code,
        }
    }
}

/// A worker's pipes, which carry only doorbells and end-of-file: it sleeps
/// on `input` (the parent rings when it wrote tasks or made room for
/// results) and rings `output` (the parent sleeps on it).
struct Bells<'a> {
    input: &'a mut File,
    output: &'a mut File,
    /// The parent closed `input`: no more tasks, and no more doorbells.
    ended: bool,
}

impl Bells<'_> {
    /// Copies the next task bytes from `lane` into `buf`, waiting for them;
    /// 0 once the parent closed the task pipe and the lane is empty. Errs
    /// with the exit code.
    fn receive(&mut self, lane: Lane<'_>, buf: &mut [u8]) -> Result<usize, i32> {
        loop {
            let n = lane.pull(buf).map_err(|_| EXIT_PROTOCOL)?;
            if n > 0 {
                if lane.wake_writer() {
                    self.ring()?;
                }
                return Ok(n);
            }
            if self.ended {
                return Ok(0);
            }
            if !linger(|| lane.readable(), LINGER) && lane.reader_may_sleep() {
                let slept = self.sleep();
                lane.reader_awake();
                slept?;
            }
        }
    }

    /// Copies `bytes` into `lane`, waiting for room when it is full.
    fn send(&mut self, lane: Lane<'_>, mut bytes: &[u8]) -> Result<(), i32> {
        while !bytes.is_empty() {
            let n = match lane.push(bytes) {
                Ok(n) => n,
                Err(Unusable::Closed) => return Err(EXIT_PARENT_GONE),
                Err(Unusable::Corrupt) => return Err(EXIT_PROTOCOL),
            };
            bytes = &bytes[n..];
            if n > 0 {
                if lane.wake_reader() {
                    self.ring()?;
                }
                continue;
            }
            if linger(|| lane.writable(), LINGER) {
                continue;
            }
            if self.ended {
                // No doorbell can come through a closed pipe: nap.
                std::thread::sleep(std::time::Duration::from_micros(200));
            } else if lane.writer_may_sleep() {
                let slept = self.sleep();
                lane.writer_awake();
                slept?;
            }
        }
        Ok(())
    }

    /// Sleeps until the parent rings or closes the task pipe.
    fn sleep(&mut self) -> Result<(), i32> {
        let mut bell = [0u8; 64];
        loop {
            match self.input.read(&mut bell) {
                Ok(0) => self.ended = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Err(EXIT_PARENT_GONE),
            }
            return Ok(());
        }
    }

    /// Rings the parent's doorbell.
    fn ring(&mut self) -> Result<(), i32> {
        self.output.write_all(&[1]).map_err(|_| EXIT_PARENT_GONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_chunk_after_tiny_ones_is_timed_at_once() {
        let mut clock = Clock::new();
        // Tiny chunks grow the stride: most ticks read no clock.
        let unread = (0..10_000).filter(|_| clock.tick() == 0).count();
        assert!(
            clock.stride > 1 && unread > 5_000,
            "stride {}",
            clock.stride
        );
        // A chunk that spans timer ticks is read when it ends, and sets
        // the stride back to 1.
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(clock.tick() > STRIDE_NS, "the long chunk was not timed");
        assert_eq!(clock.stride, 1);
    }
}
