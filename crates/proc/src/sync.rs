//! Synchronisation primitives, swapped for loom's under `cfg(shoal_loom)` so the concurrent
//! core (state cell, mailbox, process table) can be model-checked. Code uses these the same
//! way under both builds.
//!
//! The cfg is crate-specific rather than the conventional `loom` because `--cfg loom` in
//! `RUSTFLAGS` reaches every crate of the build, and event-listener then switches to a
//! loom mode of its own that does not build here. `shoal_loom` swaps only this crate's
//! primitives.
//!
//! What is swapped: atomics, [`Mutex`] and [`Queue`] (the table's free list). What is not:
//! the `Arc`s in the public API (a caller's `Arc<T>` must not change type under a test
//! cfg), `OnceLock` (loom has none; the table initialises a page without any loom
//! operation that could switch threads, so loom cannot observe an initialisation half
//! done) and the exit slot's event-listener (not modelled).

#[cfg(shoal_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(shoal_loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

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

/// An unbounded lock-free MPMC FIFO queue: crossbeam's `SegQueue`.
#[cfg(not(shoal_loom))]
pub(crate) type Queue<T> = crossbeam_queue::SegQueue<T>;

/// Under loom, a FIFO queue behind a loom mutex with `SegQueue`'s `push`/`pop`: loom
/// cannot see inside crossbeam's atomics, so the model checks the table's use of a
/// linearisable FIFO rather than crossbeam's implementation of one.
#[cfg(shoal_loom)]
#[derive(Debug, Default)]
pub(crate) struct Queue<T>(Mutex<std::collections::VecDeque<T>>);

#[cfg(shoal_loom)]
impl<T> Queue<T> {
    pub(crate) fn new() -> Self {
        Queue(Mutex::new(std::collections::VecDeque::new()))
    }

    pub(crate) fn push(&self, value: T) {
        self.0.lock().push_back(value);
    }

    pub(crate) fn pop(&self) -> Option<T> {
        self.0.lock().pop_front()
    }
}
