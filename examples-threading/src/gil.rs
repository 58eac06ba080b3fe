//! A model of CPython's Global Interpreter Lock, to measure what it does to
//! threads.
//!
//! [`Gil`] follows CPython's "new GIL" (3.2 and later, `Python/ceval_gil.c`):
//!
//! - A thread must hold the lock to "run bytecode": [`Gil::acquire`] returns
//!   a [`GilGuard`].
//! - A thread that has waited longer than the *switch interval* (5 ms by
//!   default, `sys.getswitchinterval()`) without the lock changing hands
//!   sets a *drop request*.
//! - The holder looks at that request at its next [`GilGuard::check`] (the
//!   "eval breaker", which CPython tests between bytecodes). If it is set,
//!   the holder releases the lock and waits until another thread has taken
//!   it (`FORCE_SWITCHING`), then queues up again.
//! - The thread that asked is the one that gets the lock. That is what
//!   CPython does in effect, and it is what makes the convoy: a thread back
//!   from I/O that arrives just after another waiter asked waits behind it,
//!   and must itself wait a whole interval with no switch before it may ask.
//!   With 2 CPU-bound threads, CPython 3.11 on a 2-core machine made a
//!   thread that wakes every 10 ms run 10-13 ms late at the median (and up
//!   to about 100 ms); a model that let any waiter win the hand-off shows
//!   only about half a switch interval.
//! - Blocking I/O releases the lock: [`GilGuard::allow_threads`] is
//!   `Py_BEGIN_ALLOW_THREADS` / `Py_END_ALLOW_THREADS`.
//!
//! So under the model only one thread computes at a time, and a fixed
//! CPU-bound job takes as long on 4 threads as on 1; but threads that wait
//! overlap their waits. [`run_cpu`], [`run_io`] and [`convoy`] run the
//! workloads of [`crate::work`] in either [`Mode`], for the programs `gil` and
//! `gil-convoy` and for the benches; [`Scaling`] times all four cases on
//! 1..=N threads and checks the claim with margins for a shared machine.
//!
//! ```
//! use std::time::Duration;
//! use examples_threading::gil::{Gil, Mode, run_cpu, run_io};
//! use examples_threading::work::{PrimeJob, WaitJob};
//!
//! let gil = Gil::default();
//! let job = PrimeJob::new(20_000, 500);
//! // Same answer under the model and as free threads; only the time differs.
//! assert_eq!(run_cpu(Mode::ModelGil(&gil), 3, &job), 2_262);
//! assert_eq!(run_cpu(Mode::Free, 3, &job), 2_262);
//!
//! let waits = WaitJob { waits: 6, wait: Duration::from_millis(1) };
//! assert_eq!(run_io(Mode::ModelGil(&gil), 3, &waits), 6);
//! ```

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::work::{self, Measured, PrimeJob, WaitJob, measure};

/// CPython's default switch interval, `sys.getswitchinterval()`: 5 ms.
pub const DEFAULT_SWITCH_INTERVAL: Duration = Duration::from_millis(5);

/// The model GIL. Share it by reference (`thread::scope`) or in an `Arc`.
///
/// ```
/// use std::time::Duration;
/// use examples_threading::gil::Gil;
///
/// let gil = Gil::new(Duration::from_millis(5));
/// let mut guard = gil.acquire();
/// guard.check(); // nobody waits: keeps the lock
/// guard.allow_threads(|| std::thread::sleep(Duration::from_millis(1)));
/// drop(guard);
/// assert_eq!(gil.stats().forced_switches, 0);
/// ```
#[derive(Debug)]
pub struct Gil {
    interval: Duration,
    state: Mutex<State>,
    /// Signalled when the lock is released (waiters wait here).
    released: Condvar,
    /// Signalled when the lock changes hands (a forced holder waits here).
    switched: Condvar,
    /// Set by a waiter that waited a whole interval; read by the holder at
    /// every check without taking the mutex, as CPython's eval breaker.
    drop_request: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    locked: bool,
    /// Which guard took the lock last (0: nobody yet).
    last_holder: u64,
    /// Bumped on every acquisition; a waiter whose interval passed while
    /// this stayed the same knows the holder never let go.
    switch_number: u64,
    /// The waiter that set the drop request: the next to take the lock.
    requester: Option<u64>,
    next_id: u64,
    stats: GilStats,
}

