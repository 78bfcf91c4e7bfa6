//! Address space for linear memories and fiber stacks: one large mapping each per
//! runtime, carved into fixed slots, so that a live process costs the kernel almost no
//! memory mappings.
//!
//! # Why not wasmtime's pooling allocator
//! Linux counts every distinct mapping (VMA) of a process against `vm.max_map_count`,
//! 65,530 by default, and past it *every* `mmap` and `mprotect` in the host fails, not
//! just Shoal's. wasmtime's pooling allocator keeps its memory reservation `PROT_NONE`
//! and makes each live memory's pages read-write with `mprotect`, which splits the
//! reservation: two mappings per live memory. It also protects a guard page below every
//! stack slot at start-up: two mappings per slot of capacity. About four per process, so a
//! default machine stopped near 15,000 processes. Here:
//!
//! - **Memories** come from one read-write, `MAP_NORESERVE` mapping of `slots` slots of
//!   `max_memory` bytes. Nothing changes a page's protection, so a memory costs no
//!   mapping at all. The engine is configured with no reservation and no guard
//!   (`memory_reservation(0)`, `memory_guard_size(0)`), so compiled code checks every
//!   access against the memory's *current* length, which is exactly what the protected
//!   pages would have caught: a guest cannot touch the rest of its slot, let alone a
//!   neighbour's.
//! - **Fiber stacks** come from one mapping of `slots` slots, each a guard page below the
//!   stack. A slot's guard page is protected the first time the slot is handed out, and
//!   kept: [`MAPPINGS_PER_GUEST`] (two) mappings per slot ever used, which the budget
//!   below bounds by the number of live guests.
//!
//! # Slots
//! A slot is taken from the calling worker's hot cell, else from the free list, else
//! from any worker's hot cell, else is the next never-used one; an exhausted arena is an
//! error for that instantiation only. Each worker thread has a hot cell per arena that
//! holds a slot it released: the free list is FIFO, so what it hands out was released
//! longest ago and is cold in every cache, while the slot a worker just released is warm
//! in its core's cache, pages and page-table entries alike, and the next process that
//! worker instantiates reuses it. A release on a worker fills its cell if it is empty
//! and otherwise goes to the free list; other threads use the free list alone.
//!
//! A slot goes back when its memory or stack is dropped: a store drops its memory and
//! its cached fiber stack before the
//! process's exit is published, so a slot is free before its process stops counting as
//! live. Freed memory is made to read as zeroes again up to the highest size it ever
//! had: the first wasm page's touched pages (found in `/proc/self/pagemap`) are zeroed
//! in place, and the rest is decommitted with `MADV_DONTNEED`, which also takes those
//! pages out of the RSS (see `ZERO_IN_PLACE` for why not all of it); a slot whose
//! decommit fails is never reused. Freed stacks keep their pages: their contents
//! are not observable (wasmtime's `async_stack_zeroing` is off, as by default) and
//! reusing them saves page faults. The mappings are unmapped when the last memory,
//! stack and engine that use them are gone.
//!
//! # The mapping budget
//! [`MappingBudget::of_host`] reads `vm.max_map_count` and the mappings the host has
//! now, keeps [`MAPPING_HEADROOM`] for everything else the host will map later, and
//! says how many guests may be live at once. The runtime refuses a spawn past it with a
//! typed error that names the limit and the `sysctl` that raises it, so the kernel's
//! limit is never reached.
//!
//! Transparent huge pages are disabled on both mappings (`MADV_NOHUGEPAGE`): a guest
//! that touches one byte of its memory must cost one page, not two megabytes.

#![allow(unsafe_code)]

use std::cell::Cell;
use std::ops::Range;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;
use wasmtime::{LinearMemory, MemoryCreator, MemoryType, StackCreator, StackMemory};

/// Memory mappings one live guest can cost: its stack slot's guard page and the stack
/// above it (its memory slot costs none, see the module docs).
pub const MAPPINGS_PER_GUEST: usize = 2;

