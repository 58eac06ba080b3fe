//! The parent's dispatch loop: hand out chunks round-robin into each
//! worker's window, copy them into its task lane, wait for results (in
//! the lanes, then in `poll` on all result pipes at once), and route each
//! result to its call.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{self, SigSet, SigmaskHow, Signal};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::places::Places;
use crate::recovery::close;
use crate::submit::SUBMITTED;
use crate::wire::{
    Call, Chunk, Outcomes, ResultHead, append_chunk, call_bytes, encode_chunk, split_chunk,
};
use crate::{Error, Pool, PoolState, WorkerState};
use crate::{codec, frame};
use process_toolkit::linger::{LINGER, linger};

/// Work queued per worker, in nanoseconds of measured chunk time: enough
/// to cover the parent's wake-up latency on a busy machine, small enough
/// that the last chunks of a run are still spread over all workers.
const QUEUE_NS: u64 = 10_000_000;
/// Bytes of tasks queued per worker beyond its first chunk: a task lane
/// holds [`LANE_BYTES`](crate::lane::LANE_BYTES), 64 KiB.
const QUEUE_BYTES: usize = 48 << 10;

/// One call's progress: input not yet pulled, chunks to send again, and
/// finished results not yet handed to the caller.
pub(crate) struct Run<I: Iterator, R> {
    pub id: u64,
    pub base: u64,
    pub call: Call,
    /// `call`'s encoding, copied into every chunk's head.
    pub call_bytes: Vec<u8>,
    pub chunksize: usize,
    pub input: Option<I>,
    pub pulled: usize,
    /// Pull no input past `yielded + ahead` (ordered `imap`: the results
    /// held waiting for an earlier one stay bounded).
    pub ahead: usize,
    pub yielded: usize,
    pub retry: VecDeque<Chunk>,
    pub outstanding: usize,
    /// Results for `imap`, `imap_unordered` and `submit`, as they come.
    pub ready: VecDeque<(usize, Result<R, Error>)>,
    /// Where results go: `ready` (`Out::Queue`), or their final places.
    pub out: Out<R>,
    /// The items of the chunk being encoded (kept, so pulling a chunk
    /// allocates nothing).
    pub scratch: Vec<I::Item>,
}

/// Where a run's results go.
pub(crate) enum Out<R> {
    /// To the back of `ready`, as they come: `imap`, `imap_unordered`,
    /// `submit`.
    Queue,
    /// `map` and `starmap`: every result in its final place, by input
    /// position (`Error::Missing` until it arrives), grown as results
    /// arrive.
    Each(Vec<Result<R, Error>>),
    /// `try_map`: every value in its place, written once, and the
    /// failures aside; a value is 8 bytes for a `u64`, where a
    /// `Result<u64, Error>` is 40.
    Values {
        values: Places<R>,
        failed: Vec<(usize, Error)>,
    },
}

impl<I: Iterator, R> Run<I, R> {
    /// A run with no input and an id no chunk carries: what the pool
    /// drives while a [`TaskHandle`](crate::TaskHandle) waits.
    pub fn idle() -> Self {
        Run {
            id: u64::MAX,
            base: 0,
            call: Call { tramp: 0, arg: 0 },
            call_bytes: Vec::new(),
            chunksize: 1,
            input: None,
            pulled: 0,
            ahead: 0,
            yielded: 0,
            retry: VecDeque::new(),
            outstanding: 0,
            ready: VecDeque::new(),
            out: Out::Queue,
            scratch: Vec::new(),
        }
    }

    pub fn done(&self) -> bool {
        self.input.is_none() && self.outstanding == 0 && self.retry.is_empty()
    }

    /// Hands task `index`'s result over: into its place in `out`, or to
    /// the back of `ready`. For the results that do not come through
    /// `decode_outcomes` (failed encodings, lost and timed-out tasks).
    pub fn put(&mut self, index: usize, result: Result<R, Error>) {
        match (&mut self.out, result) {
            (Out::Each(out), result) => {
                grow(out, index + 1, |index| Err(Error::Missing { index }));
                out[index] = result;
            }
            (Out::Values { values, .. }, Ok(r)) => values.set(index, r),
            (Out::Values { failed, .. }, Err(e)) => failed.push((index, e)),
            (Out::Queue, result) => self.ready.push_back((index, result)),
        }
    }