/// Counters of what the lock did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GilStats {
    /// How many times a thread took the lock.
    pub acquisitions: u64,
    /// How many times a holder gave it up because a waiter asked (drop
    /// requests honoured).
    pub forced_switches: u64,
}

impl Default for Gil {
    fn default() -> Self {
        Self::new(DEFAULT_SWITCH_INTERVAL)
    }
}

impl Gil {
    /// A free lock whose waiters ask for it after `switch_interval`.
    pub fn new(switch_interval: Duration) -> Self {
        Self {
            interval: switch_interval,
            state: Mutex::new(State::default()),
            released: Condvar::new(),
            switched: Condvar::new(),
            drop_request: AtomicBool::new(false),
        }
    }

    /// The switch interval this lock was made with.
    pub fn switch_interval(&self) -> Duration {
        self.interval
    }

    /// What the lock has done so far.
    pub fn stats(&self) -> GilStats {
        self.lock_state().stats
    }

    /// Blocks until the calling thread holds the lock ("may run bytecode").
    pub fn acquire(&self) -> GilGuard<'_> {
        let id = {
            let mut st = self.lock_state();
            st.next_id += 1;
            st.next_id
        };
        self.take(id);
        GilGuard {
            gil: self,
            id,
            _not_send: PhantomData,
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        // The state is consistent at every unlock; a panic elsewhere does not
        // make it unusable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// CPython's `take_gil`.
    fn take(&self, id: u64) {
        let mut st = self.lock_state();
        while st.locked || st.requester.is_some_and(|r| r != id) {
            let seen = st.switch_number;
            let (next, timeout) = self
                .released
                .wait_timeout(st, self.interval)
                .unwrap_or_else(PoisonError::into_inner);
            st = next;
            if timeout.timed_out()
                && st.locked
                && st.switch_number == seen
                && st.requester.is_none()
            {
                // A whole interval passed and the holder never let go.
                st.requester = Some(id);
                self.drop_request.store(true, Ordering::Release);
            }
        }
        if st.requester == Some(id) {
            st.requester = None;
        }
        st.locked = true;
        st.last_holder = id;
        st.switch_number += 1;
        st.stats.acquisitions += 1;
        // Whoever asked for a switch got one (this thread or another).
        self.drop_request.store(false, Ordering::Release);
        // A holder forced to drop waits for exactly this.
        self.switched.notify_all();
    }

    /// CPython's `drop_gil`; `forced` when dropping on a drop request.
    fn release(&self, id: u64, forced: bool) {
        let mut st = self.lock_state();
        st.locked = false;
        // All waiters wake: when one has asked, only it may take the lock,
        // and waking just one other would lose the hand-off.
        self.released.notify_all();
        if forced {
            st.stats.forced_switches += 1;
            // FORCE_SWITCHING: do not grab the lock straight back; wait until
            // another thread has had it. A waiter exists (it asked), so this
            // ends.
            while st.last_holder == id {
                st = self
                    .switched
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }
}

/// Proof that this thread holds the [`Gil`]; releases it when dropped.
///
/// Not `Send`: like a Python thread state, it belongs to the thread that
/// acquired it.
#[derive(Debug)]
pub struct GilGuard<'g> {
    gil: &'g Gil,
    id: u64,
    _not_send: PhantomData<*const ()>,
}

impl GilGuard<'_> {
    /// The eval breaker: call it every so often while computing. If a waiter
    /// has asked for the lock, hands it over, waits until the other thread
    /// has it, and queues up to get it back. Costs one atomic load otherwise.
    pub fn check(&mut self) {
        if self.gil.drop_request.load(Ordering::Acquire) {
            self.gil.release(self.id, true);
            self.gil.take(self.id);
        }
    }

    /// Runs `blocking` without the lock (`Py_BEGIN_ALLOW_THREADS`): other
    /// threads compute while this one waits for I/O; takes the lock back
    /// afterwards, waiting for it like any other thread.
    pub fn allow_threads<R>(&mut self, blocking: impl FnOnce() -> R) -> R {
        self.gil.release(self.id, false);
        // Reacquire even if `blocking` panics, so Drop's release is valid.
        struct Retake<'a, 'g>(&'a GilGuard<'g>);
        impl Drop for Retake<'_, '_> {
            fn drop(&mut self) {
                self.0.gil.take(self.0.id);
            }
        }
        let _retake = Retake(self);
        blocking()
    }
}

impl Drop for GilGuard<'_> {
    fn drop(&mut self) {
        self.gil.release(self.id, false);
    }
}

