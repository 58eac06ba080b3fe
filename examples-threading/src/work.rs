//! The two kinds of work the threading lessons measure: computing and waiting.
//!
//! - **CPU-bound**: [`PrimeJob`] counts the primes below a limit by trial
//!   division. It is a *fixed amount* of computation, cut into small slices
//!   so that any number of threads can share it; every way of running it
//!   must give the same answer. (A loop that runs "until a clock says stop"
//!   would fake a speedup under a GIL: more threads just count more.)
//! - **I/O-bound**: [`WaitJob`] is a fixed number of blocking waits
//!   ([`blocking_wait`]); [`SlowServer`] is a loopback TCP server that
//!   answers each [`request`] after a delay, a real socket to wait on.
//! - **Running them**: [`fan_out`] runs N calls one by one, on a thread
//!   each, or on a pool of K threads ([`Fanout`]); [`bump_own_counters`]
//!   gives each thread its own counter to hammer (false sharing).
//! - [`measure`] runs a closure and reports wall time, CPU time and context
//!   switches (from `getrusage`), so a program can tell "my threads scaled"
//!   from "the machine only gave me one core".
//!
//! The programs `gil`, `cpu-bound-threads`, `io-bound-threads`,
//! `oversubscription`, `false-sharing` and the benches call this module.
//!
//! ```
//! use examples_threading::work::PrimeJob;
//!
//! let job = PrimeJob::new(10_000, 1_000);
//! assert_eq!(job.count_sequential(), 1_229);
//! assert_eq!(job.count_scoped(3), 1_229);
//! assert_eq!(job.count_rayon(), 1_229);
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rayon::prelude::*;

/// Whether `n` is prime, by trial division with odd divisors up to `sqrt(n)`.
///
/// Deliberately plain: the point is a predictable amount of CPU work.
///
/// ```
/// use examples_threading::work::is_prime;
/// assert!(is_prime(2) && is_prime(97) && !is_prime(1) && !is_prime(91));
/// ```
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let mut d = 3;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

/// The number of primes in `range`.
///
/// ```
/// use examples_threading::work::count_primes;
/// assert_eq!(count_primes(0..100), 25);
/// assert_eq!(count_primes(0..50) + count_primes(50..100), 25);
/// ```
pub fn count_primes(range: Range<u64>) -> u64 {
    range.filter(|&n| is_prime(n)).count() as u64
}

/// Steps of the Collatz sequence from `n` down to 1: a few hundred ns of
/// work per call, small enough that a pool's per-task cost shows.
///
/// ```
/// use examples_threading::work::collatz;
/// assert_eq!(collatz(1), 0);
/// assert_eq!(collatz(6), 8); // 6 3 10 5 16 8 4 2 1
/// ```
pub fn collatz(mut n: u64) -> u64 {
    let mut steps = 0;
    while n > 1 {
        n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
        steps += 1;
    }
    steps
}

/// A fixed CPU-bound job: count the primes in `0..limit`, in slices of
/// `slice_len` numbers that threads can take one at a time.
///
/// One slice of the default size takes tens of microseconds: small enough
/// that a thread that must yield (see [`crate::gil`]) does so promptly, large
/// enough that handing out slices costs nothing measurable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimeJob {
    /// Count the primes below this number.
    pub limit: u64,
    /// How many numbers one slice covers (at least 1).
    pub slice_len: u64,
}

impl PrimeJob {
    /// A job counting the primes below `limit` in slices of `slice_len`
    /// numbers (a `slice_len` of 0 is treated as 1).
    pub const fn new(limit: u64, slice_len: u64) -> Self {
        let slice_len = if slice_len == 0 { 1 } else { slice_len };
        Self { limit, slice_len }
    }

    /// The slices, in order; together they cover `0..limit` exactly once.
    ///
    /// ```
    /// use examples_threading::work::PrimeJob;
    /// assert_eq!(PrimeJob::new(10, 4).slices(), vec![0..4, 4..8, 8..10]);
    /// ```
    pub fn slices(&self) -> Vec<Range<u64>> {
        (0..self.limit)
            .step_by(self.slice_len as usize)
            .map(|start| start..(start + self.slice_len).min(self.limit))
            .collect()
    }

    /// The answer computed on the calling thread: the baseline.
    pub fn count_sequential(&self) -> u64 {
        count_primes(0..self.limit)
    }

