//! The exit slot: set once, awaited by any number of joiners, async or blocking.
//!
//! # Lifecycle
//! Empty until the process's exit is published, then set for good: once set, never unset
//! or replaced (a second `set` gets its exit back).
//!
//! # No lost wake-ups
//! Joiners follow event-listener's pattern: check, listen, check again, wait. The slot is
//! set before listeners are notified, so a joiner either sees the exit on its second check
//! or is registered in time to be notified.
//!
//! The slot is not model-checked under loom: event-listener has no loom mode that builds
//! here (see `sync`), and its pattern is the one event-listener itself documents.

use std::sync::OnceLock;

use event_listener::{Event, Listener};

use crate::Exit;

/// A process's exit, once it has one.
#[derive(Debug, Default)]
pub struct ExitSlot {
    /// The exit; set once. Boxed: an exit with its accounting is some 150 bytes, and
    /// an idle process, which has none yet, should not pay for them.
    exit: OnceLock<Box<Exit>>,
    /// Notified (all listeners) when the exit is set.
    event: Event,
}

impl ExitSlot {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the exit and wakes every joiner; the first set wins and a later one gets its
    /// exit back.
    #[allow(
        clippy::result_large_err,
        reason = "the API hands the caller's exit back, as OnceLock::set does; it is cold"
    )]
    pub fn set(&self, exit: Exit) -> Result<(), Exit> {
        self.exit.set(Box::new(exit)).map_err(|exit| *exit)?;
        self.event.notify(usize::MAX);
        Ok(())
    }

    /// The exit, if set.
    pub fn get(&self) -> Option<&Exit> {
        self.exit.get().map(|exit| &**exit)
    }

    /// Waits for the exit; a clone of it.
    pub async fn wait(&self) -> Exit {
        loop {
            if let Some(exit) = self.get() {
                return exit.clone();
            }
            let listener = self.event.listen();
            if let Some(exit) = self.get() {
                return exit.clone();
            }
            listener.await;
        }
    }

    /// Blocks the calling thread until the exit; a clone of it.
    pub fn wait_blocking(&self) -> Exit {
        loop {
            if let Some(exit) = self.get() {
                return exit.clone();
            }
            let listener = self.event.listen();
            if let Some(exit) = self.get() {
                return exit.clone();
            }
            listener.wait();
        }
    }
}

#[cfg(all(test, not(shoal_loom)))]
mod tests {
    use super::*;
    use crate::{AccountingSnapshot, ExitReason, Pid};
    use std::future::Future;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    fn exit(code: i32) -> Exit {
        Exit {
            pid: Pid::new(0, 0),
            reason: ExitReason::Normal { code },
            accounting: AccountingSnapshot::default(),
            output: None,
        }
    }

    #[test]
    fn the_first_exit_wins_and_every_joiner_sees_it() {
        let slot = Arc::new(ExitSlot::new());
        let joiners: Vec<_> = (0..4)
            .map(|_| {
                let slot = slot.clone();
                std::thread::spawn(move || slot.wait_blocking())
            })
            .collect();
        slot.set(exit(1)).unwrap();
        assert_eq!(slot.set(exit(2)).unwrap_err(), exit(2));
        for j in joiners {
            assert_eq!(j.join().unwrap(), exit(1));
        }
        assert_eq!(slot.get(), Some(&exit(1)));
    }

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_pending_async_joiner_is_woken_by_set() {
        let slot = ExitSlot::new();
        let counts: Vec<_> = (0..3)
            .map(|_| Arc::new(Count(AtomicUsize::new(0))))
            .collect();
        let mut joiners: Vec<_> = (0..3).map(|_| Box::pin(slot.wait())).collect();
        for (j, count) in joiners.iter_mut().zip(&counts) {
            let waker = Waker::from(count.clone());
            assert!(
                j.as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
        }
        assert!(slot.get().is_none());
        slot.set(exit(4)).unwrap();
        for (j, count) in joiners.iter_mut().zip(&counts) {
            assert_eq!(count.0.load(Ordering::SeqCst), 1);
            let waker = Waker::from(count.clone());
            assert_eq!(
                j.as_mut().poll(&mut Context::from_waker(&waker)),
                Poll::Ready(exit(4))
            );
        }
    }

    #[test]
    fn a_joiner_after_the_exit_returns_at_once() {
        let slot = ExitSlot::new();
        slot.set(exit(0)).unwrap();
        assert_eq!(slot.wait_blocking(), exit(0));
        let mut wait = std::pin::pin!(slot.wait());
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(wait.as_mut().poll(&mut cx), Poll::Ready(exit(0)));
    }
}
