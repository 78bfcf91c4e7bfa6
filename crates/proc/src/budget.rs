//! The runtime's memory budget: one count of the bytes its processes hold, against one
//! limit.
//!
//! # What is counted
//! The layers above charge what their processes hold: a process record when it is
//! spawned (executor), a guest's linear memory as it grows (wasm layer), and the bytes
//! queued in mailboxes beyond what a record includes ([`Mailbox`](crate::Mailbox)). Each
//! releases exactly what it charged when the thing goes away, so a runtime with no live
//! processes has used 0.
//!
//! # Refusal, never a kill
//! [`try_charge`](MemoryBudget::try_charge) refuses a charge that would pass the limit,
//! and the caller turns that into a refusal of its own: a `memory.grow` returns -1, a
//! spawn is refused, a send gets a status. Nothing already running is ended for it. The
//! one exception is [`force_charge`](MemoryBudget::force_charge), for the exit signals
//! and `DOWN`s that must never be dropped: it counts them even past the limit, which
//! then refuses everything else until they are received.
//!
//! # Cost
//! One atomic counter for the whole runtime. Callers charge in coarse steps (a process
//! record, a memory's growth, a mailbox's chunk), never per small message, so the counter
//! is touched at spawns, exits and growth, not on the messaging hot path.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The budget and what is charged against it.
#[derive(Debug)]
pub struct MemoryBudget {
    /// Bytes that may be charged at once.
    limit: usize,
    /// Bytes charged now.
    used: AtomicUsize,
    /// The most ever charged at once.
    peak: AtomicUsize,
}

/// Whether a charge the budget cannot take is refused or made anyway.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Charge {
    /// Refused past the budget: what a guest asks for.
    Refuse,
    /// Charged whatever the budget ([`MemoryBudget::force_charge`]): what the host's own
    /// code asks for, and what must not be lost.
    Force,
}

/// What one holder (a mailbox, a process's relations) has charged the budget for the
/// bytes it holds: nothing for the first `FREE` (the process record's charge covers
/// them), then whole steps of `CHUNK`, charged before the bytes are held and given back
/// only once a whole step more than needed is charged, so a holder that hovers around a
/// step boundary touches the shared counter once, not at every change.
#[derive(Debug, Default)]
pub(crate) struct Reservation<const FREE: usize, const CHUNK: usize> {
    /// Bytes charged now.
    charged: usize,
}

impl<const FREE: usize, const CHUNK: usize> Reservation<FREE, CHUNK> {
    /// What holding `bytes` is charged.
    fn charge_for(bytes: usize) -> usize {
        bytes.saturating_sub(FREE).div_ceil(CHUNK) * CHUNK
    }

    /// Makes the charge cover holding `bytes`, charged as `charge` says: refused (and
    /// nothing charged) if the budget cannot take it under [`Charge::Refuse`].
    pub(crate) fn cover(
        &mut self,
        budget: Option<&MemoryBudget>,
        bytes: usize,
        charge: Charge,
    ) -> Result<(), OverBudget> {
        let needed = Self::charge_for(bytes);
        if needed > self.charged {
            if let Some(budget) = budget {
                budget.charge(needed - self.charged, charge)?;
            }
            self.charged = needed;
        }
        Ok(())
    }

    /// Gives back what is charged beyond a step more than holding `bytes` needs.
    pub(crate) fn settle(&mut self, budget: Option<&MemoryBudget>, bytes: usize) {
        let needed = Self::charge_for(bytes);
        if self.charged > needed + CHUNK {
            if let Some(budget) = budget {
                budget.release(self.charged - needed);
            }
            self.charged = needed;
        }
    }

    /// Gives back everything (the holder holds nothing any more).
    pub(crate) fn release(&mut self, budget: Option<&MemoryBudget>) {
        if let Some(budget) = budget {
            budget.release(self.charged);
        }
        self.charged = 0;
    }
}

/// A charge the budget refused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the memory budget of {limit} bytes is spent ({used} in use, {wanted} more asked for)")]
pub struct OverBudget {
    /// The budget.
    pub limit: usize,
    /// What was charged when it was refused.
    pub used: usize,
    /// What was asked for.
    pub wanted: usize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes, nothing charged.
    pub fn new(limit: usize) -> MemoryBudget {
        MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Charges `bytes` if they fit under the limit. Nothing to charge touches no shared
    /// state (a guest without memory spawns and exits without it).
    pub fn try_charge(&self, bytes: usize) -> Result<(), OverBudget> {
        if bytes == 0 {
            return Ok(());
        }
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = used.saturating_add(bytes);
            if next > self.limit {
                return Err(OverBudget {
                    limit: self.limit,
                    used,
                    wanted: bytes,
                });
            }
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.peak.fetch_max(next, Ordering::Relaxed);
                    return Ok(());
                }
                Err(actual) => used = actual,
            }
        }
    }

    /// Charges `bytes` whatever the limit (module docs: signals only).
    pub fn force_charge(&self, bytes: usize) {
        let next = self.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(next, Ordering::Relaxed);
    }

    /// Charges `bytes` as `charge` says.
    pub fn charge(&self, bytes: usize, charge: Charge) -> Result<(), OverBudget> {
        match charge {
            Charge::Refuse => self.try_charge(bytes),
            Charge::Force => {
                self.force_charge(bytes);
                Ok(())
            }
        }
    }

    /// Gives back `bytes` charged earlier.
    pub fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let before = self.used.fetch_sub(bytes, Ordering::Relaxed);
        debug_assert!(before >= bytes, "released {bytes} of {before} charged");
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The most ever charged at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(shoal_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_charge_past_the_limit_is_refused_and_changes_nothing() {
        let budget = MemoryBudget::new(100);
        budget.try_charge(60).unwrap();
        assert_eq!(
            budget.try_charge(41),
            Err(OverBudget {
                limit: 100,
                used: 60,
                wanted: 41
            })
        );
        assert_eq!(budget.used(), 60);
        budget.try_charge(40).unwrap();
        assert_eq!(budget.used(), 100);
    }

    #[test]
    fn a_forced_charge_passes_the_limit_and_refuses_the_rest_until_released() {
        let budget = MemoryBudget::new(100);
        budget.try_charge(90).unwrap();
        budget.force_charge(20);
        assert_eq!(budget.used(), 110);
        assert!(budget.try_charge(1).is_err());
        budget.release(20);
        budget.release(90);
        assert_eq!(budget.used(), 0);
        assert_eq!(budget.peak(), 110);
    }

    #[test]
    fn racing_charges_never_pass_the_limit() {
        let budget = std::sync::Arc::new(MemoryBudget::new(1_000));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || {
                    (0..1_000).filter(|_| budget.try_charge(1).is_ok()).count()
                })
            })
            .collect();
        let charged: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(charged, 1_000);
        assert_eq!(budget.used(), 1_000);
        assert_eq!(budget.peak(), 1_000);
    }
}
