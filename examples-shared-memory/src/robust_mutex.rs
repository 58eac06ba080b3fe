//! A lock shared between processes that survives the death of its owner:
//! a `PTHREAD_PROCESS_SHARED` + `PTHREAD_MUTEX_ROBUST` pthread mutex in a
//! [`SharedMapping`], next to the data it guards.
//!
//! When a process dies holding the lock (SIGKILL, `_exit`, a crash), the
//! kernel marks the lock "owner died" and hands it to the next locker with
//! `EOWNERDEAD`: [`RobustMutex::lock`] returns [`LockError::OwnerDied`]
//! carrying a [`Guard`]. The data may be half-updated; repair it through
//! the guard, then call [`Guard::make_consistent`] (`pthread_mutex_consistent`)
//! and go on. Dropping that guard without making it consistent makes the
//! lock unusable for everyone ([`LockError::NotRecoverable`]), as POSIX says:
//! nobody vouched for the data.
//!
//! `std::sync::Mutex` cannot do this job: its futex is process-private (a
//! wake-up from another process never arrives) and a dead owner is never
//! noticed. See [`demo`] and the `robust-mutex` program.
//!
//! Python: `multiprocessing.Lock` is a POSIX semaphore; a process killed
//! while holding it leaves it held forever.
//!
//! ```
//! use examples_shared_memory::robust_mutex::RobustMutex;
//!
//! let m = RobustMutex::new([0u64; 2])?;
//! {
//!     let mut g = m.lock().map_err(|_| "lock")?;
//!     g[0] += 1;
//!     g[1] += 1;
//! }
//! assert_eq!(*m.lock().map_err(|_| "lock")?, [1, 1]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod demo;

use std::cell::UnsafeCell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use crate::mapping::SharedMapping;

/// Where the data starts in the mapping (the mutex sits at 0).
const DATA: usize = 64;

/// Plain data that may sit in memory shared between processes: `Copy`, no
/// pointers, no destructor, and every bit pattern is a valid value (a
/// half-finished update must still be a value you can read and repair).
///
/// # Safety
/// Implement it only for types with those properties (`#[repr(C)]` structs
/// of integers, say).
pub unsafe trait Plain: Copy + Send + 'static {}

macro_rules! plain {
    ($($t:ty),*) => { $(
        // SAFETY: integers have no invalid bit patterns and no pointers.
        unsafe impl Plain for $t {}
    )* };
}
plain!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);
// SAFETY: an array of plain values is plain.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

/// A robust, process-shared mutex guarding a `T`, in its own shared
/// mapping. Create it before `fork`; every process that inherits it may
/// lock it. The creating process destroys it on drop (after the others are
/// done with it: a copy dropped in a child does nothing).
pub struct RobustMutex<T: Plain> {
    map: SharedMapping,
    creator: libc::pid_t,
    _data: PhantomData<UnsafeCell<T>>,
}

// SAFETY: the pthread mutex serialises access to the `T` across threads and
// processes; `T: Send`.
unsafe impl<T: Plain> Sync for RobustMutex<T> {}
// SAFETY: as above; the mapping itself is Send.
unsafe impl<T: Plain> Send for RobustMutex<T> {}

/// Why [`RobustMutex::lock`] did not simply succeed.
pub enum LockError<G> {
    /// The previous owner died holding the lock. You hold it now: repair
    /// the data, then [`Guard::make_consistent`].
    OwnerDied(G),
    /// An earlier `OwnerDied` guard was dropped without
    /// `make_consistent`: the lock is permanently unusable.
    NotRecoverable,
    /// [`RobustMutex::try_lock`] only: another owner holds it.
    WouldBlock,
    /// Any other error from pthreads.
    Os(io::Error),
}

impl<G> fmt::Debug for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            LockError::NotRecoverable => f.write_str("NotRecoverable"),
            LockError::WouldBlock => f.write_str("WouldBlock"),
            LockError::Os(e) => f.debug_tuple("Os").field(e).finish(),
        }
    }
}

impl<G> fmt::Display for LockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(_) => f.write_str("the previous owner died holding the lock"),
            LockError::NotRecoverable => f.write_str("the lock is not recoverable"),
            LockError::WouldBlock => f.write_str("the lock is held"),
            LockError::Os(e) => write!(f, "pthread mutex: {e}"),
        }
    }
}

impl<G> std::error::Error for LockError<G> {}

