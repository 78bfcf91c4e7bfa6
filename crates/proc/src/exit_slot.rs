//! The exit slot: set once, awaited by any number of joiners, async or blocking.
//!
//! Joiners follow event-listener's pattern: check, listen, check again, wait. The slot is
//! set before listeners are notified, so a joiner either sees the exit on its second check
//! or is registered in time to be notified: no wake-up is lost.

use std::sync::OnceLock;

use event_listener::{Event, Listener};

use crate::Exit;

/// A process's exit, once it has one.
#[derive(Default)]
pub struct ExitSlot {
    exit: OnceLock<Exit>,
    event: Event,
}

impl ExitSlot {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the exit; the first set wins and a later one gets its exit back.
    pub fn set(&self, exit: Exit) -> Result<(), Exit> {
        self.exit.set(exit)?;
        self.event.notify(usize::MAX);
        Ok(())
    }

    /// The exit, if set.
    pub fn get(&self) -> Option<&Exit> {
        self.exit.get()
    }

    /// Waits for the exit.
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

    /// Blocks the calling thread until the exit.
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
    use std::sync::Arc;

    fn exit(code: i32) -> Exit {
        Exit {
            pid: Pid::new(0, 0),
            reason: ExitReason::Normal { code },
            accounting: AccountingSnapshot::default(),
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
        assert_eq!(futures_lite_block_on(slot.wait()), exit(1));
    }

    fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }
}
