//! A deadlock detector: who holds which lock, who waits for which.
//!
//! Every [`WatchedMutex`] reports to one [`WaitGraph`] when a thread starts
//! waiting for it, gets it and lets it go. A deadlock is a cycle: thread 1
//! waits for a lock held by thread 2, which waits for a lock held by
//! thread 1. Such a cycle never resolves, so [`watch`] reports it as soon as
//! it appears, naming each thread and lock, instead of hanging.
//!
//! A cycle is never seen by mistake: a lock is recorded as held only after
//! `lock()` returned and unrecorded before it is released, so every "held
//! by" edge is real, and a thread listed as waiting is either blocked or
//! about to block on a lock whose holder is itself stuck in the cycle.
//!
//! ```
//! use examples_race_conditions::lock::Lock;
//! use examples_race_conditions::wait_graph::{WaitGraph, WatchedMutex};
//! use std::sync::Arc;
//! let graph = Arc::new(WaitGraph::default());
//! let a = WatchedMutex::new("lock A", 0, &graph);
//! let guard = a.acquire();
//! assert!(graph.cycle().is_none());
//! drop(guard);
//! ```

use crate::lock::Lock;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// The current holders and waiters of every watched lock.
#[derive(Debug, Default)]
pub struct WaitGraph {
    edges: Mutex<Edges>,
}

#[derive(Debug, Default)]
struct Edges {
    /// lock -> the thread holding it
    held_by: BTreeMap<String, String>,
    /// thread -> the lock it waits for
    waits_for: BTreeMap<String, String>,
}

/// One thread blocked on one lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    /// The waiting thread.
    pub thread: String,
    /// Locks it holds meanwhile.
    pub holds: Vec<String>,
    /// The lock it waits for.
    pub lock: String,
    /// Who holds that lock, if anyone.
    pub holder: Option<String>,
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.thread)?;
        if !self.holds.is_empty() {
            write!(f, " holds {},", self.holds.join(" and "))?;
        }
        write!(f, " waits for {}", self.lock)?;
        match &self.holder {
            Some(holder) => write!(f, " (held by {holder})"),
            None => Ok(()),
        }
    }
}

impl WaitGraph {
    fn edges(&self) -> MutexGuard<'_, Edges> {
        self.edges.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every thread waiting for a lock right now.
    pub fn waits(&self) -> Vec<Wait> {
        let edges = self.edges();
        edges
            .waits_for
            .iter()
            .map(|(thread, lock)| edges.wait(thread, lock))
            .collect()
    }

    /// The waits that form a cycle (a deadlock), in order around it.
    pub fn cycle(&self) -> Option<Vec<Wait>> {
        let edges = self.edges();
        // Each thread waits for at most one lock and each lock has at most
        // one holder, so following "waits for, held by" from any thread
        // either stops or loops.
        for start in edges.waits_for.keys() {
            let mut path: Vec<&String> = vec![start];
            let mut thread = start;
            while let Some(next) = edges
                .waits_for
                .get(thread)
                .and_then(|lock| edges.held_by.get(lock))
            {
                if let Some(at) = path.iter().position(|t| *t == next) {
                    let cycle = path[at..]
                        .iter()
                        .map(|t| edges.wait(t, &edges.waits_for[*t]))
                        .collect();
                    return Some(cycle);
                }
                path.push(next);
                thread = next;
            }
        }
        None
    }
}

impl Edges {
    fn wait(&self, thread: &str, lock: &str) -> Wait {
        Wait {
            thread: thread.to_string(),
            holds: self
                .held_by
                .iter()
                .filter(|(_, holder)| *holder == thread)
                .map(|(lock, _)| lock.clone())
                .collect(),
            lock: lock.to_string(),
            holder: self.held_by.get(lock).cloned(),
        }
    }
}

fn current_thread() -> String {
    let me = thread::current();
    match me.name() {
        Some(name) => name.to_string(),
        None => format!("{:?}", me.id()),
    }
}