    /// The answer computed by `threads` scoped threads (`std::thread::scope`,
    /// borrowing the slices, no `Arc`). Thread `i` takes slices `i`,
    /// `i + threads`, ...: dealt like cards, so every thread gets a fair mix
    /// of cheap small numbers and expensive large ones. (Cutting `0..limit`
    /// into `threads` contiguous chunks would leave the last thread with
    /// the most work.)
    pub fn count_scoped(&self, threads: usize) -> u64 {
        let threads = threads.max(1);
        let slices = self.slices();
        let slices = &slices;
        thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    s.spawn(move || {
                        slices
                            .iter()
                            .skip(i)
                            .step_by(threads)
                            .map(|r| count_primes(r.clone()))
                            .sum::<u64>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .sum()
        })
    }

    /// The answer computed by rayon's global pool (`par_iter` over the
    /// slices; work stealing balances the load).
    pub fn count_rayon(&self) -> u64 {
        self.slices().into_par_iter().map(count_primes).sum::<u64>()
    }
}

/// A blocking wait: the I/O-bound unit of work (a stand-in for a socket read
/// or a disk request). The thread sleeps in the kernel and uses no CPU.
pub fn blocking_wait(duration: Duration) {
    thread::sleep(duration);
}

/// Sleeps until `deadline` (returns at once if it has passed).
pub fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        thread::sleep(deadline - now);
    }
}

/// A fixed I/O-bound job: `waits` blocking waits of `wait` each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitJob {
    /// How many waits in total, shared by all threads.
    pub waits: usize,
    /// How long each wait blocks.
    pub wait: Duration,
}

impl WaitJob {
    /// The best speedup `threads` threads can reach on this job: the waits
    /// run in rounds of `threads`, so 24 waits on 5 threads take 5 rounds,
    /// not 4.8.
    ///
    /// ```
    /// use std::time::Duration;
    /// use examples_threading::work::WaitJob;
    /// let job = WaitJob { waits: 24, wait: Duration::from_millis(5) };
    /// assert_eq!(job.ideal_speedup(4), 4.0);
    /// assert_eq!(job.ideal_speedup(5), 24.0 / 5.0);
    /// ```
    pub fn ideal_speedup(&self, threads: usize) -> f64 {
        let rounds = self.waits.div_ceil(threads.max(1)).max(1);
        self.waits as f64 / rounds as f64
    }
}

/// How [`fan_out`] runs its calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fanout {
    /// One after another on the calling thread.
    Sequential,
    /// A new OS thread for every call, all started at once.
    ThreadPerTask,
    /// This many threads (at least 1), each taking the next call when done
    /// with one (`ThreadPoolExecutor(max_workers=k).map`).
    Pool(usize),
}

impl Fanout {
    /// How many calls can run at once out of `calls`.
    ///
    /// ```
    /// use examples_threading::work::Fanout;
    /// assert_eq!(Fanout::Pool(4).concurrency(16), 4);
    /// assert_eq!(Fanout::ThreadPerTask.concurrency(16), 16);
    /// ```
    pub fn concurrency(self, calls: usize) -> usize {
        match self {
            Fanout::Sequential => 1,
            Fanout::ThreadPerTask => calls,
            Fanout::Pool(k) => k.clamp(1, calls.max(1)),
        }
    }

    /// The best speedup over [`Fanout::Sequential`] for `calls` calls that
    /// each wait the same time: calls run in rounds of
    /// [`concurrency`](Self::concurrency).
    ///
    /// ```
    /// use examples_threading::work::Fanout;
    /// assert_eq!(Fanout::Pool(4).ideal_speedup(16), 4.0);
    /// assert_eq!(Fanout::Pool(5).ideal_speedup(16), 4.0);
    /// ```
    pub fn ideal_speedup(self, calls: usize) -> f64 {
        let rounds = calls.div_ceil(self.concurrency(calls)).max(1);
        calls as f64 / rounds as f64
    }
}

