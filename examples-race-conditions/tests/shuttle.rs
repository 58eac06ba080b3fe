//! shuttle models: the naive lock orders deadlock, the fixes never do.
//!
//! The lock-taking code is the library's own ([`deadlock::transfer`],
//! [`dining::eat`] with [`dining::forks`]), run over shuttle's `Mutex`
//! through the [`Lock`] trait. Only the waiter's chair count is copied here,
//! over shuttle's `Mutex` and `Condvar`, because the library's `Waiter` is
//! built on std's. shuttle explores schedules (randomly, with a fixed seed
//! range per run) and panics with "deadlock" when every thread is blocked.
#![cfg(not(loom))]

use examples_race_conditions::deadlock::{self, Order};
use examples_race_conditions::dining::{self, Table};
use examples_race_conditions::lock::Lock;
use shuttle::sync::{Arc, Condvar, Mutex, MutexGuard};
use shuttle::thread;

/// shuttle's `Mutex` as a [`Lock`].
struct ShuttleLock<T>(Mutex<T>);

impl<T> Lock for ShuttleLock<T> {
    type Data = T;
    type Guard<'a>
        = MutexGuard<'a, T>
    where
        T: 'a;

    fn acquire(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap()
    }
}

/// Random schedules tried per dining model: the naive deadlock shows up in
/// a good share of them (the test has never needed more than a few).
const SCHEDULES: usize = 2_000;

/// Two threads transfer in opposite directions twice each.
fn opposite_transfers(order: Order) {
    shuttle::check_dfs(
        move || {
            let accounts = Arc::new([ShuttleLock(Mutex::new(10)), ShuttleLock(Mutex::new(10))]);
            let other = {
                let accounts = Arc::clone(&accounts);
                thread::spawn(move || {
                    for _ in 0..2 {
                        deadlock::transfer(&*accounts, 1, 0, 1, order, || {});
                    }
                })
            };
            for _ in 0..2 {
                deadlock::transfer(&*accounts, 0, 1, 1, order, || {});
            }
            other.join().unwrap();
            let total = *accounts[0].acquire() + *accounts[1].acquire();
            assert_eq!(total, 20, "money conserved");
        },
        None,
    );
}

#[test]
#[should_panic(expected = "deadlock")]
fn opposite_lock_orders_deadlock() {
    opposite_transfers(Order::Naive);
}

#[test]
fn global_lock_order_never_deadlocks() {
    opposite_transfers(Order::Global);
}

/// The waiter, over shuttle's types: a copy of `dining::Waiter`.
struct ShuttleWaiter {
    free: Mutex<usize>,
    chair_freed: Condvar,
}

impl ShuttleWaiter {
    fn seat(&self) {
        let mut free = self.free.lock().unwrap();
        while *free == 0 {
            free = self.chair_freed.wait(free).unwrap();
        }
        *free -= 1;
    }

    fn leave(&self) {
        *self.free.lock().unwrap() += 1;
        self.chair_freed.notify_one();
    }
}

/// Three philosophers, two meals each.
fn dinner(table: Table) {
    const N: usize = 3;
    shuttle::check_random(
        move || {
            let forks: Arc<Vec<ShuttleLock<u64>>> =
                Arc::new((0..N).map(|_| ShuttleLock(Mutex::new(0))).collect());
            let waiter = Arc::new(ShuttleWaiter {
                free: Mutex::new(N - 1),
                chair_freed: Condvar::new(),
            });
            let philosophers: Vec<_> = (0..N)
                .map(|seat| {
                    let (forks, waiter) = (Arc::clone(&forks), Arc::clone(&waiter));
                    thread::spawn(move || {
                        for _ in 0..2 {
                            if table == Table::Waiter {
                                waiter.seat();
                            }
                            dining::eat(&forks, dining::forks(table, seat, N), || {}, || {});
                            if table == Table::Waiter {
                                waiter.leave();
                            }
                        }
                    })
                })
                .collect();
            for p in philosophers {
                p.join().unwrap();
            }
            let uses: u64 = forks.iter().map(|f| *f.acquire()).sum();
            assert_eq!(uses, 2 * 2 * N as u64, "every meal used two forks");
        },
        SCHEDULES,
    );
}

#[test]
#[should_panic(expected = "deadlock")]
fn naive_table_deadlocks() {
    dinner(Table::Naive);
}

#[test]
fn ordered_forks_never_deadlock() {
    dinner(Table::Ordered);
}

#[test]
fn waiter_seating_n_minus_1_never_deadlocks() {
    dinner(Table::Waiter);
}
