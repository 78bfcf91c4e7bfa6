//! Per-process accounting: fuel, quanta, yields, preemptions, time per state, and the
//! spawn and exit instants. Written only by whoever runs the process at the moment (one
//! writer at a time: the task runs on one worker at a time), so counters are bumped with
//! a relaxed load and store rather than a locked read-modify-write; readers want a recent
//! value, not a fence.
//!
//! Time per state is kept by the [`StateCell`](crate::StateCell), which sees every
//! transition; [`Accounting::snapshot`] folds its [`StateTimes`] in. The exit instant is
//! set once, by the first [`Accounting::mark_exited`].

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::StateTimes;
use crate::sync::{AtomicU64, Ordering};

/// Adds `n` to a counter that has one writer at a time.
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// Live counters of one process.
#[derive(Debug)]
pub struct Accounting {
    /// Fuel consumed.
    fuel: AtomicU64,
    /// Quanta started.
    quanta: AtomicU64,
    /// Yields the guest asked for.
    voluntary_yields: AtomicU64,
    /// Quanta ended by fuel or epoch rather than by the guest.
    preemptions: AtomicU64,
    /// When it was spawned.
    spawned_at: Instant,
    /// When it exited; set once (the first mark wins). Read only for snapshots.
    exited_at: OnceLock<Instant>,
}

/// Accounting at one instant.
#[derive(Copy, Clone, Debug, Default, PartialEq)]
pub struct AccountingSnapshot {
    /// Fuel consumed (0 without fuel metering).
    pub fuel: u64,
    /// Quanta run.
    pub quanta: u64,
    /// Voluntary yields.
    pub voluntary_yields: u64,
    /// Preemptions.
    pub preemptions: u64,
    /// Time queued for a worker.
    pub runnable: Duration,
    /// Time on a worker.
    pub running: Duration,
    /// Time blocked.
    pub waiting: Duration,
    /// Spawn instant.
    pub spawned_at: Option<Instant>,
    /// Exit instant, once exited.
    pub exited_at: Option<Instant>,
}

impl Accounting {
    /// Fresh counters for a process spawned at `spawned_at`.
    pub fn new(spawned_at: Instant) -> Accounting {
        Accounting {
            fuel: AtomicU64::new(0),
            quanta: AtomicU64::new(0),
            voluntary_yields: AtomicU64::new(0),
            preemptions: AtomicU64::new(0),
            spawned_at,
            exited_at: OnceLock::new(),
        }
    }

    /// Adds consumed fuel.
    pub fn add_fuel(&self, fuel: u64) {
        bump(&self.fuel, fuel);
    }

    /// Sets the total consumed fuel (an exact reading from the store).
    pub fn set_fuel(&self, total: u64) {
        self.fuel.store(total, Ordering::Relaxed);
    }

    /// Fuel consumed.
    pub fn fuel(&self) -> u64 {
        self.fuel.load(Ordering::Relaxed)
    }

    /// Counts a quantum.
    pub fn add_quantum(&self) {
        bump(&self.quanta, 1);
    }

    /// Quanta run.
    pub fn quanta(&self) -> u64 {
        self.quanta.load(Ordering::Relaxed)
    }

    /// Counts a voluntary yield.
    pub fn add_voluntary_yield(&self) {
        bump(&self.voluntary_yields, 1);
    }

    /// Counts a preemption.
    pub fn add_preemption(&self) {
        bump(&self.preemptions, 1);
    }

    /// Records the exit instant (first call wins).
    pub fn mark_exited(&self, at: Instant) {
        let _ = self.exited_at.set(at);
    }

    /// The counters now, with the state times given.
    pub fn snapshot(&self, times: StateTimes) -> AccountingSnapshot {
        AccountingSnapshot {
            fuel: self.fuel(),
            quanta: self.quanta(),
            voluntary_yields: self.voluntary_yields.load(Ordering::Relaxed),
            preemptions: self.preemptions.load(Ordering::Relaxed),
            runnable: Duration::from_nanos(times.runnable_ns),
            running: Duration::from_nanos(times.running_ns),
            waiting: Duration::from_nanos(times.waiting_ns),
            spawned_at: Some(self.spawned_at),
            exited_at: self.exited_at.get().copied(),
        }
    }
}

#[cfg(all(test, not(shoal_loom)))]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_and_the_first_exit_instant_wins() {
        let a = Accounting::new(Instant::now());
        a.add_fuel(5);
        a.add_fuel(7);
        a.add_quantum();
        a.add_preemption();
        a.add_voluntary_yield();
        let first = Instant::now();
        a.mark_exited(first);
        a.mark_exited(first + Duration::from_secs(1));
        let s = a.snapshot(StateTimes {
            runnable_ns: 1,
            running_ns: 2,
            waiting_ns: 3,
        });
        assert_eq!(
            (s.fuel, s.quanta, s.preemptions, s.voluntary_yields),
            (12, 1, 1, 1)
        );
        assert_eq!(s.running, Duration::from_nanos(2));
        assert_eq!(s.exited_at, Some(first));
        a.set_fuel(3);
        assert_eq!(a.fuel(), 3);
    }
}