    /// Takes back the results of tasks `indices` handed over since
    /// `ready` had `mark` entries (bytes that did not decode to the end).
    fn unput(&mut self, mark: usize, indices: std::ops::Range<usize>) {
        match &mut self.out {
            Out::Each(out) => {
                for index in indices.start..indices.end.min(out.len()) {
                    out[index] = Err(Error::Missing { index });
                }
            }
            Out::Values { values, failed } => {
                for index in indices.clone() {
                    values.clear(index);
                }
                failed.retain(|(index, _)| !indices.contains(index));
            }
            Out::Queue => self.ready.truncate(mark),
        }
    }

    /// For `map`: every task pulled in its place, [`Error::Missing`] for
    /// those without a result.
    pub fn take_each(&mut self) -> Vec<Result<R, Error>> {
        let mut out = match std::mem::replace(&mut self.out, Out::Queue) {
            Out::Each(out) => out,
            _ => Vec::new(),
        };
        let from = out.len();
        out.extend((from..self.pulled).map(|index| Err(Error::Missing { index })));
        out
    }

    /// For `try_map`: every value, or the failure of the first task (in
    /// input order) that failed or has no result.
    pub fn take_values(&mut self) -> Result<Vec<R>, Error> {
        let Out::Values { values, failed } = std::mem::replace(&mut self.out, Out::Queue) else {
            return Ok(Vec::new());
        };
        // The first task without a value.
        let missing = values.first_unfilled(self.pulled);
        let first_failed = failed.into_iter().min_by_key(|(index, _)| *index);
        if let Some((index, e)) = first_failed
            && missing.is_none_or(|m| index <= m)
        {
            return Err(e);
        }
        if let Some(index) = missing {
            return Err(Error::Missing { index });
        }
        // Every place holds a value (and there is one per task pulled).
        values.into_vec().map_err(|_| Error::Missing { index: 0 })
    }
}

impl Pool {
    /// `Ok` if the pool takes new work.
    pub(crate) fn check_open(&self) -> Result<(), Error> {
        match self.state {
            PoolState::Open => Ok(()),
            PoolState::Closed => Err(Error::Closed),
            PoolState::Cancelled => Err(Error::Cancelled),
            PoolState::Broken { restarts, last } => Err(Error::Broken { restarts, last }),
        }
    }

    pub(crate) fn start_run<R, I: Iterator>(
        &mut self,
        call: Call,
        chunksize: usize,
        input: I,
    ) -> Result<Run<I, R>, Error> {
        self.check_open()?;
        if chunksize == 0 {
            return Err(Error::Zero("chunksize"));
        }
        self.next_run += 1;
        self.spread = vec![0; self.workers.len()];
        Ok(Run {
            id: self.next_run,
            base: self.next_seq,
            call,
            call_bytes: call_bytes(call),
            chunksize,
            input: Some(input),
            pulled: 0,
            ahead: usize::MAX,
            yielded: 0,
            retry: VecDeque::new(),
            outstanding: 0,
            ready: VecDeque::new(),
            out: Out::Queue,
            scratch: Vec::new(),
        })
    }

    /// Drives the work until the run is done, or (with `one`) until at
    /// least one result is ready.
    pub(crate) fn pump<T, R, I>(&mut self, run: &mut Run<I, R>, one: bool) -> Result<(), Error>
    where
        T: Serialize + DeserializeOwned,
        R: DeserializeOwned,
        I: Iterator<Item = T>,
    {
        let _guard = SigpipeBlocked::new();
        loop {
            if self.cancel.as_ref().is_some_and(|t| t.is_cancelled()) {
                // Take in what already happened first (a worker that died
                // is reaped, reported and replaced), then stop.
                let _ = self.wait(run, Some(Duration::ZERO));
                self.state = PoolState::Cancelled;
                return Err(Error::Cancelled);
            }
            self.fill_submits();
            self.fill(run);
            self.write_out();
            if run.done() || (one && !run.ready.is_empty()) {
                return Ok(());
            }
            self.wait(run, None)?;
        }
    }

