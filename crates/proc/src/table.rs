//! The process table: a concurrent generational slab.
//!
//! # Layout
//! Slots live in pages of [`PAGE_SLOTS`], allocated on first use and never moved or freed
//! while the table lives, so a capacity of a million costs nothing until it is used and a
//! lookup never races a resize. Lookup is O(1): page, slot, compare generation.
//!
//! # Invariants
//! - `len` counts reserved slots and never exceeds `capacity`: an insert reserves first
//!   and fails with [`CapacityError`] past it, never aborting.
//! - A slot's generation goes up by one every time its process is removed, so a stale
//!   pid never matches a later occupant. A slot whose generation reaches
//!   [`MAX_GENERATION`] is retired, never reused: pids are never aliased and, as
//!   `i64`s, never negative.
//! - Freed slots are reused first-in first-out, so a generation comes back as late as
//!   possible.
//! - No lock is held across the whole table: each slot has its own, and the free list is
//!   lock-free (crossbeam's `SegQueue`), so spawns from many threads do not serialise.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam_queue::SegQueue;

use crate::Pid;
use crate::sync::Mutex;

/// Slots per page: 1,024 slots is a few tens of KiB, small enough that a lightly used
/// table stays small and large enough that page lookups are rare.
#[cfg(not(shoal_loom))]
pub const PAGE_SLOTS: usize = 1024;
#[cfg(shoal_loom)]
pub const PAGE_SLOTS: usize = 2;

/// Highest generation a slot reaches before it is retired: `i32::MAX`, so that a pid as
/// an `i64` (`generation << 32 | index`) is never negative.
pub const MAX_GENERATION: u32 = i32::MAX as u32;

/// The table is full.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "process table is full: capacity is {capacity} processes (raise it with the `capacity` setting)"
)]
pub struct CapacityError {
    /// The configured capacity.
    pub capacity: usize,
}

struct Slot<T> {
    /// Generation of the current or next occupant.
    generation: u32,
    /// The occupant.
    value: Option<Arc<T>>,
}

/// A concurrent generational slab of processes.
pub struct ProcessTable<T> {
    /// Pages of slots, allocated on first use.
    pages: Box<[OnceLock<Box<[Mutex<Slot<T>>]>>]>,
    /// Most live entries.
    capacity: usize,
    /// Reserved slots.
    len: AtomicUsize,
    /// Freed slots, oldest first.
    free: SegQueue<u32>,
    /// Slots never used yet start here.
    next_fresh: AtomicU32,
}

impl<T> ProcessTable<T> {
    /// A table for at most `capacity` live entries.
    pub fn with_capacity(capacity: usize) -> Self {
        assert!(
            capacity <= u32::MAX as usize,
            "capacity must fit a pid index"
        );
        let pages = capacity.div_ceil(PAGE_SLOTS);
        ProcessTable {
            pages: (0..pages).map(|_| OnceLock::new()).collect(),
            capacity,
            len: AtomicUsize::new(0),
            free: SegQueue::new(),
            next_fresh: AtomicU32::new(0),
        }
    }

    /// Most live entries.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Live entries (including inserts in progress).
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// No live entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn slot(&self, index: u32) -> Option<&Mutex<Slot<T>>> {
        let index = index as usize;
        let page = self.pages.get(index / PAGE_SLOTS)?;
        let page = page.get_or_init(|| {
            (0..PAGE_SLOTS)
                .map(|_| {
                    Mutex::new(Slot {
                        generation: 0,
                        value: None,
                    })
                })
                .collect()
        });
        page.get(index % PAGE_SLOTS)
    }

    fn existing_slot(&self, index: u32) -> Option<&Mutex<Slot<T>>> {
        let index = index as usize;
        self.pages
            .get(index / PAGE_SLOTS)?
            .get()?
            .get(index % PAGE_SLOTS)
    }

    /// Reserves a slot, builds the value with its pid, and stores it.
    pub fn insert_with(&self, make: impl FnOnce(Pid) -> T) -> Result<(Pid, Arc<T>), CapacityError> {
        let full = CapacityError {
            capacity: self.capacity,
        };
        if self.len.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.len.fetch_sub(1, Ordering::AcqRel);
            return Err(full);
        }
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = self.next_fresh.fetch_add(1, Ordering::AcqRel);
                if index as usize >= self.capacity {
                    // Only possible once slots have been retired.
                    self.next_fresh.fetch_sub(1, Ordering::AcqRel);
                    self.len.fetch_sub(1, Ordering::AcqRel);
                    return Err(full);
                }
                index
            }
        };
        let slot = self.slot(index).expect("index is below capacity");
        let mut slot = slot.lock();
        debug_assert!(slot.value.is_none(), "a free slot is empty");
        let pid = Pid::new(index, slot.generation);
        let value = Arc::new(make(pid));
        slot.value = Some(value.clone());
        Ok((pid, value))
    }

    /// The live entry for `pid`; `None` if dead or never existed.
    pub fn get(&self, pid: Pid) -> Option<Arc<T>> {
        let slot = self.existing_slot(pid.index())?.lock();
        if slot.generation == pid.generation() {
            slot.value.clone()
        } else {
            None
        }
    }

    /// Removes the entry for `pid` if it is live, freeing its slot with a new generation.
    pub fn remove(&self, pid: Pid) -> Option<Arc<T>> {
        let value = {
            let mut slot = self.existing_slot(pid.index())?.lock();
            if slot.generation != pid.generation() || slot.value.is_none() {
                return None;
            }
            slot.generation += 1;
            let value = slot.value.take();
            if slot.generation < MAX_GENERATION {
                self.free.push(pid.index());
            }
            value
        };
        self.len.fetch_sub(1, Ordering::AcqRel);
        value
    }

    /// A snapshot of every live entry.
    pub fn entries(&self) -> Vec<(Pid, Arc<T>)> {
        let mut out = Vec::new();
        for (p, page) in self.pages.iter().enumerate() {
            let Some(page) = page.get() else { continue };
            for (i, slot) in page.iter().enumerate() {
                let slot = slot.lock();
                if let Some(value) = &slot.value {
                    let index = (p * PAGE_SLOTS + i) as u32;
                    out.push((Pid::new(index, slot.generation), value.clone()));
                }
            }
        }
        out
    }
}