/// How threads run a workload: each under one shared model GIL (as in
/// CPython), or as plain Rust threads.
#[derive(Clone, Copy, Debug)]
pub enum Mode<'g> {
    /// Every thread must hold this lock to compute.
    ModelGil(&'g Gil),
    /// No lock: threads run in parallel on all cores.
    Free,
}

impl Mode<'_> {
    /// `"model GIL"` or `"free"`, for output.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::ModelGil(_) => "model GIL",
            Mode::Free => "free",
        }
    }
}

/// Held while "running bytecode": a guard under the model, nothing when free.
struct Running<'g>(Option<GilGuard<'g>>);

impl<'g> Running<'g> {
    fn start(mode: Mode<'g>) -> Self {
        Running(match mode {
            Mode::ModelGil(gil) => Some(gil.acquire()),
            Mode::Free => None,
        })
    }
    fn check(&mut self) {
        if let Some(g) = &mut self.0 {
            g.check();
        }
    }
    fn blocking<R>(&mut self, f: impl FnOnce() -> R) -> R {
        match &mut self.0 {
            Some(g) => g.allow_threads(f),
            None => f(),
        }
    }
}

/// Runs `body` on `threads` threads (at least 1), each "running bytecode"
/// in `mode` from its start, and returns what each returned.
fn on_threads<T: Send>(
    mode: Mode<'_>,
    threads: usize,
    body: impl Fn(&mut Running<'_>) -> T + Sync,
) -> Vec<T> {
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| s.spawn(|| body(&mut Running::start(mode))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Runs the fixed CPU-bound `job` on `threads` threads (at least 1) and
/// returns its answer. Threads take slices from a shared cursor; under the
/// model each thread computes only while it holds the GIL and checks for a
/// drop request after every slice.
///
/// ```
/// use examples_threading::gil::{Gil, Mode, run_cpu};
/// use examples_threading::work::PrimeJob;
///
/// let job = PrimeJob::new(10_000, 100);
/// let gil = Gil::default();
/// assert_eq!(run_cpu(Mode::ModelGil(&gil), 4, &job), job.count_sequential());
/// ```
pub fn run_cpu(mode: Mode<'_>, threads: usize, job: &PrimeJob) -> u64 {
    let slices = job.slices();
    let next = AtomicUsize::new(0);
    on_threads(mode, threads, |running| {
        let mut count = 0;
        while let Some(slice) = slices.get(next.fetch_add(1, Ordering::Relaxed)) {
            count += work::count_primes(slice.clone());
            running.check();
        }
        count
    })
    .into_iter()
    .sum()
}

/// Runs the fixed I/O-bound `job` on `threads` threads (at least 1) and
/// returns how many waits were done (always `job.waits`). Under the model
/// each wait releases the GIL, as a blocking call in CPython does.
///
/// ```
/// use std::time::Duration;
/// use examples_threading::gil::{Mode, run_io};
/// use examples_threading::work::WaitJob;
///
/// let job = WaitJob { waits: 4, wait: Duration::from_millis(1) };
/// assert_eq!(run_io(Mode::Free, 2, &job), 4);
/// ```
pub fn run_io(mode: Mode<'_>, threads: usize, job: &WaitJob) -> usize {
    let next = AtomicUsize::new(0);
    on_threads(mode, threads, |running| {
        let mut done = 0;
        while next.fetch_add(1, Ordering::Relaxed) < job.waits {
            running.blocking(|| work::blocking_wait(job.wait));
            running.check();
            done += 1;
        }
        done
    })
    .into_iter()
    .sum()
}

/// How late each periodic wake-up ran, from [`convoy`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lateness {
    /// One entry per wake-up, sorted ascending.
    pub sorted: Vec<Duration>,
}

impl Lateness {
    /// The median lateness (zero when there are no samples).
    pub fn p50(&self) -> Duration {
        self.sorted
            .get(self.sorted.len() / 2)
            .copied()
            .unwrap_or_default()
    }

    /// The worst lateness (zero when there are no samples).
    pub fn max(&self) -> Duration {
        self.sorted.last().copied().unwrap_or_default()
    }
}

/// The convoy effect: one I/O thread wakes every `period`, `ticks` times,
/// while `cpu_threads` threads compute; returns how late each wake-up got
/// to run. Under the model a wake-up is "running" once it holds the GIL
/// again, which takes at least a switch interval when a CPU-bound thread
/// holds it (and longer when another CPU-bound thread gets it first).
///
/// The CPU-bound threads loop over a small prime-counting slice until the
/// I/O thread is done: here only the lateness is measured, not throughput.
///
/// ```
/// use std::time::Duration;
/// use examples_threading::gil::{Gil, Mode, convoy};
///
/// let gil = Gil::default();
/// let late = convoy(Mode::ModelGil(&gil), 1, 5, Duration::from_millis(10));
/// assert_eq!(late.sorted.len(), 5);
/// ```
pub fn convoy(mode: Mode<'_>, cpu_threads: usize, ticks: usize, period: Duration) -> Lateness {
    let done = AtomicBool::new(false);
    let computing = AtomicUsize::new(0);
    let mut sorted = thread::scope(|s| {
        for _ in 0..cpu_threads {
            s.spawn(|| {
                let mut running = Running::start(mode);
                computing.fetch_add(1, Ordering::Release);
                let mut n = 0u64;
                while !done.load(Ordering::Relaxed) {
                    std::hint::black_box(work::count_primes(n..n + 200));
                    n = (n + 200) % 2_000_000;
                    running.check();
                }
            });
        }
        let io = s.spawn(|| {
            // Start the clock once a CPU-bound thread computes (on a busy
            // machine a new thread can take a while to first run).
            let give_up = Instant::now() + Duration::from_secs(5);
            while cpu_threads > 0 && computing.load(Ordering::Acquire) == 0 {
                if Instant::now() > give_up {
                    break;
                }
                thread::sleep(Duration::from_micros(200));
            }
            let mut running = Running::start(mode);
            let start = Instant::now();
            let mut late = Vec::with_capacity(ticks);
            for k in 1..=ticks as u32 {
                let deadline = start + period * k;
                running.blocking(|| work::sleep_until(deadline));
                // Here the Python code after `time.sleep()` would run.
                late.push(Instant::now().saturating_duration_since(deadline));
                running.check();
            }
            late
        });
        let late = io.join();
        done.store(true, Ordering::Relaxed);
        late.unwrap_or_else(|p| std::panic::resume_unwind(p))
    });
    sorted.sort();
    Lateness { sorted }
}

/// Margin of [`Scaling::check`]: CPU-bound threads under the model must stay
/// below this speedup (ideal 1.0; an idle machine shows <= 1.15), unless
/// the model kept at most one core busy (then the 1-thread baseline was
/// slowed by other programs, and the check says so in a note).
pub const MODEL_CPU_BELOW: f64 = 1.5;
/// Margin of [`Scaling::check`]: under the model at most one thread
/// computes at a time, so the CPU job never keeps more cores than this busy
/// (CPU time / wall time; ideal 1.0). Load from other programs only lowers it.
pub const MODEL_CORES_BELOW: f64 = 1.3;
/// Margin of [`Scaling::check`]: free CPU-bound threads must beat the
/// model's best speedup by this factor (2 cores, idle: about 1.9).
pub const FREE_OVER_MODEL: f64 = 1.25;
/// Free-thread scaling is only checked when the free run kept at least this
/// many cores busy; on a machine shared with other work it may get less.
pub const CORES_TO_CHECK_SCALING: f64 = 1.5;
/// Margin of [`Scaling::check`]: I/O-bound speedup must reach this fraction
/// of [`WaitJob::ideal_speedup`] (an idle machine shows > 0.95).
pub const IO_OF_IDEAL: f64 = 0.5;

/// The four cases the `gil` program compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// The CPU-bound job, every thread under the model GIL.
    CpuModelGil,
    /// The CPU-bound job on free threads.
    CpuFree,
    /// The I/O-bound job, every thread under the model GIL.
    IoModelGil,
    /// The I/O-bound job on free threads.
    IoFree,
}

impl Case {
    /// All four, in table order.
    pub const ALL: [Case; 4] = [
        Case::CpuModelGil,
        Case::CpuFree,
        Case::IoModelGil,
        Case::IoFree,
    ];
}

/// A run of [`run_cpu`] gave a different answer from the sequential count.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{mode} on {threads} threads counted {got} primes, want {want}")]
pub struct WrongAnswer {
    /// [`Mode::name`] of the run.
    pub mode: &'static str,
    /// How many threads ran it.
    pub threads: usize,
    /// What they counted.
    pub got: u64,
    /// What the sequential count says.
    pub want: u64,
}

/// The best run (least wall time) of each [`Case`] on 1..=`max_threads`
/// threads, from [`Scaling::measure`].
#[derive(Clone, Debug)]
pub struct Scaling {
    /// `best[case][threads - 1]`, cases in [`Case::ALL`] order.
    best: Vec<Vec<Measured>>,
    /// The CPU job's answer, the same in every run.
    pub answer: u64,
}

impl Scaling {
    /// Runs every case on 1..=`max_threads` threads, `repeat` times,
    /// interleaved (so a burst of load from other programs hits all cases
    /// alike), keeping the fastest run of each. Fails if any CPU run
    /// disagrees with the sequential answer.
    ///
    /// ```
    /// use std::time::Duration;
    /// use examples_threading::gil::{Case, Gil, Scaling};
    /// use examples_threading::work::{PrimeJob, WaitJob};
    ///
    /// let gil = Gil::default();
    /// let io = WaitJob { waits: 4, wait: Duration::from_millis(2) };
    /// let s = Scaling::measure(&gil, 2, &PrimeJob::new(20_000, 1_000), &io, 1)?;
    /// assert_eq!(s.answer, 2_262);
    /// assert_eq!(s.speedup(Case::CpuFree, 1), 1.0);
    /// # Ok::<(), examples_threading::gil::WrongAnswer>(())
    /// ```
    pub fn measure(
        gil: &Gil,
        max_threads: usize,
        cpu: &PrimeJob,
        io: &WaitJob,
        repeat: usize,
    ) -> Result<Self, WrongAnswer> {
        let want = cpu.count_sequential();
        let slowest = Measured {
            wall: Duration::MAX,
            ..Measured::default()
        };
        let mut best = vec![vec![slowest; max_threads.max(1)]; 4];
        for _ in 0..repeat.max(1) {
            for threads in 1..=max_threads.max(1) {
                for (i, mode) in [Mode::ModelGil(gil), Mode::Free].into_iter().enumerate() {
                    let (got, m) = measure(|| run_cpu(mode, threads, cpu));
                    if got != want {
                        return Err(WrongAnswer {
                            mode: mode.name(),
                            threads,
                            got,
                            want,
                        });
                    }
                    let (_, io_m) = measure(|| run_io(mode, threads, io));
                    for (case, m) in [(i, m), (i + 2, io_m)] {
                        let slot = &mut best[case][threads - 1];
                        if m.wall < slot.wall {
                            *slot = m;
                        }
                    }
                }
            }
        }
        Ok(Self { best, answer: want })
    }

    /// The largest thread count measured.
    pub fn max_threads(&self) -> usize {
        self.best[0].len()
    }

    /// The best run of `case` on `threads` threads (1..=max_threads).
    pub fn best(&self, case: Case, threads: usize) -> Measured {
        self.best[case as usize][threads - 1]
    }

    /// Wall time on one thread over wall time on `threads` threads.
    pub fn speedup(&self, case: Case, threads: usize) -> f64 {
        self.best(case, 1).wall.as_secs_f64() / self.best(case, threads).wall.as_secs_f64()
    }

    /// Checks the claim of the `gil` program with margins that hold on a
    /// loaded 2-core machine (see the constants [`MODEL_CORES_BELOW`],
    /// [`MODEL_CPU_BELOW`], [`FREE_OVER_MODEL`], [`CORES_TO_CHECK_SCALING`],
    /// [`IO_OF_IDEAL`]).
    /// `Ok` carries a note when free-thread scaling could not be checked
    /// because the machine gave the free run too little CPU; `Err` says
    /// which part of the claim failed.
    pub fn check(&self, io: &WaitJob) -> Result<Option<String>, String> {
        let model = self.top_speedup(Case::CpuModelGil);
        let free = self.top_speedup(Case::CpuFree);
        let model_busy = (1..=self.max_threads())
            .map(|n| self.best(Case::CpuModelGil, n).cores_busy())
            .fold(0.0, f64::max);
        if model_busy >= MODEL_CORES_BELOW {
            return Err(format!(
                "under the model GIL {model_busy:.2} cores computed at once, expected one"
            ));
        }
        let mut note = None;
        if model >= MODEL_CPU_BELOW {
            // The model used at most one core, so the 1-thread baseline
            // itself was slowed down: other programs took the CPU.
            note = Some(format!(
                "model GIL CPU speedup {model:.2}x comes from a 1-thread run slowed by other programs \
                 (it had {:.2} cores busy)",
                self.best(Case::CpuModelGil, 1).cores_busy()
            ));
        }
        for case in [Case::IoModelGil, Case::IoFree] {
            for n in 2..=self.max_threads() {
                let (got, ideal) = (self.speedup(case, n), io.ideal_speedup(n));
                if got < IO_OF_IDEAL * ideal {
                    return Err(format!(
                        "{case:?} speedup on {n} threads {got:.2}x, expected about {ideal:.1}x"
                    ));
                }
            }
        }
        let busy = self.best(Case::CpuFree, self.max_threads()).cores_busy();
        if self.max_threads() < 2 {
            Ok(note)
        } else if busy < CORES_TO_CHECK_SCALING {
            let scaling = format!(
                "free threads got only {busy:.2} cores (shared machine): CPU scaling not checked"
            );
            Ok(Some(
                note.map_or(scaling.clone(), |n| format!("{n}; {scaling}")),
            ))
        } else if note.is_none() && free <= FREE_OVER_MODEL * model {
            Err(format!(
                "free CPU speedup {free:.2}x is not clearly above the model's {model:.2}x"
            ))
        } else {
            Ok(note)
        }
    }

    /// The highest speedup of `case` over all thread counts (1.0 if only one
    /// thread was measured).
    pub fn top_speedup(&self, case: Case) -> f64 {
        (1..=self.max_threads())
            .map(|n| self.speedup(case, n))
            .fold(1.0, f64::max)
    }
}

/// The table of speedups: one row per thread count, one column per [`Case`].
impl std::fmt::Display for Scaling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "threads  CPU model GIL  CPU free  I/O model GIL  I/O free   (speedup over 1 thread)"
        )?;
        for n in 1..=self.max_threads() {
            let [cm, cf, im, fr] = Case::ALL.map(|c| self.speedup(c, n));
            writeln!(
                f,
                "{n:>7}  {cm:>12.2}x  {cf:>7.2}x  {im:>12.2}x  {fr:>7.2}x"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_thread_holds_the_gil() {
        let gil = Gil::new(Duration::from_micros(200));
        let inside = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let mut g = gil.acquire();
                    for i in 0..2_000 {
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                        std::hint::black_box(work::count_primes(i..i + 50));
                        inside.fetch_sub(1, Ordering::SeqCst);
                        g.check();
                    }
                });
            }
        });
        assert!(gil.stats().acquisitions >= 4);
    }

    #[test]
    fn a_waiter_gets_the_lock_from_a_busy_holder() {
        // The holder never blocks: only the drop request can hand it over.
        let gil = Gil::new(Duration::from_millis(1));
        let waiter_ran = AtomicBool::new(false);
        thread::scope(|s| {
            let mut g = gil.acquire();
            s.spawn(|| {
                let _g = gil.acquire();
                waiter_ran.store(true, Ordering::SeqCst);
            });
            while !waiter_ran.load(Ordering::SeqCst) {
                g.check();
                thread::yield_now();
            }
        });
        assert!(gil.stats().forced_switches >= 1);
    }

    #[test]
    fn a_waiter_asks_only_after_a_switch_interval() {
        // A lower bound, not a timing race: the holder never lets go unless
        // asked, and the waiter asks only after one whole interval.
        let interval = Duration::from_millis(20);
        let gil = Gil::new(interval);
        let (holding, stop) = (AtomicBool::new(false), AtomicBool::new(false));
        thread::scope(|s| {
            s.spawn(|| {
                let mut g = gil.acquire();
                holding.store(true, Ordering::SeqCst);
                while !stop.load(Ordering::SeqCst) {
                    g.check();
                    std::hint::spin_loop();
                }
            });
            while !holding.load(Ordering::SeqCst) {
                thread::yield_now();
            }
            let asked = Instant::now();
            let g = gil.acquire();
            let waited = asked.elapsed();
            stop.store(true, Ordering::SeqCst);
            drop(g);
            assert!(waited >= interval, "got the lock after {waited:?}");
        });
        assert_eq!(gil.stats().forced_switches, 1);
    }

    #[test]
    fn allow_threads_lets_another_thread_in() {
        let gil = Gil::new(Duration::from_secs(60));
        let mut g = gil.acquire();
        g.allow_threads(|| {
            thread::scope(|s| {
                s.spawn(|| drop(gil.acquire()));
            })
        });
        assert_eq!(gil.stats().forced_switches, 0);
        assert_eq!(gil.stats().acquisitions, 3);
    }
}
