//! How a pool is configured: [`PoolBuilder`], its defaults, and the
//! [`CancelToken`].

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::worker::Boxed;
use crate::{Error, Pool};

/// Default for [`PoolBuilder::max_restarts`].
pub const DEFAULT_MAX_RESTARTS: usize = 10;
/// Default for [`PoolBuilder::max_in_flight`].
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;
/// Default for [`PoolBuilder::shutdown_timeout`].
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);
/// Exit code of a worker whose initializer panicked.
pub const EXIT_INIT_FAILED: i32 = 3;
/// Exit code of a worker that received a frame it could not decode.
pub const EXIT_PROTOCOL: i32 = 5;

/// Stops a pool's calls soon after it is set: `map` and friends return
/// [`Error::Cancelled`]. Cheap to clone; every clone is the same token.
///
/// ```
/// use process_pool::CancelToken;
///
/// let token = CancelToken::new();
/// let other = token.clone();
/// other.cancel();
/// assert!(token.is_cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    own: Arc<AtomicBool>,
    watched: Option<&'static AtomicBool>,
}

impl CancelToken {
    /// A fresh, unset token.
    ///
    /// ```
    /// assert!(!process_pool::CancelToken::new().is_cancelled());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// A token that is also set when `flag` is, e.g. the one a `SIGINT`
    /// handler sets ([`process_toolkit::stop_signal::flag`]).
    ///
    /// ```
    /// use process_pool::CancelToken;
    ///
    /// let on_ctrl_c = CancelToken::watching(process_toolkit::stop_signal::flag());
    /// assert!(!on_ctrl_c.is_cancelled());
    /// ```
    pub fn watching(flag: &'static AtomicBool) -> Self {
        Self {
            own: Arc::default(),
            watched: Some(flag),
        }
    }

    /// Sets the token.
    ///
    /// ```
    /// let t = process_pool::CancelToken::new();
    /// t.cancel();
    /// assert!(t.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        self.own.store(true, Ordering::SeqCst);
    }

    /// Whether the token (or the flag it watches) is set.
    ///
    /// ```
    /// assert!(!process_pool::CancelToken::new().is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.own.load(Ordering::SeqCst) || self.watched.is_some_and(|f| f.load(Ordering::SeqCst))
    }
}

/// A closure given at build time, for state captured before the fork; pass
/// it to any call in place of a `fn`. Made by [`PoolBuilder::job`].
pub struct Job<T, R> {
    pub(crate) index: u64,
    _types: PhantomData<fn(T) -> R>,
}

impl<T, R> Clone for Job<T, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, R> Copy for Job<T, R> {}

/// Configures a [`Pool`]; made by [`Pool::builder`].
pub struct PoolBuilder {
    pub(crate) workers: usize,
    pub(crate) closures: Vec<Box<dyn Any>>,
    pub(crate) init: Option<Box<dyn Fn()>>,
    pub(crate) max_tasks_per_child: Option<usize>,
    pub(crate) max_restarts: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) allow_threads: bool,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) task_timeout: Option<Duration>,
}

impl PoolBuilder {
    pub(crate) fn new(workers: usize) -> Self {
        PoolBuilder {
            workers,
            closures: Vec::new(),
            init: None,
            max_tasks_per_child: None,
            max_restarts: DEFAULT_MAX_RESTARTS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            allow_threads: false,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            cancel: None,
            task_timeout: None,
        }
    }

    /// Registers a closure that captures state *before* the fork (a table
    /// loaded once, a calibrated constant): every worker inherits it. Use
    /// the returned [`Job`] where a call takes a function.
    ///
    /// ```no_run
    /// use process_pool::Pool;
    ///
    /// let offset = 40u64; // known before the workers exist
    /// let mut builder = Pool::builder(2);
    /// let add = builder.job(move |x: u64| x + offset);
    /// let mut pool = builder.build()?;
    /// assert_eq!(pool.map(add, [2u64])?[0].as_ref().ok(), Some(&42));
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn job<T, R>(&mut self, f: impl Fn(T) -> R + 'static) -> Job<T, R>
    where
        T: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        let boxed: Boxed<T, R> = Box::new(f);
        self.closures.push(Box::new(boxed));
        Job {
            index: self.closures.len() as u64 - 1,
            _types: PhantomData,
        }
    }

