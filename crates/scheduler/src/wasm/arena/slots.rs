//! Fixed-size slots in one region, and the per-worker hot cells (module docs, "Slots").

#![allow(unsafe_code)]

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;

use super::region::{Access, Region};

thread_local! {
    /// The hot cell this thread uses in every arena: its worker index, `None` off the
    /// workers.
    static HOT_CELL: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Makes the calling thread use hot cell `cell` (its worker index) from now on, or none.
pub(crate) fn use_hot_cell(cell: Option<usize>) {
    HOT_CELL.with(|c| c.set(cell));
}

/// An empty hot cell; a full one holds `slot + 1`.
const NO_SLOT: usize = 0;

/// Fixed-size slots in one region: per-worker hot cells, a free list and a bump index of
/// never-used slots (see the module docs).
pub(super) struct Slots {
    region: Region,
    pub(super) slot_size: usize,
    pub(super) count: usize,
    /// Slots `0..next` have been handed out at least once.
    next: AtomicUsize,
    free: SegQueue<usize>,
    /// One per worker: [`NO_SLOT`] or, plus one, a slot that worker released.
    hot: Box<[CachePadded<AtomicUsize>]>,
}

impl Slots {
    pub(super) fn new(
        slot_size: usize,
        count: usize,
        workers: usize,
        access: Access,
    ) -> std::io::Result<Slots> {
        let len = slot_size.checked_mul(count.max(1)).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::OutOfMemory, "arena size overflows")
        })?;
        Ok(Slots {
            region: Region::map(len, access)?,
            slot_size,
            count,
            next: AtomicUsize::new(0),
            free: SegQueue::new(),
            hot: (0..workers)
                .map(|_| CachePadded::new(AtomicUsize::new(NO_SLOT)))
                .collect(),
        })
    }

    /// The calling thread's hot cell in this arena, if it is a worker.
    fn own_cell(&self) -> Option<&AtomicUsize> {
        let cell = HOT_CELL.with(Cell::get)?;
        self.hot.get(cell).map(|c| &**c)
    }

    /// Empties `cell`, returning the slot it held.
    fn take_from(cell: &AtomicUsize) -> Option<usize> {
        // AcqRel: the releaser's writes to the slot (its zeroing) happen before ours.
        let slot = cell.swap(NO_SLOT, Ordering::AcqRel);
        (slot != NO_SLOT).then(|| slot - 1)
    }

    /// A slot and whether it was never used before: this worker's hot slot, the free
    /// list, another worker's hot slot, or a never-used one, in that order.
    ///
    /// Every free slot is always in a cell or on the free list (see `give_back`), so a
    /// slot is refused only when all `count` are in use.
    pub(super) fn take(&self) -> Option<(usize, bool)> {
        if let Some(index) = self.own_cell().and_then(Self::take_from) {
            return Some((index, false));
        }
        if let Some(index) = self.free.pop() {
            return Some((index, false));
        }
        if let Some(index) = self.hot.iter().find_map(|cell| Self::take_from(cell)) {
            return Some((index, false));
        }
        self.next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.count).then_some(n + 1)
            })
            .ok()
            .map(|index| (index, true))
    }

    /// Returns slot `index`: into this worker's hot cell if it is empty, else onto the
    /// free list. A slot is never in transit between the two, where a `take` at full
    /// capacity could miss it.
    pub(super) fn give_back(&self, index: usize) {
        let kept = self.own_cell().is_some_and(|cell| {
            cell.compare_exchange(NO_SLOT, index + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        if !kept {
            self.free.push(index);
        }
    }

    pub(super) fn base_of(&self, index: usize) -> *mut u8 {
        debug_assert!(index < self.count);
        // SAFETY: index < count, so the offset stays inside the region.
        unsafe { self.region.base.as_ptr().add(index * self.slot_size) }
    }

    pub(super) fn ever_used(&self) -> usize {
        self.next.load(Ordering::Relaxed).min(self.count)
    }

    /// Slots handed out and not given back: exact when nothing takes or gives one back
    /// meanwhile (for leak checks).
    pub(super) fn in_use(&self) -> usize {
        let hot = self
            .hot
            .iter()
            .filter(|c| c.load(Ordering::Acquire) != NO_SLOT)
            .count();
        self.ever_used().saturating_sub(self.free.len() + hot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_takes_back_the_slot_it_released_before_the_free_list() {
        use_hot_cell(Some(0));
        let slots = Slots::new(4096, 3, 2, Access::ReadWrite).unwrap();
        let (a, fresh_a) = slots.take().unwrap();
        let (b, _) = slots.take().unwrap();
        assert!(fresh_a);
        assert_eq!(slots.in_use(), 2);
        slots.give_back(a);
        slots.give_back(b);
        assert_eq!(
            slots.in_use(),
            0,
            "one slot in the hot cell, one on the free list"
        );
        assert_eq!(slots.take(), Some((a, false)), "the hot slot first");
        assert_eq!(slots.take(), Some((b, false)), "then the free list");
        let (c, fresh_c) = slots.take().unwrap();
        assert!(fresh_c && c != a && c != b);
        assert_eq!(slots.take(), None, "all three in use");
        assert_eq!(slots.in_use(), 3);
        use_hot_cell(None);
    }

    #[test]
    fn a_slot_kept_hot_by_another_worker_is_taken_before_the_arena_is_full() {
        let slots = Slots::new(4096, 1, 2, Access::ReadWrite).unwrap();
        use_hot_cell(Some(1));
        let (a, _) = slots.take().unwrap();
        slots.give_back(a);
        use_hot_cell(Some(0));
        assert_eq!(slots.take(), Some((a, false)));
        assert_eq!(slots.take(), None);
        use_hot_cell(None);
        slots.give_back(a);
        assert_eq!(
            slots.take(),
            Some((a, false)),
            "off the workers: the free list"
        );
    }
}