/// Mappings left for the rest of the host: thread stacks, malloc arenas, compiled code,
/// shared libraries and whatever the embedding application maps later. A quiet host
/// process has a few hundred; this leaves room for several thousand more.
pub const MAPPING_HEADROOM: usize = 4_096;

/// Linux's default `vm.max_map_count`, used where it cannot be read.
const DEFAULT_MAX_MAP_COUNT: usize = 65_530;

/// The host page size. Slots and guards are multiples of it.
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions; _SC_PAGESIZE is always supported on Linux.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// How many live guests the kernel's mapping limit allows.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MappingBudget {
    /// `vm.max_map_count`.
    pub max_map_count: usize,
    /// Mappings the host had when the runtime was built.
    pub in_use: usize,
    /// Guests that may be live at once.
    pub guests: usize,
}

impl MappingBudget {
    /// The budget on this host now: `(max_map_count - in_use - MAPPING_HEADROOM) / 2`.
    pub fn of_host() -> MappingBudget {
        let max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(DEFAULT_MAX_MAP_COUNT);
        let in_use = std::fs::read("/proc/self/maps")
            .map(|maps| maps.iter().filter(|&&b| b == b'\n').count())
            .unwrap_or(0);
        Self::from_counts(max_map_count, in_use)
    }

    pub(crate) fn from_counts(max_map_count: usize, in_use: usize) -> MappingBudget {
        let free = max_map_count.saturating_sub(in_use + MAPPING_HEADROOM);
        MappingBudget {
            max_map_count,
            in_use,
            guests: free / MAPPINGS_PER_GUEST,
        }
    }

    /// The `vm.max_map_count` that would let `guests` be live on this host.
    pub fn max_map_count_for(&self, guests: usize) -> usize {
        guests * MAPPINGS_PER_GUEST + self.in_use + MAPPING_HEADROOM
    }
}

