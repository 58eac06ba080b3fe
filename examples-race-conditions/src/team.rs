//! Threads that start together, or not at all.
//!
//! The forced schedules in this crate make threads meet at barriers. If the
//! system refuses the fifth of eight threads (`ulimit -u`, a container's
//! pids limit), the four already running would wait at the barrier forever
//! for threads that do not exist. So every thread first waits at a [`Gate`],
//! and the gate opens only once all of them were spawned; if one could not
//! be, the gate is cancelled, the started threads return without working,
//! they are joined, and the caller gets a [`Refused`] that says in one line
//! what ran out. Python: `threading.Thread.start()` raises `RuntimeError:
//! can't start new thread`, and threads already waiting on a
//! `threading.Barrier` hang the same way unless you `barrier.abort()`.
//!
//! ```
//! use examples_race_conditions::team;
//! let squares = team::run(4, |i| i * i).expect("4 threads");
//! assert_eq!(squares, vec![0, 1, 4, 9]);
//! ```

use std::fmt;
use std::io;
use std::panic;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

/// A start signal that can be given or called off, once.
#[derive(Debug, Default)]
pub struct Gate {
    /// `None`: closed; `Some(true)`: opened; `Some(false)`: cancelled.
    state: Mutex<Option<bool>>,
    changed: Condvar,
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self::default()
    }

    fn set(&self, open: bool) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.get_or_insert(open);
        self.changed.notify_all();
    }

    /// Lets every waiter through (unless already cancelled).
    pub fn open(&self) {
        self.set(true);
    }

    /// Sends every waiter away (unless already opened).
    pub fn cancel(&self) {
        self.set(false);
    }

    /// Waits until the gate is opened (`true`) or cancelled (`false`).
    pub fn pass(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = self
            .changed
            .wait_while(state, |s| s.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        *state == Some(true)
    }
}

/// The system refused a thread; the ones started before it were stopped
/// and joined.
#[derive(Debug)]
pub struct Refused {
    /// Threads that had started (and were sent away by the gate).
    pub started: usize,
    /// Threads wanted.
    pub wanted: usize,
    /// Why the spawn failed (`EAGAIN`: out of threads or memory).
    pub error: io::Error,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "out of threads: could not start thread {} of {} ({}); stopped the {} already started",
            self.started + 1,
            self.wanted,
            self.error,
            self.started
        )
    }
}

impl std::error::Error for Refused {}

impl From<Refused> for io::Error {
    fn from(refused: Refused) -> Self {
        io::Error::new(refused.error.kind(), refused)
    }
}

fn joined<T>(handle: thread::Result<T>) -> T {
    // A panic in a worker is a bug in the lesson: pass it on.
    handle.unwrap_or_else(|payload| panic::resume_unwind(payload))
}

/// Runs `work(0)` .. `work(threads - 1)` on `threads` scoped threads that
/// start together (after all were spawned) and returns their results in
/// order, or [`Refused`] if the system would not give all of them.
pub fn run<T: Send>(threads: usize, work: impl Fn(usize) -> T + Sync) -> Result<Vec<T>, Refused> {
    let gate = Gate::new();
    thread::scope(|s| {
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let (gate, work) = (&gate, &work);
            match thread::Builder::new().spawn_scoped(s, move || gate.pass().then(|| work(i))) {
                Ok(handle) => handles.push(handle),
                Err(error) => {
                    gate.cancel();
                    handles.into_iter().for_each(|h| drop(joined(h.join())));
                    return Err(Refused {
                        started: i,
                        wanted: threads,
                        error,
                    });
                }
            }
        }
        gate.open();
        Ok(handles
            .into_iter()
            .filter_map(|h| joined(h.join()))
            .collect())
    })
}

/// Spawns `threads` threads named `name(i)` that run `work(i)` once all of
/// them were spawned, and hands back their handles, for runs that must not
/// join (a deadlocked thread never returns). If one cannot be spawned, the
/// others are sent away and joined, and the error says what ran out.
pub fn spawn(
    threads: usize,
    name: impl Fn(usize) -> String,
    work: impl Fn(usize) + Send + Sync + 'static,
) -> Result<Vec<JoinHandle<()>>, Refused> {
    let gate = Arc::new(Gate::new());
    let work = Arc::new(work);
    let mut handles = Vec::with_capacity(threads);
    for i in 0..threads {
        let (mine, work) = (Arc::clone(&gate), Arc::clone(&work));
        let spawned = thread::Builder::new().name(name(i)).spawn(move || {
            if mine.pass() {
                work(i);
            }
        });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(error) => {
                gate.cancel();
                handles.into_iter().for_each(|h| joined(h.join()));
                return Err(Refused {
                    started: i,
                    wanted: threads,
                    error,
                });
            }
        }
    }
    gate.open();
    Ok(handles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancelled_gate_sends_waiters_away_and_stays_cancelled() {
        let gate = Gate::new();
        thread::scope(|s| {
            let waiter = s.spawn(|| gate.pass());
            gate.cancel();
            gate.open();
            assert!(!waiter.join().unwrap());
        });
        assert!(!gate.pass());
    }

    #[test]
    fn spawned_threads_run_after_all_started() {
        let handles = spawn(3, |i| format!("t{i}"), |_| {}).expect("3 threads");
        assert_eq!(handles.len(), 3);
        for h in handles {
            h.join().unwrap();
        }
    }

    #[test]
    fn refused_says_what_ran_out_in_one_line() {
        let refused = Refused {
            started: 4,
            wanted: 8,
            error: io::Error::from_raw_os_error(libc::EAGAIN),
        };
        let line = refused.to_string();
        assert!(line.starts_with("out of threads: could not start thread 5 of 8"));
        assert!(line.ends_with("stopped the 4 already started"));
        assert!(!line.contains('\n'));
    }
}
