//! Parked workers, and how a push wakes one.
//!
//! # No lost wake-up
//! A worker that finds no work registers as parked ([`Idle::prepare_park`]), checks the
//! queues' counts once more, and only then parks. A push increments its queue's count
//! before it looks at `num_parked` ([`Idle::notify_one`]). Both sides use SeqCst, so one
//! of them always sees the other: either the worker sees the new count and does not park,
//! or the pusher sees the parked worker and unparks it. An unpark that arrives before the
//! park is remembered by the parker, so the park returns at once.
//!
//! The list of parked workers is behind a lock, but a push takes it only when some worker
//! is parked: a busy pool never touches it.

use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::sync::Unparker;
use parking_lot::Mutex;

/// Parked workers and how to wake them.
pub(crate) struct Idle {
    /// Indices of parked workers.
    parked: Mutex<Vec<usize>>,
    /// `parked.len()`, readable without the lock on the push path.
    num_parked: AtomicUsize,
    /// One per worker, by index.
    unparkers: Vec<Unparker>,
}

impl Idle {
    pub(crate) fn new(unparkers: Vec<Unparker>) -> Idle {
        Idle {
            parked: Mutex::new(Vec::with_capacity(unparkers.len())),
            num_parked: AtomicUsize::new(0),
            unparkers,
        }
    }

    /// Registers worker `me` as about to park (module docs).
    pub(crate) fn prepare_park(&self, me: usize) {
        let mut parked = self.parked.lock();
        parked.push(me);
        self.num_parked.fetch_add(1, Ordering::SeqCst);
    }

    /// Undoes [`prepare_park`](Self::prepare_park) if a notifier has not already.
    pub(crate) fn cancel_park(&self, me: usize) {
        let mut parked = self.parked.lock();
        if let Some(pos) = parked.iter().position(|&w| w == me) {
            parked.swap_remove(pos);
            self.num_parked.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Unparks one parked worker, if any is parked.
    pub(crate) fn notify_one(&self) {
        if self.num_parked.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut parked = self.parked.lock();
        if let Some(w) = parked.pop() {
            self.num_parked.fetch_sub(1, Ordering::SeqCst);
            drop(parked);
            self.unparkers[w].unpark();
        }
    }

    /// Unparks every worker (start, shutdown).
    pub(crate) fn notify_all(&self) {
        for unparker in &self.unparkers {
            unparker.unpark();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_utils::sync::Parker;

    #[test]
    fn a_notify_wakes_a_parked_worker_and_forgets_it() {
        let parker = Parker::new();
        let idle = Idle::new(vec![parker.unparker().clone()]);
        idle.prepare_park(0);
        idle.notify_one();
        // The unpark came first; the park returns at once.
        parker.park();
        assert_eq!(idle.num_parked.load(Ordering::SeqCst), 0);
        idle.cancel_park(0);
        assert_eq!(
            idle.num_parked.load(Ordering::SeqCst),
            0,
            "already forgotten"
        );
    }

    #[test]
    fn a_notify_with_nobody_parked_takes_no_lock_and_wakes_nobody() {
        let parker = Parker::new();
        let idle = Idle::new(vec![parker.unparker().clone()]);
        {
            let _held = idle.parked.lock();
            // Would deadlock if it took the lock.
            idle.notify_one();
        }
        // No unpark token was left: the park waits out its whole timeout.
        let start = std::time::Instant::now();
        parker.park_timeout(std::time::Duration::from_millis(2));
        assert!(start.elapsed() >= std::time::Duration::from_millis(2));
    }
}