#[cfg(all(test, not(shoal_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_reused_slot_gets_a_new_generation_and_the_stale_pid_is_dead() {
        let t = ProcessTable::with_capacity(1);
        let (a, _) = t.insert_with(|pid| pid).unwrap();
        assert_eq!(t.remove(a).map(|v| *v), Some(a));
        let (b, _) = t.insert_with(|pid| pid).unwrap();
        assert_eq!(a.index(), b.index());
        assert_eq!(b.generation(), a.generation() + 1);
        assert!(t.get(a).is_none());
        assert!(t.remove(a).is_none());
        assert_eq!(t.get(b).map(|v| *v), Some(b));
    }

    #[test]
    fn capacity_is_enforced_and_freed_slots_admit_again() {
        let t = ProcessTable::with_capacity(3);
        let pids: Vec<Pid> = (0..3).map(|_| t.insert_with(|p| p).unwrap().0).collect();
        assert_eq!(
            t.insert_with(|p| p).unwrap_err(),
            CapacityError { capacity: 3 }
        );
        assert_eq!(t.len(), 3);
        t.remove(pids[1]).unwrap();
        assert!(t.insert_with(|p| p).is_ok());
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn every_slot_is_reused_after_exit_with_a_new_generation() {
        let n = PAGE_SLOTS + 10;
        let t = ProcessTable::with_capacity(n);
        let first: Vec<Pid> = (0..n).map(|_| t.insert_with(|p| p).unwrap().0).collect();
        for &p in &first {
            t.remove(p).unwrap();
        }
        let second: Vec<Pid> = (0..n).map(|_| t.insert_with(|p| p).unwrap().0).collect();
        let mut indices: Vec<u32> = second.iter().map(|p| p.index()).collect();
        indices.sort();
        assert_eq!(indices, (0..n as u32).collect::<Vec<_>>());
        assert!(second.iter().all(|p| p.generation() == 1));
        assert_eq!(t.entries().len(), n);
    }

    #[test]
    fn a_slot_at_the_last_generation_is_retired() {
        let t = ProcessTable::<()>::with_capacity(2);
        let (p, _) = t.insert_with(|_| ()).unwrap();
        // Force the slot to its last generation.
        t.existing_slot(p.index()).unwrap().lock().generation = MAX_GENERATION - 1;
        let stale = Pid::new(p.index(), MAX_GENERATION - 1);
        t.remove(stale).unwrap();
        let (q, _) = t.insert_with(|_| ()).unwrap();
        assert_ne!(q.index(), p.index(), "retired slot must not come back");
    }

    #[test]
    fn concurrent_inserts_and_removes_keep_len_consistent() {
        let t = Arc::new(ProcessTable::with_capacity(4 * 1000));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for round in 0..20 {
                        let pids: Vec<Pid> =
                            (0..1000).map(|_| t.insert_with(|p| p).unwrap().0).collect();
                        for (i, p) in pids.iter().enumerate() {
                            if (i + round) % 2 == 0 {
                                assert_eq!(t.remove(*p).map(|v| *v), Some(*p));
                            }
                        }
                        for (i, p) in pids.iter().enumerate() {
                            if (i + round) % 2 == 1 {
                                assert_eq!(t.get(*p).map(|v| *v), Some(*p));
                                t.remove(*p).unwrap();
                            }
                        }
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        assert_eq!(t.len(), 0);
        assert!(t.entries().is_empty());
    }
}