    /// Hands out chunks round-robin, one per worker per pass, until every
    /// worker's window is full or the work runs out. So a job smaller than
    /// the windows still reaches every worker, while a large job keeps
    /// several chunks queued on each.
    fn fill<T: Serialize + DeserializeOwned, R, I: Iterator<Item = T>>(
        &mut self,
        run: &mut Run<I, R>,
    ) {
        loop {
            let mut handed_out = false;
            for wi in 0..self.workers.len() {
                let w = &self.workers[wi];
                if w.task_w.is_none()
                    || w.state != WorkerState::Serving
                    || w.full(self.max_in_flight)
                {
                    continue;
                }
                let quota = self.max_tasks_per_child.map(|m| m - w.sent);
                let room = quota.unwrap_or(usize::MAX);
                // The chunk's frame goes straight into the worker's buffer.
                let mut out = std::mem::take(&mut self.workers[wi].out);
                let chunk = self.next_chunk(run, room, &mut out);
                self.workers[wi].out = out;
                let Some(chunk) = chunk else {
                    return; // no input left, nothing to send again
                };
                let w = &mut self.workers[wi];
                w.sent += chunk.count;
                w.queued_bytes += chunk.bytes;
                if quota.is_some_and(|q| q <= chunk.count) {
                    w.state = WorkerState::Retiring;
                }
                w.in_flight.push_back(chunk);
                handed_out = true;
                if w.in_flight.len() == 1 {
                    // An idle worker's first chunk goes at once, so it
                    // starts while the next chunks are made; the rest go
                    // together (each push moves the lane's cache lines
                    // between the cores).
                    self.push_out(wi);
                }
            }
            if !handed_out {
                return;
            }
        }
    }

    /// The next chunk of at most `room` tasks, a re-sent one or new input,
    /// with its frame appended to `out`.
    fn next_chunk<T: Serialize + DeserializeOwned, R, I: Iterator<Item = T>>(
        &mut self,
        run: &mut Run<I, R>,
        room: usize,
        out: &mut Vec<u8>,
    ) -> Option<Chunk> {
        if let Some(chunk) = run.retry.pop_front() {
            if chunk.count <= room {
                return Some(chunk.into_out(out));
            }
            let mut parts = split_chunk::<T>(&chunk, room);
            let rest = parts.pop()?;
            run.retry.push_front(rest);
            return parts.pop().map(|c| c.into_out(out));
        }
        loop {
            let allowed = run
                .yielded
                .saturating_add(run.ahead)
                .saturating_sub(run.pulled);
            let want = run.chunksize.min(room).min(allowed);
            if want == 0 {
                return None; // ordered imap: wait for the consumer
            }
            let input = run.input.as_mut()?;
            let mut items = std::mem::take(&mut run.scratch);
            items.clear();
            items.extend(input.by_ref().take(want));
            if items.len() < want {
                run.input = None;
            }
            if items.is_empty() {
                run.scratch = items;
                return None;
            }
            let first_index = run.pulled;
            let first = run.base + first_index as u64;
            run.pulled += items.len();
            run.outstanding += items.len();
            self.next_seq = run.base + run.pulled as u64;
            let encoded = append_chunk(out, run.id, run.call, &run.call_bytes, first, &items);
            if encoded.is_ok() {
                items.clear();
                run.scratch = std::mem::take(&mut items);
            }
            match encoded {
                Ok(chunk) => return Some(chunk),
                Err(_) => {
                    // Find the items that cannot be encoded; send the rest one by one.
                    for (k, item) in items.iter().enumerate() {
                        let seq = first + k as u64;
                        match encode_chunk(run.id, run.call, seq, std::slice::from_ref(item)) {
                            Ok(chunk) => run.retry.push_back(chunk),
                            Err(message) => {
                                run.outstanding -= 1;
                                let index = first_index + k;
                                run.put(index, Err(Error::Encode { index, message }));
                            }
                        }
                    }
                    if let Some(chunk) = run.retry.pop_front() {
                        return Some(chunk.into_out(out));
                    }
                }
            }
        }
    }

    /// Copies queued task bytes into each worker's task lane, as far as
    /// there is room, and rings a worker that sleeps; the rest goes when
    /// the worker has made room.
    pub(crate) fn write_out(&mut self) {
        for wi in 0..self.workers.len() {
            self.push_out(wi);
        }
    }

