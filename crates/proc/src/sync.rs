//! Synchronisation primitives, swapped for loom's under `cfg(shoal_loom)` so the concurrent
//! core (state cell, mailbox) can be model-checked. Code uses `Mutex::lock` the same
//! way under both.

#[cfg(shoal_loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, AtomicU64, Ordering};
#[cfg(not(shoal_loom))]
pub(crate) use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// A mutex with parking_lot's API (no poisoning).
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(
    #[cfg(not(shoal_loom))] parking_lot::Mutex<T>,
    #[cfg(shoal_loom)] loom::sync::Mutex<T>,
);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(not(shoal_loom))]
        return Mutex(parking_lot::Mutex::new(value));
        #[cfg(shoal_loom)]
        return Mutex(loom::sync::Mutex::new(value));
    }

    #[cfg(not(shoal_loom))]
    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
        self.0.lock()
    }

    #[cfg(shoal_loom)]
    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0
            .lock()
            .expect("loom mutexes are not poisoned by these tests")
    }
}
