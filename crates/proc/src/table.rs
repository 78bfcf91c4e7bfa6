//! The process table: a concurrent generational slab.
//!
//! # Layout
//! Slots live in pages of [`PAGE_SLOTS`], allocated on first use and never moved or freed
//! while the table lives, so a capacity of a million costs nothing until it is used and a
//! lookup never races a resize. Lookup is O(1): page, slot, compare generation.
//!
//! # Lifecycle of a slot
//! free (never used, or on the free list) → reserved (an insert owns it; `get` sees
//! nothing) → occupied (holds an `Arc<T>` of the current generation) → free again, with
//! its generation one higher. An insert builds the value with no lock held, so `make` may
//! itself use the table; if `make` panics, the reservation's `Drop` frees the slot again
//! (with a new generation, since `make` saw the pid) and gives back its count.
//!
//! # Invariants
//! - `len` counts reserved and occupied slots and never exceeds `capacity`: an insert
//!   reserves a count first and fails with [`CapacityError`] past it, never aborting.
//! - A slot's generation goes up by one every time it is freed, so a stale pid never
//!   matches a later occupant. A slot freed at generation [`MAX_GENERATION`] is retired,
//!   never reused: pids are never aliased and, as guests' `i64`s, never negative. (Each
//!   retired slot lowers the usable capacity by one, after 67 million reuses of it.)
//! - Every pid it makes carries its node, and a pid of another node finds nothing in it.
//! - Freed slots are reused first-in first-out, so a generation comes back as late as
//!   possible.
//! - A slot is pushed on the free list before its count is given back, so an insert
//!   whose count fits always finds a free slot or a fresh one below `capacity`.
//! - No lock is held across the table: each slot has its own, held only to read or swap
//!   its contents, and the free list is lock-free (crossbeam's `SegQueue`), so spawns
//!   from many threads do not serialise.

use std::sync::{Arc, OnceLock};

use crate::Pid;
use crate::pid::{MAX_INDEX, NodeId};
use crate::sync::{AtomicU32, AtomicUsize, Mutex, Ordering, Queue};

/// Slots per page: 1,024 slots of a few words each is a few tens of KiB, small enough
/// that a lightly used table stays small and large enough that pages are few (a million
/// processes is under a thousand pages).
#[cfg(not(shoal_loom))]
pub const PAGE_SLOTS: usize = 1024;
/// Slots per page, shrunk under loom so that a model spans pages with a handful of slots.
#[cfg(shoal_loom)]
pub const PAGE_SLOTS: usize = 2;

/// Highest generation a slot reaches before it is retired: the most a pid's generation
/// bits hold (`pid::MAX_PID_GENERATION`, 2^26 - 1).
pub const MAX_GENERATION: u32 = crate::pid::MAX_PID_GENERATION;

/// The table is full.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "process table is full: capacity is {capacity} processes (raise it with the `capacity` setting)"
)]
pub struct CapacityError {
    /// The configured capacity.
    pub capacity: usize,
}

/// One slot of the slab.
struct Slot<T> {
    /// Generation of the current occupant, or of the next one while the slot is free.
    generation: u32,
    /// The occupant; `None` while free or reserved.
    value: Option<Arc<T>>,
}

/// A page of slots.
type Page<T> = Box<[Mutex<Slot<T>>]>;

/// A concurrent generational slab of processes.
pub struct ProcessTable<T> {
    /// Pages of slots, allocated on first use and never moved or freed.
    pages: Box<[OnceLock<Page<T>>]>,
    /// Most reserved or occupied slots.
    capacity: usize,
    /// Reserved or occupied slots.
    len: AtomicUsize,
    /// Freed slots, oldest first.
    free: Queue<u32>,
    /// The node its pids carry; a pid of another node is never in it.
    node: NodeId,
    /// The lowest slot index never used yet.
    next_fresh: AtomicU32,
}

impl<T> std::fmt::Debug for ProcessTable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessTable")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// A reserved slot and count, owned by an insert until it stores its value. Dropped
/// while armed (`make` panicked), it frees both again.
struct Reservation<'a, T> {
    /// The table reserved in.
    table: &'a ProcessTable<T>,
    /// The reserved slot.
    index: u32,
    /// False once the value is stored.
    armed: bool,
}