    /// [`Pool::write_out`] for worker `wi`.
    fn push_out(&mut self, wi: usize) {
        let w = &mut self.workers[wi];
        let lane = self.lanes.tasks(wi);
        let mut pushed = false;
        while w.unsent() {
            match lane.push(&w.out[w.out_at..]) {
                Ok(0) => break,
                Ok(n) => {
                    w.out_at += n;
                    pushed = true;
                }
                // Only the worker can have garbled it: it is done.
                Err(_) => {
                    let _ = signal::kill(w.pid, Signal::SIGKILL);
                    close(&mut w.task_w);
                }
            }
        }
        if pushed && lane.wake_reader() {
            ring(&mut w.task_w);
        }
        // The bytes stay in `out` until their chunks are done.
        if w.out_at == w.out.len() && w.state == WorkerState::Retiring {
            // The worker finishes what it has, sees end-of-file, exits 0.
            close(&mut w.task_w);
        }
    }

    /// Whether a worker has results waiting, or room for queued tasks.
    fn news(&self) -> bool {
        self.workers.iter().enumerate().any(|(wi, w)| {
            (w.result_r.is_some() && self.lanes.results(wi).readable())
                || (w.unsent() && self.lanes.tasks(wi).writable())
        })
    }

    /// Raises the parent's sleeping flags in every lane it waits on; false
    /// (and every flag down) if there is news after all.
    fn may_sleep(&self) -> bool {
        let mut may = true;
        for (wi, w) in self.workers.iter().enumerate() {
            if w.result_r.is_some() {
                may &= self.lanes.results(wi).reader_may_sleep();
            }
            if w.unsent() {
                may &= self.lanes.tasks(wi).writer_may_sleep();
            }
        }
        if !may {
            self.awake();
        }
        may
    }

    /// Takes the parent's sleeping flags down.
    fn awake(&self) {
        for wi in 0..self.workers.len() {
            self.lanes.results(wi).reader_awake();
            self.lanes.tasks(wi).writer_awake();
        }
    }

    /// Waits until a worker has results, has died, or has room for queued
    /// tasks, or at most `limit`; then handles what happened. It looks at
    /// the lanes for a little while first ([`linger`]), then sleeps in
    /// `poll` on every result pipe: a doorbell or an end-of-file.
    pub(crate) fn wait<T, R, I>(
        &mut self,
        run: &mut Run<I, R>,
        limit: Option<Duration>,
    ) -> Result<(), Error>
    where
        T: Serialize + DeserializeOwned,
        R: DeserializeOwned,
        I: Iterator<Item = T>,
    {
        let next_timeout = self.enforce_timeout();
        if self.workers.iter().all(|w| w.result_r.is_none()) {
            return Err(Error::Io(io::Error::other("no worker left to wait for")));
        }
        // With a cancel token, wake up now and then to look at it.
        let mut wake = self.cancel.as_ref().map(|_| Duration::from_millis(100));
        for next in [next_timeout, limit].into_iter().flatten() {
            wake = Some(wake.map_or(next, |w| w.min(next)));
        }
        // Look again only if a result may come within the time: not while
        // every busy worker's chunks take longer (the looking would take a
        // worker's CPU, for nothing).
        let soon = self
            .workers
            .iter()
            .any(|w| !w.in_flight.is_empty() && w.chunk_ns < LINGER.as_nanos() as u64);
        let budget = if soon {
            LINGER.min(wake.unwrap_or(LINGER))
        } else {
            Duration::ZERO
        };
        let sleep =
            wake != Some(Duration::ZERO) && !linger(|| self.news(), budget) && self.may_sleep();
        let mut rang = vec![false; self.workers.len()];
        if sleep {
            let timeout = match wake {
                // Round up, so a deadline is not polled for again and again.
                Some(d) => PollTimeout::from(d.as_millis().min(60_000) as u16 + 1),
                None => PollTimeout::NONE,
            };
            let polled = self.poll_bells(timeout, &mut rang);
            self.awake();
            match polled {
                Ok(()) => {}
                Err(Errno::EINTR) => return Ok(()),
                Err(e) => return Err(Error::Io(e.into())),
            }
        } else if wake == Some(Duration::ZERO) {
            // Not sleeping at all: still take in a death.
            let _ = self.poll_bells(PollTimeout::ZERO, &mut rang);
        }
        for (wi, rang) in rang.into_iter().enumerate() {
            if rang || self.lanes.results(wi).readable() {
                self.read_results(wi, rang, run)?;
            }
        }
        Ok(())
    }