    /// Runs `init` once in each worker, before its first task (a panic
    /// there ends the worker with [`EXIT_INIT_FAILED`]). Python's
    /// `initializer=`.
    ///
    /// ```no_run
    /// let pool = process_pool::Pool::builder(2).initializer(|| eprintln!("worker up")).build()?;
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn initializer(mut self, init: impl Fn() + 'static) -> Self {
        self.init = Some(Box::new(init));
        self
    }

    /// Retires each worker after `n` tasks and forks a fresh one (for
    /// functions that leak). Default: never. Python's `maxtasksperchild`.
    ///
    /// ```no_run
    /// let pool = process_pool::Pool::builder(2).max_tasks_per_child(100).build()?;
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// How many workers may die in a row, with no task completing in
    /// between, before the pool gives up with [`Error::Broken`].
    ///
    /// ```no_run
    /// let pool = process_pool::Pool::builder(2).max_restarts(3).build()?;
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn max_restarts(mut self, n: usize) -> Self {
        self.max_restarts = n;
        self
    }

    /// Upper bound on chunks queued per worker (default
    /// [`DEFAULT_MAX_IN_FLIGHT`]; the pool sizes the window below it from
    /// measured chunk times). `1` gives the naive one-chunk-per-round-trip
    /// pool, for comparison.
    ///
    /// ```no_run
    /// let naive = process_pool::Pool::builder(2).max_in_flight(1).build()?;
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// Allows building in a process that already runs other threads. Only
    /// safe if the functions and initializer need no lock those threads
    /// might hold at the moment `build` forks the fork server (malloc's
    /// arenas included). Threads started *after* `build` need no opt-out:
    /// workers, replacements included, are forked by that single-threaded
    /// server, never by this process.
    ///
    /// ```no_run
    /// let pool = process_pool::Pool::builder(2).allow_threads(true).build()?;
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn allow_threads(mut self, allow: bool) -> Self {
        self.allow_threads = allow;
        self
    }

    /// How long a shutdown waits for workers before `SIGKILL` (default 2 s).
    ///
    /// ```no_run
    /// let pool = process_pool::Pool::builder(2).shutdown_timeout(std::time::Duration::from_millis(100)).build()?;
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn shutdown_timeout(mut self, limit: Duration) -> Self {
        self.shutdown_timeout = limit;
        self
    }

    /// Kills a worker whose task runs longer than `limit`: that task fails
    /// with [`Error::TimedOut`], a replacement is forked, the rest goes on.
    /// Default: no limit (like Python's `Pool`, where a hung task hangs
    /// `map` forever).
    ///
    /// ```no_run
    /// let pool = process_pool::Pool::builder(2).task_timeout(std::time::Duration::from_secs(1)).build()?;
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn task_timeout(mut self, limit: Duration) -> Self {
        self.task_timeout = Some(limit);
        self
    }

    /// Makes every call stop with [`Error::Cancelled`] soon after `token`
    /// is set (within 100 ms).
    ///
    /// ```no_run
    /// let token = process_pool::CancelToken::new();
    /// let pool = process_pool::Pool::builder(2).cancel_token(token.clone()).build()?;
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Checks the settings and forks the workers.
    ///
    /// ```no_run
    /// let pool = process_pool::Pool::builder(2).build()?;
    /// # Ok::<(), process_pool::Error>(())
    /// ```
    pub fn build(self) -> Result<Pool, Error> {
        if self.workers == 0 {
            return Err(Error::NoWorkers);
        }
        if self.max_in_flight == 0 {
            return Err(Error::Zero("max_in_flight"));
        }
        if self.max_tasks_per_child == Some(0) {
            return Err(Error::Zero("max_tasks_per_child"));
        }
        Pool::start(self)
    }
}