/// Runs `call(0)`, ..., `call(calls - 1)` as `how` says and returns the
/// results in call order. A call that panics panics the caller, after the
/// other threads finished. Fails only if the OS refuses a thread (too many
/// threads, no memory), after joining the threads it did start.
///
/// ```
/// use examples_threading::work::{fan_out, Fanout};
/// let squares = fan_out(5, Fanout::Pool(2), |i| i * i)?;
/// assert_eq!(squares, vec![0, 1, 4, 9, 16]);
/// assert_eq!(fan_out(5, Fanout::ThreadPerTask, |i| i * i)?, squares);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn fan_out<T: Send>(
    calls: usize,
    how: Fanout,
    call: impl Fn(usize) -> T + Sync,
) -> io::Result<Vec<T>> {
    if how == Fanout::Sequential {
        return Ok((0..calls).map(call).collect());
    }
    let next = AtomicUsize::new(0);
    let (call, next) = (&call, &next);
    let (mut done, refused): (Vec<(usize, T)>, _) = thread::scope(|s| {
        let mut handles = Vec::new();
        let mut refused = None;
        for _ in 0..how.concurrency(calls) {
            let worker = move || {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= calls {
                        return mine;
                    }
                    mine.push((i, call(i)));
                }
            };
            match thread::Builder::new().spawn_scoped(s, worker) {
                Ok(h) => handles.push(h),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        let done = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        (done, refused)
    });
    if let Some(e) = refused {
        return Err(e);
    }
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, t)| t).collect())
}

/// Thread `i` adds 1 to its own counter `counter(&slots[i])`, `iterations`
/// times, one thread per slot, all at once. No counter is shared, yet when
/// several counters sit in one cache line the cores fight over that line
/// (false sharing); see the `false-sharing` program.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use crossbeam_utils::CachePadded;
/// use examples_threading::work::bump_own_counters;
///
/// let packed: Vec<AtomicU64> = (0..2).map(|_| AtomicU64::new(0)).collect();
/// bump_own_counters(&packed, 1000, |c| c);
/// let padded: Vec<CachePadded<AtomicU64>> =
///     (0..2).map(|_| CachePadded::new(AtomicU64::new(0))).collect();
/// bump_own_counters(&padded, 1000, |c| &**c);
/// assert!(packed.iter().chain(padded.iter().map(|c| &**c)).all(|c| c.load(Ordering::Relaxed) == 1000));
/// ```
pub fn bump_own_counters<T: Sync>(
    slots: &[T],
    iterations: u64,
    counter: impl Fn(&T) -> &AtomicU64 + Sync,
) {
    let counter = &counter;
    thread::scope(|s| {
        for slot in slots {
            s.spawn(move || {
                let c = counter(slot);
                for _ in 0..iterations {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
}

/// What [`measure`] saw while a closure ran, for the whole process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measured {
    /// Elapsed wall-clock time.
    pub wall: Duration,
    /// User + system CPU time of all threads of the process.
    pub cpu: Duration,
    /// Context switches where a thread blocked (waited for a lock, I/O, join).
    pub voluntary_switches: i64,
    /// Context switches where the scheduler preempted a running thread.
    pub involuntary_switches: i64,
}

impl Measured {
    /// How many cores were busy on average: CPU time over wall time.
    /// About 1.0 when one thread computes at a time, about 2.0 when two
    /// threads compute in parallel, lower when the machine is shared.
    pub fn cores_busy(&self) -> f64 {
        self.cpu.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }

    /// All context switches, voluntary and involuntary.
    pub fn switches(&self) -> i64 {
        self.voluntary_switches + self.involuntary_switches
    }
}

fn rusage() -> (Duration, i64, i64) {
    use nix::sys::resource::{UsageWho, getrusage};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::new(t.tv_sec().max(0) as u64, (t.tv_usec().max(0) * 1000) as u32)
            };
            (
                tv(u.user_time()) + tv(u.system_time()),
                u.voluntary_context_switches(),
                u.involuntary_context_switches(),
            )
        }
        // getrusage(RUSAGE_SELF) cannot fail on Linux; report zeros if it did.
        Err(_) => (Duration::ZERO, 0, 0),
    }
}

/// Runs `f` and returns its result with the wall time, CPU time and context
/// switches of the whole process while it ran (`getrusage(RUSAGE_SELF)`,
/// which counts every thread, also those that ended).
///
/// ```
/// use examples_threading::work::{measure, PrimeJob};
/// let (answer, m) = measure(|| PrimeJob::new(20_000, 1_000).count_sequential());
/// assert_eq!(answer, 2_262);
/// assert!(m.wall > std::time::Duration::ZERO);
/// ```
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Measured) {
    let (cpu0, vol0, inv0) = rusage();
    let start = Instant::now();
    let result = f();
    let wall = start.elapsed();
    let (cpu1, vol1, inv1) = rusage();
    let measured = Measured {
        wall,
        cpu: cpu1.saturating_sub(cpu0),
        voluntary_switches: vol1 - vol0,
        involuntary_switches: inv1 - inv0,
    };
    (result, measured)
}

/// A loopback TCP server that answers every request after a fixed delay,
/// one thread per connection, so many requests can wait at the same time
/// (like a slow web service). It listens on `127.0.0.1` on a port the kernel
/// picks; dropping it stops accepting and joins every thread.
///
/// Protocol: the client sends one line, the server waits `delay` and sends
/// the same line back.
///
/// ```
/// use std::time::Duration;
/// use examples_threading::work::{request, SlowServer};
///
/// let server = SlowServer::start(Duration::from_millis(5))?;
/// assert_eq!(request(server.addr(), "hello")?, "hello");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct SlowServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl SlowServer {
    /// Binds `127.0.0.1:0` and starts accepting.
    pub fn start(delay: Duration) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let acceptor = thread::Builder::new()
            .name("slow-server".into())
            .spawn(move || accept_loop(&listener, delay, &stop_flag))?;
        Ok(Self {
            addr,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn accept_loop(listener: &TcpListener, delay: Duration, stop: &AtomicBool) {
    let mut handlers = Vec::new();
    for conn in listener.incoming() {
        if stop.load(Ordering::Acquire) {
            break;
        }
        let Ok(conn) = conn else { continue };
        if let Ok(h) = thread::Builder::new().spawn(move || {
            // A client that goes away mid-request is its own problem.
            let _ = answer_after(conn, delay);
        }) {
            handlers.push(h);
        }
        handlers.retain(|h| !h.is_finished());
    }
    for h in handlers {
        let _ = h.join();
    }
}

fn answer_after(conn: TcpStream, delay: Duration) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line)?;
    blocking_wait(delay);
    (&conn).write_all(line.as_bytes())?;
    conn.shutdown(Shutdown::Write)
}

impl Drop for SlowServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the blocked accept() with one last connection. If even that
        // fails (no file descriptors left), leave the thread to die with the
        // process rather than hang here.
        let woke = TcpStream::connect(self.addr).is_ok();
        if let Some(acceptor) = self.acceptor.take().filter(|_| woke) {
            let _ = acceptor.join();
        }
    }
}