    /// `poll` on every result pipe; marks in `rang` those with a doorbell
    /// or an end-of-file.
    fn poll_bells(&self, timeout: PollTimeout, rang: &mut [bool]) -> Result<(), Errno> {
        let mut fds = Vec::with_capacity(self.workers.len());
        let mut owners = Vec::with_capacity(self.workers.len());
        for (wi, w) in self.workers.iter().enumerate() {
            if let Some(fd) = &w.result_r {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                owners.push(wi);
            }
        }
        poll(&mut fds, timeout)?;
        for (fd, &wi) in fds.iter().zip(&owners) {
            rang[wi] = fd.revents().is_some_and(|r| !r.is_empty());
        }
        Ok(())
    }

    /// Takes in worker `wi`'s results: its doorbells and end-of-file (if
    /// `rang`), then the bytes in its result lane, frame by frame.
    fn read_results<T, R, I>(
        &mut self,
        wi: usize,
        rang: bool,
        run: &mut Run<I, R>,
    ) -> Result<(), Error>
    where
        T: Serialize + DeserializeOwned,
        R: DeserializeOwned,
        I: Iterator<Item = T>,
    {
        let w = &mut self.workers[wi];
        let Some(fd) = w.result_r.as_ref() else {
            return Ok(());
        };
        // First the pipe: after its end-of-file, the lane holds all there
        // will be (a worker's memory is gone before its files are closed).
        let mut ended = false;
        if rang {
            ended = drain_bells(fd);
        }
        let lane = self.lanes.results(wi);
        let mut garbled = false;
        loop {
            let have = w.in_len;
            if w.inbuf.len() < have + (64 << 10) {
                w.inbuf.resize(have + (64 << 10), 0);
            }
            match lane.pull(&mut w.inbuf[have..]) {
                Ok(0) => break,
                Ok(n) => w.in_len += n,
                Err(_) => {
                    garbled = true;
                    break;
                }
            }
        }
        if lane.wake_writer() {
            ring(&mut w.task_w);
        }
        let inbuf = std::mem::take(&mut self.workers[wi].inbuf);
        let have = self.workers[wi].in_len;
        let mut at = 0;
        let mut broken_protocol = garbled;
        while let Ok(Some((payload, used))) = frame::split(&inbuf[at..have]) {
            at += used;
            if !self.deliver(wi, payload, run) {
                broken_protocol = true;
                break;
            }
        }
        if frame::split(&inbuf[at..have]).is_err() {
            broken_protocol = true;
        }
        let w = &mut self.workers[wi];
        w.inbuf = inbuf;
        w.inbuf.copy_within(at..have, 0);
        w.in_len = have - at;
        if broken_protocol {
            // A worker that sends garbage cannot be trusted with more work.
            let _ = signal::kill(w.pid, Signal::SIGKILL);
            ended = true;
        }
        if ended {
            self.handle_death(wi, run)?;
        }
        Ok(())
    }

    /// Matches a result frame with the oldest chunk in flight on worker
    /// `wi`; `false` if it does not match (a protocol error).
    fn deliver<I: Iterator, R: DeserializeOwned>(
        &mut self,
        wi: usize,
        payload: &[u8],
        run: &mut Run<I, R>,
    ) -> bool {
        let Ok((head, rest)) = codec::take::<ResultHead>(payload) else {
            return false;
        };
        let w = &mut self.workers[wi];
        let Some(chunk) = w.in_flight.front() else {
            return false;
        };
        if chunk.first != head.first {
            return false;
        }
        if chunk.run == SUBMITTED {
            if chunk.count != 1 {
                return false;
            }
            let chunk = w.in_flight.pop_front().expect("checked above");
            w.finish(&chunk);
            let ok = Outcomes::read(rest).is_some_and(|o| o.oks == 1);
            self.deliver_submitted(chunk.first, rest, ok);
            return true;
        }
        if chunk.run != run.id {
            // Left over from an abandoned call: nobody waits for it.
            let chunk = w.in_flight.pop_front().expect("checked above");
            w.finish(&chunk);
            return true;
        }
        // Decode each outcome straight into the run's ready queue; on bad
        // bytes, take them back out (the worker is killed, the chunk retried).
        let mark = run.ready.len();
        let pid = w.pid.as_raw();
        let decoded = decode_outcomes(rest, chunk, run, pid, &mut self.deaths_in_a_row);
        let Some(ns) = decoded else {
            let from = (chunk.first - run.base) as usize;
            run.unput(mark, from..from + chunk.count);
            return false;
        };
        let w = &mut self.workers[wi];
        let chunk = w.in_flight.pop_front().expect("checked above");
        w.finish(&chunk);
        // 0: the worker did not read its clock for this chunk. A reading
        // is the average of every chunk since the one before, so it
        // counts as many times as they: an estimate left over from a call
        // of long chunks gives way within one reading, not dozens.
        if ns == 0 {
            w.unmeasured = w.unmeasured.saturating_add(1);
        } else {
            w.chunk_ns = smoothed(w.chunk_ns, ns, w.unmeasured + 1);
            w.unmeasured = 0;
        }
        self.spread[wi] += chunk.count;
        run.outstanding -= chunk.count;
        true
    }
}

