//! The shared state of one [`ThreadPool::map`](super::ThreadPool::map): each
//! item in a slot of its own, one counter that hands out chunks of indices,
//! and the first panic.
//!
//! A worker claims `chunksize` indices with one `fetch_add`, takes each item
//! out of its slot and writes the result back into the same slot. The
//! counter gives every index to exactly one worker, so the slots need no
//! lock, and no item or result is boxed or sent through a channel: a chunk
//! costs one atomic add. The caller reads the slots only after every worker
//! has let go of the batch, when it owns it again.

use super::{TaskError, panic_message};
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::cell::UnsafeCell;
use crate::sync::{Mutex, lock};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// One index of a batch: the item until a worker takes it, then the result.
enum Slot<I, T> {
    Item(I),
    /// Taken by a worker; stays so if the task panicked.
    Running,
    Done(T),
}

/// The items, their results, and the counter the workers claim chunks from.
pub(super) struct Batch<I, T, F> {
    slots: Vec<UnsafeCell<Slot<I, T>>>,
    /// The first index no worker has claimed yet. It only grows, by
    /// `chunksize` per claim; each worker makes one claim past the end and
    /// stops, so it stays below `len + jobs * chunksize`, at most three times
    /// the length (`chunksize` is at most the length): it cannot wrap.
    next: AtomicUsize,
    chunksize: usize,
    f: F,
    /// The lowest index whose task panicked, with the panic's message.
    panic: Mutex<Option<(usize, String)>>,
}

// SAFETY: workers share a batch, but the slot of index `i` is only touched by
// the worker that claimed `i` from `next` (each index is handed out once),
// and by the caller after every worker has dropped its reference. So items
// and results move between threads (`Send`) but are never shared; `f` is
// called from several threads at once (`Sync`).
unsafe impl<I: Send, T: Send, F: Sync> Sync for Batch<I, T, F> {}

impl<I, T, F: Fn(I) -> T> Batch<I, T, F> {
    /// A batch of `items`, handed out `chunksize` at a time (at least 1).
    pub(super) fn new(items: impl IntoIterator<Item = I>, chunksize: usize, f: F) -> Self {
        let slots: Vec<_> = items
            .into_iter()
            .map(|item| UnsafeCell::new(Slot::Item(item)))
            .collect();
        Self {
            chunksize: chunksize.clamp(1, slots.len().max(1)),
            slots,
            next: AtomicUsize::new(0),
            f,
            panic: Mutex::new(None),
        }
    }

    /// How many chunks the items make.
    pub(super) fn chunks(&self) -> usize {
        self.slots.len().div_ceil(self.chunksize)
    }

    /// Claims chunks and runs their items until none are left: the body of
    /// each job `map` queues. A panic ends its chunk (the rest of that chunk
    /// does not run) and is recorded; the worker goes on to the next chunk.
    pub(super) fn work(&self) {
        let len = self.slots.len();
        loop {
            // Relaxed is enough: the counter only divides the indices; the
            // items were published by the channel that carried this job, and
            // the results reach the caller through the job's reply.
            let start = self.next.fetch_add(self.chunksize, Ordering::Relaxed);
            if start >= len {
                return;
            }
            let mut at = start;
            let chunk = catch_unwind(AssertUnwindSafe(|| {
                for i in start..(start + self.chunksize).min(len) {
                    at = i;
                    self.run(i);
                }
            }));
            if let Err(payload) = chunk {
                let mut first = lock(&self.panic);
                if first.as_ref().is_none_or(|(i, _)| at < *i) {
                    *first = Some((at, panic_message(payload.as_ref())));
                }
            }
        }
    }

    /// Runs the item of index `i`, which this worker has claimed.
    fn run(&self, i: usize) {
        self.slots[i].with_mut(|slot| {
            // SAFETY: `i` comes from a range this worker claimed from `next`,
            // which hands each index out once, so no other thread touches
            // this slot (see the `Sync` impl).
            let slot = unsafe { &mut *slot };
            if let Slot::Item(item) = std::mem::replace(slot, Slot::Running) {
                *slot = Slot::Done((self.f)(item));
            }
        });
    }

    /// The results in input order, or the panic of the lowest index that
    /// panicked. Called once no worker holds the batch.
    pub(super) fn into_results(self) -> Result<Vec<T>, TaskError> {
        let panic = self
            .panic
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, message)) = panic {
            return Err(TaskError::Panicked(message));
        }
        self.slots
            .into_iter()
            .map(|slot| match slot.into_inner() {
                Slot::Done(result) => Ok(result),
                // Not reached: every job ran to the end without a panic.
                Slot::Item(_) | Slot::Running => Err(TaskError::Lost),
            })
            .collect()
    }
}
