//! A barrier with a time limit, used to force a schedule.
//!
//! The deadlock programs make every thread that can take its first lock wait
//! here, holding it, until the others have taken theirs: that turns "may
//! deadlock, some day" into "deadlocks on every run". Unlike
//! `std::sync::Barrier` it opens for good once `parties` have arrived, and
//! it gives up after a limit instead of waiting forever.
//!
//! ```
//! use examples_race_conditions::rendezvous::Rendezvous;
//! use std::time::Duration;
//! let meet = Rendezvous::new(1);
//! assert!(meet.arrive(Duration::from_millis(10)));
//! ```

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// Opens once `parties` threads have arrived.
#[derive(Debug)]
pub struct Rendezvous {
    parties: usize,
    arrived: Mutex<usize>,
    all_here: Condvar,
}

impl Rendezvous {
    /// A rendezvous for `parties` threads (0 or 1: always open).
    pub fn new(parties: usize) -> Self {
        Rendezvous {
            parties,
            arrived: Mutex::new(0),
            all_here: Condvar::new(),
        }
    }

    /// Arrives and waits until all parties have, or `limit` passes; says
    /// whether everyone arrived in time. Later arrivals pass straight through.
    pub fn arrive(&self, limit: Duration) -> bool {
        let mut arrived = self.arrived.lock().unwrap_or_else(PoisonError::into_inner);
        *arrived += 1;
        if *arrived >= self.parties {
            self.all_here.notify_all();
            return true;
        }
        let (arrived, _) = self
            .all_here
            .wait_timeout_while(arrived, limit, |n| *n < self.parties)
            .unwrap_or_else(PoisonError::into_inner);
        *arrived >= self.parties
    }
}