fn check(rc: libc::c_int) -> io::Result<()> {
    match rc {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

impl<T: Plain> RobustMutex<T> {
    /// A new unlocked mutex holding `value`, in a fresh shared mapping.
    pub fn new(value: T) -> io::Result<Self> {
        assert!(
            std::mem::align_of::<T>() <= DATA,
            "over-aligned data is not supported"
        );
        let map = SharedMapping::new(DATA + std::mem::size_of::<T>())?;
        const _: () = assert!(std::mem::size_of::<libc::pthread_mutex_t>() <= DATA);
        let mutex = map.as_ptr().cast::<libc::pthread_mutex_t>();
        // SAFETY: the attribute object is initialised by
        // pthread_mutexattr_init before use and destroyed after; the mutex
        // lives in our fresh mapping (page-aligned, large enough, not yet
        // shared with anyone) and is initialised exactly once; `value` is
        // written inside the mapping at an offset aligned for T.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            check(libc::pthread_mutexattr_init(&mut attr))?;
            let rc = check(libc::pthread_mutexattr_setpshared(
                &mut attr,
                libc::PTHREAD_PROCESS_SHARED,
            ))
            .and_then(|()| {
                check(libc::pthread_mutexattr_setrobust(
                    &mut attr,
                    libc::PTHREAD_MUTEX_ROBUST,
                ))
            })
            .and_then(|()| check(libc::pthread_mutex_init(mutex, &attr)));
            libc::pthread_mutexattr_destroy(&mut attr);
            rc?;
            map.as_ptr().add(DATA).cast::<T>().write(value);
        }
        Ok(Self {
            map,
            creator: std::process::id() as libc::pid_t,
            _data: PhantomData,
        })
    }

    fn mutex(&self) -> *mut libc::pthread_mutex_t {
        self.map.as_ptr().cast()
    }

    fn guard_for(&self, rc: libc::c_int) -> Result<Guard<'_, T>, LockError<Guard<'_, T>>> {
        let guard = || Guard {
            mutex: self,
            _not_send: PhantomData,
        };
        match rc {
            0 => Ok(guard()),
            libc::EOWNERDEAD => Err(LockError::OwnerDied(guard())),
            libc::ENOTRECOVERABLE => Err(LockError::NotRecoverable),
            libc::EBUSY => Err(LockError::WouldBlock),
            e => Err(LockError::Os(io::Error::from_raw_os_error(e))),
        }
    }

    /// Blocks until this thread holds the lock. `Err(OwnerDied(guard))`
    /// still means you hold it, with data the dead owner may have left
    /// half-updated.
    pub fn lock(&self) -> Result<Guard<'_, T>, LockError<Guard<'_, T>>> {
        // SAFETY: the mutex was initialised in `new` and lives as long as
        // `self`.
        let rc = unsafe { libc::pthread_mutex_lock(self.mutex()) };
        self.guard_for(rc)
    }

    /// Like [`RobustMutex::lock`] but returns [`LockError::WouldBlock`]
    /// instead of waiting.
    pub fn try_lock(&self) -> Result<Guard<'_, T>, LockError<Guard<'_, T>>> {
        // SAFETY: as in `lock`.
        let rc = unsafe { libc::pthread_mutex_trylock(self.mutex()) };
        self.guard_for(rc)
    }
}

impl<T: Plain> Drop for RobustMutex<T> {
    fn drop(&mut self) {
        if std::process::id() as libc::pid_t == self.creator {
            // SAFETY: initialised in `new`; no guard borrows `self` any more.
            // Only the creator destroys it, so a forked child dropping its
            // copy does not break the lock under the other processes.
            unsafe { libc::pthread_mutex_destroy(self.mutex()) };
        }
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for RobustMutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RobustMutex").finish_non_exhaustive()
    }
}

/// Proof that this thread holds a [`RobustMutex`]; gives access to the
/// data and unlocks on drop.
pub struct Guard<'a, T: Plain> {
    mutex: &'a RobustMutex<T>,
    // pthread mutexes must be unlocked by the thread that locked them.
    _not_send: PhantomData<*const ()>,
}

impl<T: Plain> Guard<'_, T> {
    /// After [`LockError::OwnerDied`]: declares the (repaired) data
    /// consistent, so the lock works normally again after this guard is
    /// dropped. On a lock that was not inherited from a dead owner it fails
    /// with `EINVAL`.
    pub fn make_consistent(&mut self) -> io::Result<()> {
        // SAFETY: we hold the lock (this guard), which is what
        // pthread_mutex_consistent requires.
        check(unsafe { libc::pthread_mutex_consistent(self.mutex.mutex()) })
    }
}

impl<T: Plain> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: we hold the lock, so no other thread or process accesses
        // the data until we unlock; `T: Plain` makes any bit pattern a dead
        // owner left valid; the pointer is aligned and inside the mapping.
        unsafe { &*self.mutex.map.as_ptr().add(DATA).cast::<T>() }
    }
}

impl<T: Plain> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only
        // reference in this process while the lock excludes the others.
        unsafe { &mut *self.mutex.map.as_ptr().add(DATA).cast::<T>() }
    }
}

impl<T: Plain> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this thread holds the lock (the guard exists only then).
        unsafe { libc::pthread_mutex_unlock(self.mutex.mutex()) };
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for Guard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Guard").field(&**self).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_try_lock_and_data() {
        let m = RobustMutex::new(5u64).unwrap();
        let mut g = m.lock().unwrap();
        *g += 1;
        assert!(matches!(m.try_lock(), Err(LockError::WouldBlock)));
        drop(g);
        assert_eq!(*m.try_lock().unwrap(), 6);
    }

    #[test]
    fn make_consistent_on_a_healthy_lock_is_einval() {
        let m = RobustMutex::new(0u32).unwrap();
        let mut g = m.lock().unwrap();
        assert_eq!(
            g.make_consistent().unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
    }

    #[test]
    fn owner_thread_exit_is_recovered() {
        // A thread that ends holding the lock counts as a dead owner too
        // (robust mutexes are per thread); no fork needed.
        let m = RobustMutex::new([0u64; 2]).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut g = m.lock().unwrap();
                g[0] = 7; // half of a two-field update
                std::mem::forget(g);
            });
        });
        match m.lock() {
            Err(LockError::OwnerDied(mut g)) => {
                assert_eq!(*g, [7, 0]);
                g[1] = 7;
                g.make_consistent().unwrap();
            }
            other => panic!("expected OwnerDied, got {other:?}"),
        }
        assert_eq!(*m.lock().unwrap(), [7, 7]);
    }

    #[test]
    fn unrepaired_lock_becomes_not_recoverable() {
        let m = RobustMutex::new(0u8).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| std::mem::forget(m.lock().unwrap()));
        });
        assert!(matches!(m.lock(), Err(LockError::OwnerDied(_))));
        assert!(matches!(m.lock(), Err(LockError::NotRecoverable)));
    }
}