/// Reads every doorbell waiting in a result pipe; whether it has ended
/// (end-of-file, or an error: the worker is gone either way).
fn drain_bells(fd: &OwnedFd) -> bool {
    loop {
        match nix::unistd::read(fd, &mut [0u8; 64]) {
            Ok(0) => return true,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => return false,
            Err(_) => return true,
        }
    }
}

/// Rings a worker's doorbell: a byte in its task pipe. A full pipe already
/// holds doorbells; a pipe that fails is closed (the worker is gone, its
/// result pipe will show end-of-file).
fn ring(task_w: &mut Option<OwnedFd>) {
    let Some(fd) = task_w.as_ref() else { return };
    loop {
        match nix::unistd::write(fd, &[1]) {
            Err(Errno::EINTR) => continue,
            Ok(_) | Err(Errno::EAGAIN) => {}
            Err(_) => close(task_w),
        }
        return;
    }
}

/// `old` (0: none yet) moved a quarter of the way towards `ns`, `weight`
/// times (at most 16: by then `old` has less than 1% left).
fn smoothed(old: u64, ns: u64, weight: u32) -> u64 {
    if old == 0 {
        return ns;
    }
    (0..weight.min(16)).fold(old, |avg, _| (3 * avg + ns) / 4)
}

/// Decodes a result frame's outcomes (after its head) for `chunk` into
/// the run: first its run of untagged `Ok` values, in the tightest loop
/// each output allows, then any tagged outcomes. Returns the chunk's
/// nanoseconds, or `None` on bytes that do not decode (the caller takes
/// back what was handed over).
fn decode_outcomes<I: Iterator, R: DeserializeOwned>(
    bytes: &[u8],
    chunk: &crate::wire::Chunk,
    run: &mut Run<I, R>,
    pid: i32,
    deaths_in_a_row: &mut usize,
) -> Option<u64> {
    let mut o = Outcomes::read(bytes)?;
    if o.count != chunk.count {
        return None;
    }
    let first = (chunk.first - run.base) as usize;
    let (split, end) = (first + o.oks, first + o.count);
    let mut oks = o.oks;
    let mut tagged = |o: &mut Outcomes<'_>, index| {
        let result = o.tagged::<R>()?.into_result(index, pid);
        oks += usize::from(result.is_ok());
        Some(result)
    };
    match &mut run.out {
        Out::Values { values, failed } => {
            if !values.fill_run(first..split, || o.value::<R>()) {
                return None;
            }
            let filled = values.fill(split..end, |index| match tagged(&mut o, index) {
                Some(Ok(r)) => Ok(Some(r)),
                Some(Err(e)) => {
                    failed.push((index, e));
                    Ok(None)
                }
                None => Err(()),
            });
            filled.ok()?;
        }
        Out::Each(out) => {
            grow(out, end, |index| Err(Error::Missing { index }));
            for slot in &mut out[first..split] {
                *slot = Ok(o.value::<R>()?);
            }
            for (index, slot) in (split..end).zip(&mut out[split..end]) {
                *slot = tagged(&mut o, index)?;
            }
        }
        Out::Queue => {
            for index in first..split {
                run.ready.push_back((index, Ok(o.value::<R>()?)));
            }
            for index in split..end {
                let result = tagged(&mut o, index)?;
                run.ready.push_back((index, result));
            }
        }
    }
    if oks > 0 {
        *deaths_in_a_row = 0;
    }
    codec::decode::<u64>(o.rest()).ok()
}

/// Grows `slots` with `gap()` to at least `len` entries. Grown as results
/// arrive rather than when input is pulled, so the end written to is the
/// one in cache.
fn grow<T>(slots: &mut Vec<T>, len: usize, gap: impl Fn(usize) -> T) {
    if slots.len() < len {
        let from = slots.len();
        slots.extend((from..len).map(gap));
    }
}