impl<T> Drop for Reservation<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            let mut slot = self
                .table
                .existing_slot(self.index)
                .expect("reserved")
                .lock();
            // `make` saw the pid: retire its generation as a removal would.
            self.table.free_slot(self.index, &mut slot);
            drop(slot);
            self.table.len.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl<T> ProcessTable<T> {
    /// A table of node 0 for at most `capacity` live entries. No slot storage is
    /// allocated yet.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::for_node(NodeId::LOCAL, capacity)
    }

    /// A table whose pids carry `node`, for at most `capacity` live entries.
    pub fn for_node(node: NodeId, capacity: usize) -> Self {
        assert!(
            capacity <= MAX_INDEX as usize + 1,
            "capacity must fit a pid index (at most {})",
            MAX_INDEX as usize + 1
        );
        let pages = capacity.div_ceil(PAGE_SLOTS);
        ProcessTable {
            pages: (0..pages).map(|_| OnceLock::new()).collect(),
            capacity,
            len: AtomicUsize::new(0),
            free: Queue::new(),
            node,
            next_fresh: AtomicU32::new(0),
        }
    }

    /// The node its pids carry.
    pub fn node(&self) -> NodeId {
        self.node
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

    /// The slot at `index`, allocating its page on first use.
    fn slot(&self, index: u32) -> Option<&Mutex<Slot<T>>> {
        let index = index as usize;
        let page = self.pages.get(index / PAGE_SLOTS)?.get_or_init(|| {
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

    /// The slot at `index` if its page exists (a lookup never allocates).
    fn existing_slot(&self, index: u32) -> Option<&Mutex<Slot<T>>> {
        let index = index as usize;
        self.pages
            .get(index / PAGE_SLOTS)?
            .get()?
            .get(index % PAGE_SLOTS)
    }

    /// Moves a slot to its next generation and puts it on the free list, or retires it
    /// if that generation is past [`MAX_GENERATION`]. Called with the slot locked, before
    /// its count is given back.
    fn free_slot(&self, index: u32, slot: &mut Slot<T>) {
        if slot.generation < MAX_GENERATION {
            slot.generation += 1;
            self.free.push(index);
        }
    }

    /// Reserves a count and a slot for an insert.
    fn reserve(&self) -> Result<Reservation<'_, T>, CapacityError> {
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
        Ok(Reservation {
            table: self,
            index,
            armed: true,
        })
    }

    /// Reserves a slot (failing past capacity), builds the value with its pid and stores
    /// it. Freed slots are reused oldest first, each with its next generation. No lock is
    /// held while `make` runs; until it returns, `get` of the new pid finds nothing.
    pub fn insert_with(&self, make: impl FnOnce(Pid) -> T) -> Result<(Pid, Arc<T>), CapacityError> {
        let mut reservation = self.reserve()?;
        let index = reservation.index;
        let slot = self
            .slot(index)
            .expect("a reserved index is below capacity");
        // The slot is ours: nobody else changes its generation until we store a value.
        let generation = slot.lock().generation;
        let pid = Pid::on(self.node, index, generation);
        let value = Arc::new(make(pid));
        {
            let mut slot = slot.lock();
            debug_assert!(slot.value.is_none() && slot.generation == generation);
            slot.value = Some(value.clone());
        }
        reservation.armed = false;
        Ok((pid, value))
    }

    /// The live entry for `pid`; `None` if the slot is empty, holds another generation
    /// (the pid is dead) or never existed. O(1).
    pub fn get(&self, pid: Pid) -> Option<Arc<T>> {
        if pid.node() != self.node {
            return None;
        }
        let slot = self.existing_slot(pid.index())?.lock();
        if slot.generation == pid.generation() {
            slot.value.clone()
        } else {
            None
        }
    }

    /// Removes the entry for `pid` if it is live, freeing its slot for reuse with a new
    /// generation; `None` (and no change) for a dead or unknown pid.
    pub fn remove(&self, pid: Pid) -> Option<Arc<T>> {
        if pid.node() != self.node {
            return None;
        }
        let value = {
            let mut slot = self.existing_slot(pid.index())?.lock();
            if slot.generation != pid.generation() {
                return None;
            }
            let value = slot.value.take()?;
            self.free_slot(pid.index(), &mut slot);
            value
        };
        self.len.fetch_sub(1, Ordering::AcqRel);
        Some(value)
    }

    /// A snapshot of every live entry (each slot is read under its own lock; entries
    /// inserted or removed meanwhile may or may not appear).
    pub fn entries(&self) -> Vec<(Pid, Arc<T>)> {
        let mut out = Vec::new();
        for (p, page) in self.pages.iter().enumerate() {
            let Some(page) = page.get() else { continue };
            for (i, slot) in page.iter().enumerate() {
                let slot = slot.lock();
                if let Some(value) = &slot.value {
                    let index = (p * PAGE_SLOTS + i) as u32;
                    out.push((Pid::on(self.node, index, slot.generation), value.clone()));
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
    fn a_slot_is_retired_after_its_last_generation() {
        let t = ProcessTable::<()>::with_capacity(2);
        let (p, _) = t.insert_with(|_| ()).unwrap();
        // Jump the slot to one below its last generation.
        t.existing_slot(p.index()).unwrap().lock().generation = MAX_GENERATION - 1;
        t.remove(Pid::new(p.index(), MAX_GENERATION - 1)).unwrap();
        let (last, _) = t.insert_with(|_| ()).unwrap();
        assert_eq!(last, Pid::new(p.index(), MAX_GENERATION));
        assert!(
            last.to_bits() as i64 >= 0,
            "the last generation is still a positive i64"
        );
        t.remove(last).unwrap();
        let (q, _) = t.insert_with(|_| ()).unwrap();
        assert_ne!(q.index(), p.index(), "a retired slot never comes back");
        assert!(t.get(last).is_none());
        // One slot retired, one live: the table of two is full.
        assert!(t.insert_with(|_| ()).is_err());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_stale_pid_neither_finds_nor_removes_the_new_occupant() {
        let t = ProcessTable::with_capacity(4);
        let (old, _) = t.insert_with(|p| p).unwrap();
        t.remove(old).unwrap();
        let (new, _) = t.insert_with(|p| p).unwrap();
        assert_eq!(new.index(), old.index());
        assert!(t.remove(old).is_none());
        assert_eq!(t.len(), 1);
        assert_eq!(t.get(new).map(|v| *v), Some(new));
        // A pid from the future, and indices never used or past capacity, find nothing.
        assert!(t.get(Pid::new(new.index(), new.generation() + 1)).is_none());
        assert!(t.get(Pid::new(3, 0)).is_none());
        assert!(t.get(Pid::new(1_000_000, 0)).is_none());
        assert!(t.remove(Pid::new(1_000_000, 0)).is_none());
    }

    #[test]
    fn a_pid_of_another_node_finds_nothing_though_its_slot_and_generation_match() {
        let node = NodeId::new(7).unwrap();
        let t = ProcessTable::for_node(node, 4);
        let (pid, _) = t.insert_with(|p| p).unwrap();
        assert_eq!(pid.node(), node);
        let elsewhere = pid.with_node(NodeId::LOCAL);
        assert!(t.get(elsewhere).is_none());
        assert!(t.remove(elsewhere).is_none());
        assert_eq!(t.get(pid).map(|v| *v), Some(pid));
        assert_eq!(t.entries()[0].0, pid);
    }

    #[test]
    fn a_large_capacity_allocates_pages_only_when_used() {
        let t = ProcessTable::<()>::with_capacity(1_000_000);
        assert_eq!(t.capacity(), 1_000_000);
        assert!(t.pages.iter().all(|p| p.get().is_none()));
        let (p, _) = t.insert_with(|_| ()).unwrap();
        assert!(
            t.get(Pid::new(999_999, 0)).is_none(),
            "a lookup never allocates"
        );
        let allocated = t.pages.iter().filter(|p| p.get().is_some()).count();
        assert_eq!(allocated, 1);
        assert_eq!(p, Pid::new(0, 0));
    }

    #[test]
    fn a_panicking_make_gives_back_its_slot_and_count_on_drop() {
        let t = ProcessTable::with_capacity(1);
        let seen = std::cell::Cell::new(None);
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            t.insert_with(|pid| {
                seen.set(Some(pid));
                panic!("make failed")
            })
        }));
        assert!(panicked.is_err());
        assert_eq!(t.len(), 0);
        let seen = seen.get().unwrap();
        let (p, _) = t.insert_with(|p| p).expect("the slot was given back");
        assert_eq!(p.index(), seen.index());
        assert_eq!(
            p.generation(),
            seen.generation() + 1,
            "the pid make saw is dead"
        );
    }

    #[test]
    fn make_runs_with_no_lock_held_and_may_use_the_table() {
        let t = ProcessTable::with_capacity(2);
        let (outer, inner) = t
            .insert_with(|pid| {
                assert!(t.get(pid).is_none(), "an insert in progress is not visible");
                assert_eq!(t.len(), 1);
                let (inner, _) = t.insert_with(|p| (p, None)).unwrap();
                (pid, Some(inner))
            })
            .map(|(pid, v)| (pid, v.1.unwrap()))
            .unwrap();
        assert_ne!(outer, inner);
        assert_eq!(t.len(), 2);
        assert_eq!(t.entries().len(), 2);
    }

    #[test]
    fn the_table_is_send_and_sync() {
        fn assert_send_sync<S: Send + Sync>() {}
        assert_send_sync::<ProcessTable<Pid>>();
        assert_send_sync::<ProcessTable<crate::ProcessCore>>();
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