/// A `Mutex` that tells its [`WaitGraph`] who waits for it and who holds it.
/// Threads are named by their `thread::Builder` name.
#[derive(Debug)]
pub struct WatchedMutex<T> {
    name: String,
    graph: Arc<WaitGraph>,
    inner: Mutex<T>,
}

impl<T> WatchedMutex<T> {
    /// A lock called `name` (as reports will say it) reporting to `graph`.
    pub fn new(name: impl Into<String>, value: T, graph: &Arc<WaitGraph>) -> Self {
        WatchedMutex {
            name: name.into(),
            graph: Arc::clone(graph),
            inner: Mutex::new(value),
        }
    }
}

/// The guard of a [`WatchedMutex`]; unrecords the holder before unlocking.
#[derive(Debug)]
pub struct WatchedGuard<'a, T> {
    lock: &'a WatchedMutex<T>,
    guard: MutexGuard<'a, T>,
}

impl<T> Lock for WatchedMutex<T> {
    type Data = T;
    type Guard<'a>
        = WatchedGuard<'a, T>
    where
        T: 'a;

    fn acquire(&self) -> WatchedGuard<'_, T> {
        let me = current_thread();
        self.graph
            .edges()
            .waits_for
            .insert(me.clone(), self.name.clone());
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut edges = self.graph.edges();
        edges.waits_for.remove(&me);
        edges.held_by.insert(self.name.clone(), me);
        WatchedGuard { lock: self, guard }
    }
}

impl<T> Drop for WatchedGuard<'_, T> {
    fn drop(&mut self) {
        // Runs before the field `guard` unlocks the mutex.
        self.lock.graph.edges().held_by.remove(&self.lock.name);
    }
}

impl<T> Deref for WatchedGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for WatchedGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// How a watched run ended.
#[derive(Debug)]
pub enum Outcome {
    /// `finished` said so: every thread is done.
    Finished,
    /// A cycle of waits: these threads will never run again.
    Deadlock(Vec<Wait>),
    /// Neither within the limit; the waits at that moment.
    Stalled(Vec<Wait>),
}

/// Polls `graph` every millisecond until `finished()` holds, a cycle
/// appears, or `limit` passes. Never blocks longer than `limit`.
pub fn watch(graph: &WaitGraph, finished: impl Fn() -> bool, limit: Duration) -> Outcome {
    let deadline = Instant::now() + limit;
    loop {
        if finished() {
            return Outcome::Finished;
        }
        if let Some(cycle) = graph.cycle() {
            return Outcome::Deadlock(cycle);
        }
        if Instant::now() >= deadline {
            return Outcome::Stalled(graph.waits());
        }
        thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_thread_is_reported_with_the_holder_and_no_cycle() {
        let graph = Arc::new(WaitGraph::default());
        let a = WatchedMutex::new("lock A", 0, &graph);
        thread::scope(|s| {
            let held = thread::Builder::new()
                .name("holder".into())
                .spawn_scoped(s, || {
                    let guard = a.acquire();
                    // Hold A until the other thread is seen waiting for it.
                    while graph.waits().is_empty() {
                        thread::sleep(Duration::from_millis(1));
                    }
                    let waits = graph.waits();
                    drop(guard);
                    waits
                })
                .expect("spawn");
            // Make sure the holder has A before we ask for it.
            while graph.edges().held_by.is_empty() {
                thread::sleep(Duration::from_millis(1));
            }
            thread::Builder::new()
                .name("waiter".into())
                .spawn_scoped(s, || *a.acquire() += 1)
                .expect("spawn");
            let waits = held.join().expect("holder");
            assert_eq!(waits.len(), 1);
            assert_eq!(
                waits[0].to_string(),
                "waiter waits for lock A (held by holder)"
            );
        });
        assert!(graph.cycle().is_none());
        assert!(graph.waits().is_empty());
        assert_eq!(*a.acquire(), 1);
    }
}