/// One blocking request: connect to `addr`, send `body` as a line, wait for
/// the answer (at most 10 s) and return it without the newline.
pub fn request(addr: SocketAddr, body: &str) -> io::Result<String> {
    let conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    (&conn).write_all(format!("{body}\n").as_bytes())?;
    let mut answer = String::new();
    BufReader::new(&conn).read_line(&mut answer)?;
    Ok(answer.trim_end_matches('\n').to_string())
}

/// Sends `calls` requests (`request 0`, `request 1`, ...) to the echoing
/// server at `addr`, fanned out as `how` says, and checks that each got its
/// own body back; returns what [`measure`] saw while they ran.
pub fn echo_all(addr: SocketAddr, calls: usize, how: Fanout) -> io::Result<Measured> {
    let (answers, m) = measure(|| fan_out(calls, how, |i| request(addr, &format!("request {i}"))));
    for (i, answer) in answers?.into_iter().enumerate() {
        if answer? != format!("request {i}") {
            let wrong = format!("request {i} got a wrong answer");
            return Err(io::Error::new(io::ErrorKind::InvalidData, wrong));
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_range_once() {
        for (limit, len) in [(0, 5), (1, 1), (10, 3), (1000, 7), (1000, 1000), (5, 10)] {
            let job = PrimeJob::new(limit, len);
            let total: u64 = job.slices().iter().map(|r| r.end - r.start).sum();
            assert_eq!(total, limit, "limit {limit} len {len}");
            assert!(job.slices().windows(2).all(|w| w[0].end == w[1].start));
        }
    }

    #[test]
    fn every_way_of_counting_agrees() {
        let job = PrimeJob::new(50_000, 777);
        let want = 5_133;
        assert_eq!(job.count_sequential(), want);
        for threads in 1..=5 {
            assert_eq!(job.count_scoped(threads), want);
        }
        assert_eq!(job.count_rayon(), want);
    }

    #[test]
    fn measure_sees_cpu_time_of_work() {
        let (_, m) = measure(|| PrimeJob::new(300_000, 1000).count_sequential());
        assert!(m.cpu > Duration::ZERO);
    }

    #[test]
    fn server_answers_many_at_once() -> io::Result<()> {
        let server = SlowServer::start(Duration::from_millis(20))?;
        let addr = server.addr();
        let answers: Vec<_> = thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|i| s.spawn(move || request(addr, &format!("r{i}"))))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, a) in answers.into_iter().enumerate() {
            assert_eq!(a?, format!("r{i}"));
        }
        Ok(())
    }
}