/// One anonymous, read-write, `MAP_NORESERVE` mapping, unmapped on drop.
struct Region {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the region is plain memory; who may touch which part is governed by slot
// ownership (one owner per slot, handed over through the free list).
unsafe impl Send for Region {}
// SAFETY: as above; `Region` itself is never written through a shared reference.
unsafe impl Sync for Region {}

impl Region {
    fn map(len: usize) -> std::io::Result<Region> {
        // SAFETY: a fresh anonymous mapping at an address of the kernel's choice aliases
        // nothing.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the range was just mapped by us. Failure only leaves huge pages on,
        // which costs memory, not correctness.
        unsafe {
            libc::madvise(ptr, len, libc::MADV_NOHUGEPAGE);
        }
        Ok(Region {
            base: NonNull::new(ptr.cast()).expect("mmap does not return null on success"),
            len,
        })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: every slot holds an `Arc` of its arena, so no memory or stack in this
        // region is alive when the region drops.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

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
struct Slots {
    region: Region,
    slot_size: usize,
    count: usize,
    /// Slots `0..next` have been handed out at least once.
    next: AtomicUsize,
    free: SegQueue<usize>,
    /// One per worker: [`NO_SLOT`] or, plus one, a slot that worker released.
    hot: Box<[CachePadded<AtomicUsize>]>,
}

impl Slots {
    fn new(slot_size: usize, count: usize, workers: usize) -> std::io::Result<Slots> {
        let len = slot_size.checked_mul(count.max(1)).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::OutOfMemory, "arena size overflows")
        })?;
        Ok(Slots {
            region: Region::map(len)?,
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
    fn take(&self) -> Option<(usize, bool)> {
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
    fn give_back(&self, index: usize) {
        let kept = self.own_cell().is_some_and(|cell| {
            cell.compare_exchange(NO_SLOT, index + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        if !kept {
            self.free.push(index);
        }
    }

    fn base_of(&self, index: usize) -> *mut u8 {
        debug_assert!(index < self.count);
        // SAFETY: index < count, so the offset stays inside the region.
        unsafe { self.region.base.as_ptr().add(index * self.slot_size) }
    }

    fn ever_used(&self) -> usize {
        self.next.load(Ordering::Relaxed).min(self.count)
    }
}

/// Decommits `len` bytes at `ptr`: the pages leave the RSS and read as zero next time.
///
/// # Safety
/// `ptr..ptr + len` is inside a `Region` and owned by the caller.
unsafe fn decommit(ptr: *mut u8, len: usize) -> bool {
    len == 0 || {
        // SAFETY: the caller owns the range; DONTNEED on private anonymous memory only
        // drops its pages.
        unsafe { libc::madvise(ptr.cast(), len, libc::MADV_DONTNEED) == 0 }
    }
}

/// Bytes at the start of a released memory that are zeroed in place, page by page where
/// the guest touched them, rather than decommitted: one wasm page. A decommit of touched
/// pages flushes the TLB of every core running the host (an inter-processor interrupt,
/// tens of microseconds on a virtual machine), which made releasing small memories the
/// largest cost of a short-lived process; a small guest's touched pages are nearly
/// always here, and a `memset` of them costs far less.
const ZERO_IN_PLACE: usize = 64 << 10;

/// `/proc/self/pagemap` entry bits (Documentation/admin-guide/mm/pagemap.rst).
const PAGEMAP_PRESENT: u64 = 1 << 63;
const PAGEMAP_SWAPPED: u64 = 1 << 62;

thread_local! {
    /// `/proc/self/pagemap`, to find which pages of a released memory were touched,
    /// opened by each thread for itself: a `pread` of a file that threads share takes a
    /// reference to it, and workers releasing memories at once would contend on that one
    /// count. `None` where it cannot be opened, and then that thread's releases decommit
    /// everything.
    static PAGEMAP: Option<std::fs::File> = std::fs::File::open("/proc/self/pagemap").ok();
}

/// The linear memories of one runtime.
pub(crate) struct MemoryArena {
    slots: Slots,
    page: usize,
}

impl MemoryArena {
    /// `count` memories of at most `max_memory` bytes each, for `workers` workers.
    pub(crate) fn new(
        max_memory: usize,
        count: usize,
        workers: usize,
    ) -> std::io::Result<Arc<MemoryArena>> {
        let page = page_size();
        Ok(Arc::new(MemoryArena {
            slots: Slots::new(round_up(max_memory.max(1), page), count, workers)?,
            page,
        }))
    }

    /// Makes `len` bytes at `ptr` read as zero again: the pages of the first
    /// [`ZERO_IN_PLACE`] bytes that are present are zeroed in place, those swapped out
    /// are decommitted, those never touched are left alone; the rest is decommitted,
    /// which costs no TLB flush where nothing was touched. False if a decommit failed.
    ///
    /// # Safety
    /// `ptr..ptr + len` is a slot's memory, owned by the caller and page-aligned.
    unsafe fn reset(&self, ptr: *mut u8, len: usize) -> bool {
        let head = len.min(ZERO_IN_PLACE);
        let pages = head / self.page;
        let mut entries = [0u8; 8 * (ZERO_IN_PLACE / 4096)];
        let entries = &mut entries[..8 * pages];
        let offset = (ptr as usize / self.page * 8) as u64;
        let read = PAGEMAP
            .try_with(|pagemap| {
                pagemap.as_ref().is_some_and(|pagemap| {
                    use std::os::unix::fs::FileExt;
                    pagemap.read_exact_at(entries, offset).is_ok()
                })
            })
            .unwrap_or(false);
        let head_ok = if read {
            entries.chunks_exact(8).enumerate().all(|(i, entry)| {
                let entry = u64::from_le_bytes(entry.try_into().expect("8 bytes"));
                // SAFETY: page i of the head is inside the caller's range.
                let page = unsafe { ptr.add(i * self.page) };
                if entry & PAGEMAP_PRESENT != 0 {
                    // SAFETY: the page is the caller's, mapped read-write.
                    unsafe { std::ptr::write_bytes(page, 0, self.page) };
                    true
                } else if entry & PAGEMAP_SWAPPED != 0 {
                    // SAFETY: as above.
                    unsafe { decommit(page, self.page) }
                } else {
                    true
                }
            })
        } else {
            // SAFETY: the head is inside the caller's range.
            unsafe { decommit(ptr, head) }
        };
        // SAFETY: the tail is inside the caller's range.
        head_ok && unsafe { decommit(ptr.add(head), len - head) }
    }

    /// Memory slots handed out at least once.
    #[cfg(test)]
    pub(crate) fn ever_used(&self) -> usize {
        self.slots.ever_used()
    }
}

/// The engine's memory creator: memories from the arena.
pub(crate) struct ArenaMemories(pub Arc<MemoryArena>);

// SAFETY: every memory is a distinct slot of the arena (one owner at a time), zero-filled
// when handed out (never used, or decommitted on its last release), at least `minimum`
// bytes, never moved, and alive until wasmtime drops it. The engine asks for no guard
// region (`memory_guard_size(0)`), so compiled code relies on none.
unsafe impl MemoryCreator for ArenaMemories {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        _maximum: Option<usize>,
        _reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        let arena = &self.0;
        let capacity = arena.slots.slot_size;
        if guard_size_in_bytes != 0 {
            return Err(format!(
                "the memory arena provides no guard region, {guard_size_in_bytes} bytes were asked for"
            ));
        }
        if minimum > capacity {
            return Err(format!(
                "an initial memory of {minimum} bytes exceeds max_memory ({capacity} bytes)"
            ));
        }
        let (index, _) = arena.slots.take().ok_or_else(|| {
            format!(
                "all {} memory slots are in use (the runtime's process capacity)",
                arena.slots.count
            )
        })?;
        Ok(Box::new(ArenaMemory {
            arena: arena.clone(),
            index,
            ptr: arena.slots.base_of(index),
            size: minimum,
            high_water: minimum,
        }))
    }
}

/// One linear memory: a slot of the arena.
struct ArenaMemory {
    arena: Arc<MemoryArena>,
    index: usize,
    ptr: *mut u8,
    /// Accessible bytes now.
    size: usize,
    /// The largest `size` ever: everything above it is still zero.
    high_water: usize,
}

// SAFETY: the pointer is into the arena, which the `Arc` keeps mapped; wasmtime
// synchronises access to a memory through its store.
unsafe impl Send for ArenaMemory {}
// SAFETY: as above.
unsafe impl Sync for ArenaMemory {}

// SAFETY: the memory never moves (`as_ptr` is constant), `byte_size` bytes from it are
// read-write and owned by this memory, and growth never exceeds the slot.
unsafe impl LinearMemory for ArenaMemory {
    fn byte_size(&self) -> usize {
        self.size
    }

    fn byte_capacity(&self) -> usize {
        self.arena.slots.slot_size
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        let capacity = self.arena.slots.slot_size;
        if new_size > capacity {
            wasmtime::bail!("memory of {new_size} bytes exceeds max_memory ({capacity} bytes)");
        }
        // Growth exposes bytes above the old size: they are zero, having been above the
        // high-water mark since the slot was last decommitted.
        self.size = new_size;
        self.high_water = self.high_water.max(new_size);
        Ok(())
    }

    fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }
}

impl Drop for ArenaMemory {
    fn drop(&mut self) {
        let len = round_up(self.high_water, self.arena.page);
        // SAFETY: this memory owns `ptr..ptr + slot_size`, and `len` is within it.
        if unsafe { self.arena.reset(self.ptr, len) } {
            self.arena.slots.give_back(self.index);
        } else {
            tracing::warn!(
                slot = self.index,
                "could not decommit a memory slot; it is not reused"
            );
        }
    }
}

/// The fiber stacks of one runtime.
pub(crate) struct StackArena {
    slots: Slots,
    page: usize,
}

impl StackArena {
    /// `count` stacks of `stack_size` bytes, each above a guard page, for `workers`
    /// workers.
    pub(crate) fn new(
        stack_size: usize,
        count: usize,
        workers: usize,
    ) -> std::io::Result<Arc<StackArena>> {
        let page = page_size();
        Ok(Arc::new(StackArena {
            slots: Slots::new(page + round_up(stack_size, page), count, workers)?,
            page,
        }))
    }

    /// Stack slots handed out at least once: each costs [`MAPPINGS_PER_GUEST`] mappings.
    pub(crate) fn ever_used(&self) -> usize {
        self.slots.ever_used()
    }
}

/// The engine's stack creator: fiber stacks from the arena.
pub(crate) struct ArenaStacks(pub Arc<StackArena>);

// SAFETY: every stack is a distinct, page-aligned slot of the arena (one owner at a
// time) with a protected guard page below it, alive until wasmtime drops it.
unsafe impl StackCreator for ArenaStacks {
    fn new_stack(&self, size: usize, zeroed: bool) -> wasmtime::Result<Box<dyn StackMemory>> {
        let arena = &self.0;
        let room = arena.slots.slot_size - arena.page;
        if size > room {
            wasmtime::bail!("a fiber stack of {size} bytes exceeds the arena's {room}-byte slots");
        }
        let Some((index, fresh)) = arena.slots.take() else {
            wasmtime::bail!(
                "all {} fiber stacks are in use (the runtime's process capacity)",
                arena.slots.count
            );
        };
        let base = arena.slots.base_of(index);
        if fresh {
            // SAFETY: the slot is ours and never used; its first page becomes the guard.
            let protected = unsafe { libc::mprotect(base.cast(), arena.page, libc::PROT_NONE) };
            if protected != 0 {
                let error = std::io::Error::last_os_error();
                // The slot may be half set up: never hand it out again.
                wasmtime::bail!("could not protect a fiber stack's guard page: {error}");
            }
        } else if zeroed {
            // SAFETY: the slot is ours; the stack part follows the guard page.
            let ok = unsafe { decommit(base.add(arena.page), room) };
            if !ok {
                wasmtime::bail!("could not zero a reused fiber stack");
            }
        }
        Ok(Box::new(ArenaStack {
            arena: arena.clone(),
            index,
            base,
        }))
    }
}

/// One fiber stack: a slot of the arena, guard page first.
struct ArenaStack {
    arena: Arc<StackArena>,
    index: usize,
    base: *mut u8,
}

// SAFETY: the pointer is into the arena, which the `Arc` keeps mapped; a fiber runs on
// one thread at a time.
unsafe impl Send for ArenaStack {}
// SAFETY: as above.
unsafe impl Sync for ArenaStack {}

// SAFETY: `top` is page-aligned, the usable range lies above a protected guard page,
// and the slot belongs to this stack alone until it drops.
unsafe impl StackMemory for ArenaStack {
    fn top(&self) -> *mut u8 {
        // SAFETY: one past the end of this slot, inside or at the end of the region.
        unsafe { self.base.add(self.arena.slots.slot_size) }
    }

    fn range(&self) -> Range<usize> {
        let base = self.base as usize;
        base + self.arena.page..base + self.arena.slots.slot_size
    }

    fn guard_range(&self) -> Range<*mut u8> {
        // SAFETY: the guard is the slot's first page.
        self.base..unsafe { self.base.add(self.arena.page) }
    }
}

impl Drop for ArenaStack {
    fn drop(&mut self) {
        self.arena.slots.give_back(self.index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_leaves_headroom_and_counts_two_mappings_per_guest() {
        let budget = MappingBudget::from_counts(65_530, 400);
        assert_eq!(budget.guests, (65_530 - 400 - MAPPING_HEADROOM) / 2);
        assert!(budget.max_map_count_for(budget.guests) <= 65_530);
        assert!(budget.max_map_count_for(budget.guests + 1) > 65_530);
        assert_eq!(MappingBudget::from_counts(1_000, 400).guests, 0);
    }

    #[test]
    fn a_reused_memory_slot_reads_as_zeroes() {
        let arena = MemoryArena::new(1 << 16, 1, 1).unwrap();
        let creator = ArenaMemories(arena.clone());
        let ty = MemoryType::new(1, None);
        let mut memory = creator
            .new_memory(ty.clone(), 1 << 15, None, None, 0)
            .unwrap();
        memory.grow_to(1 << 16).unwrap();
        // SAFETY: the memory is 64 KiB long and ours.
        unsafe { std::ptr::write_bytes(memory.as_ptr(), 0xAB, 1 << 16) };
        drop(memory);
        let memory = creator.new_memory(ty, 1 << 16, None, None, 0).unwrap();
        // SAFETY: as above.
        let bytes = unsafe { std::slice::from_raw_parts(memory.as_ptr(), 1 << 16) };
        assert!(bytes.iter().all(|&b| b == 0));
        assert_eq!(arena.ever_used(), 1, "the one slot was reused");
    }

    #[test]
    fn a_reused_memory_reads_as_zeroes_past_the_zeroed_head_too() {
        let arena = MemoryArena::new(1 << 20, 1, 1).unwrap();
        let creator = ArenaMemories(arena.clone());
        let ty = MemoryType::new(16, None);
        let len = 1 << 20;
        let memory = creator.new_memory(ty.clone(), len, None, None, 0).unwrap();
        // Touch one page in the head and a few beyond it, leave the others untouched.
        for offset in [4096, ZERO_IN_PLACE, ZERO_IN_PLACE + 3 * 4096, len - 1] {
            // SAFETY: inside the 1 MiB memory, which is ours.
            unsafe { memory.as_ptr().add(offset).write(0x5A) };
        }
        drop(memory);
        let memory = creator.new_memory(ty, len, None, None, 0).unwrap();
        // SAFETY: as above.
        let bytes = unsafe { std::slice::from_raw_parts(memory.as_ptr(), len) };
        assert!(bytes.iter().all(|&b| b == 0));
    }

    #[test]
    fn memories_past_the_arena_or_the_slot_are_refused() {
        let arena = MemoryArena::new(1 << 16, 1, 1).unwrap();
        let creator = ArenaMemories(arena);
        let ty = MemoryType::new(1, None);
        assert!(
            creator
                .new_memory(ty.clone(), 1 << 17, None, None, 0)
                .is_err()
        );
        let mut held = creator.new_memory(ty.clone(), 0, None, None, 0).unwrap();
        assert!(held.grow_to(1 << 17).is_err());
        assert!(creator.new_memory(ty, 0, None, None, 0).is_err());
    }

    #[test]
    fn a_worker_takes_back_the_slot_it_released_before_the_free_list() {
        use_hot_cell(Some(0));
        let slots = Slots::new(4096, 3, 2).unwrap();
        let (a, fresh_a) = slots.take().unwrap();
        let (b, _) = slots.take().unwrap();
        assert!(fresh_a);
        slots.give_back(a);
        slots.give_back(b);
        assert_eq!(slots.take(), Some((a, false)), "the hot slot first");
        assert_eq!(slots.take(), Some((b, false)), "then the free list");
        let (c, fresh_c) = slots.take().unwrap();
        assert!(fresh_c && c != a && c != b);
        assert_eq!(slots.take(), None, "all three in use");
        use_hot_cell(None);
    }

    #[test]
    fn a_slot_kept_hot_by_another_worker_is_taken_before_the_arena_is_full() {
        let slots = Slots::new(4096, 1, 2).unwrap();
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

    #[test]
    fn stacks_are_distinct_and_reused_after_release() {
        let arena = StackArena::new(64 << 10, 2, 1).unwrap();
        let creator = ArenaStacks(arena.clone());
        let a = creator.new_stack(64 << 10, false).unwrap();
        let b = creator.new_stack(64 << 10, false).unwrap();
        assert!(a.range().end <= b.range().start || b.range().end <= a.range().start);
        assert_eq!(a.guard_range().end as usize, a.range().start);
        assert!(
            creator.new_stack(64 << 10, false).is_err(),
            "the arena is full"
        );
        drop(a);
        let c = creator.new_stack(64 << 10, false).unwrap();
        assert_eq!(arena.ever_used(), 2);
        drop((b, c));
    }
}
