//! The workloads of the GIL lessons, run in either [`Mode`]: under one
//! shared model [`Gil`], or as free Rust threads. Every spawn is checked:
//! if the system refuses a thread, the ones started are released and
//! joined, and the error comes back ([`crate::spawn::together`]).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::lock::{Gil, GilGuard};
use crate::cpu_job::{PrimeJob, count_primes};
use crate::spawn::together;
use crate::wait_job::{WaitJob, blocking_wait, sleep_until};

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
) -> io::Result<Vec<T>> {
    let (results, ()) = together(threads.max(1), |_| body(&mut Running::start(mode)), || ())?;
    Ok(results)
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
/// assert_eq!(run_cpu(Mode::ModelGil(&gil), 4, &job)?, job.count_sequential());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn run_cpu(mode: Mode<'_>, threads: usize, job: &PrimeJob) -> io::Result<u64> {
    let slices = job.slices();
    let next = AtomicUsize::new(0);
    on_threads(mode, threads, |running| {
        let mut count = 0;
        while let Some(slice) = slices.get(next.fetch_add(1, Ordering::Relaxed)) {
            count += count_primes(slice.clone());
            running.check();
        }
        count
    })
    .map(|counts| counts.into_iter().sum())
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
/// assert_eq!(run_io(Mode::Free, 2, &job)?, 4);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn run_io(mode: Mode<'_>, threads: usize, job: &WaitJob) -> io::Result<usize> {
    let next = AtomicUsize::new(0);
    on_threads(mode, threads, |running| {
        let mut done = 0;
        while next.fetch_add(1, Ordering::Relaxed) < job.waits {
            running.blocking(|| blocking_wait(job.wait));
            running.check();
            done += 1;
        }
        done
    })
    .map(|done| done.into_iter().sum())
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
/// let late = convoy(Mode::ModelGil(&gil), 1, 5, Duration::from_millis(10))?;
/// assert_eq!(late.sorted.len(), 5);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn convoy(
    mode: Mode<'_>,
    cpu_threads: usize,
    ticks: usize,
    period: Duration,
) -> io::Result<Lateness> {
    let done = AtomicBool::new(false);
    let computing = AtomicUsize::new(0);
    let cpu_bound = || {
        let mut running = Running::start(mode);
        computing.fetch_add(1, Ordering::Release);
        let mut n = 0u64;
        while !done.load(Ordering::Relaxed) {
            std::hint::black_box(count_primes(n..n + 200));
            n = (n + 200) % 2_000_000;
            running.check();
        }
        Vec::new()
    };
    let io_bound = || {
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
            running.blocking(|| sleep_until(deadline));
            // Here the Python code after `time.sleep()` would run.
            late.push(Instant::now().saturating_duration_since(deadline));
            running.check();
        }
        drop(running);
        done.store(true, Ordering::Relaxed);
        late
    };
    // Thread `cpu_threads` is the I/O thread; it stops the others when done.
    let pick = |i| {
        if i < cpu_threads {
            cpu_bound()
        } else {
            io_bound()
        }
    };
    let (mut late, ()) = together(cpu_threads + 1, pick, || ())?;
    let mut sorted = late.pop().unwrap_or_default();
    sorted.sort();
    Ok(Lateness { sorted })
}