impl crate::Worker {
    /// Chunk `chunk`, the oldest in flight, is done: its frame is no
    /// longer needed. The buffer is cleared when nothing is left in it,
    /// and its front dropped when that is most of it, so it does not move
    /// for every chunk.
    fn finish(&mut self, chunk: &Chunk) {
        self.queued_bytes -= chunk.bytes;
        self.out_done = (self.out_done + chunk.bytes).min(self.out_at);
        if self.out_done == self.out.len() {
            self.out.clear();
            (self.out_at, self.out_done) = (0, 0);
        } else if self.out_done >= 32 << 10 && self.out_done * 2 >= self.out.len() {
            self.out.drain(..self.out_done);
            self.out_at -= self.out_done;
            self.out_done = 0;
        }
    }

    /// The chunks in flight, each with its frame, taken out of the worker
    /// (it died: they go back to be sent again, or fail).
    pub(crate) fn take_in_flight(&mut self) -> VecDeque<Chunk> {
        let mut at = self.out_done;
        let mut chunks = std::mem::take(&mut self.in_flight);
        for c in &mut chunks {
            if c.frame.is_empty() {
                c.frame = self.out.get(at..at + c.bytes).unwrap_or_default().to_vec();
            }
            at += c.bytes;
        }
        self.out.clear();
        (self.out_at, self.out_done, self.queued_bytes) = (0, 0, 0);
        chunks
    }
    /// Whether task bytes wait to go into the lane of a worker that still
    /// takes them.
    fn unsent(&self) -> bool {
        self.task_w.is_some() && self.out_at < self.out.len()
    }

    /// Whether the worker has enough queued: about `QUEUE_NS` (10 ms) of
    /// measured work in chunks, at least 2 (so it never waits for a round
    /// trip), at most `max`; and, past one chunk, no more bytes than a lane
    /// holds (so the parent need not wake up to push the rest).
    fn full(&self, max: usize) -> bool {
        let wanted = QUEUE_NS.checked_div(self.chunk_ns).unwrap_or(2);
        let window = (wanted.clamp(2, 1 << 20) as usize).min(max);
        self.in_flight.len() >= window
            || (!self.in_flight.is_empty() && self.queued_bytes >= QUEUE_BYTES)
    }
}

/// Blocks `SIGPIPE` for the calling thread while the pool writes to task
/// pipes, so writing to a dead worker's pipe returns `EPIPE` instead of
/// killing the whole program. Any `SIGPIPE` this caused is discarded on drop.
pub(crate) struct SigpipeBlocked {
    old: SigSet,
    was_pending: bool,
}

impl SigpipeBlocked {
    pub(crate) fn new() -> Self {
        let mut set = SigSet::empty();
        set.add(Signal::SIGPIPE);
        let mut old = SigSet::empty();
        let _ = signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old));
        SigpipeBlocked {
            old,
            was_pending: sigpipe_pending(),
        }
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        if !self.was_pending && !self.old.contains(Signal::SIGPIPE) && sigpipe_pending() {
            let mut set = SigSet::empty();
            set.add(Signal::SIGPIPE);
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `set` and `zero` are valid for the call; a null info
            // pointer is allowed. This dequeues the SIGPIPE our own write
            // raised while it was blocked.
            unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &zero) };
        }
        let _ = signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

fn sigpipe_pending() -> bool {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set it is given; we read it only on success.
    unsafe {
        if libc::sigpending(set.as_mut_ptr()) != 0 {
            return false;
        }
        libc::sigismember(set.as_ptr(), libc::SIGPIPE) == 1
    }
}

#[cfg(test)]
mod tests {
    use super::smoothed;

    #[test]
    fn a_reading_weighs_as_much_as_the_chunks_it_covers() {
        assert_eq!(smoothed(0, 7, 1), 7); // the first reading is taken as it is
        assert_eq!(smoothed(400, 800, 1), 500);
        // 5 ms per chunk left over from long chunks, then one reading of
        // 64 tiny chunks: the estimate is near the new figure at once.
        assert!(smoothed(5_000_000, 100, 64) < 60_000);
        assert_eq!(smoothed(5_000_000, 100, 64), smoothed(5_000_000, 100, 16));
    }
}
