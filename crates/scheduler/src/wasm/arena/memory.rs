//! The linear memories of one runtime: slots of the memory arena, handed to wasmtime
//! through its `MemoryCreator`, made to read as zeroes again when they are released
//! (module docs, "Slots").

#![allow(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

use super::layout::{GUARDED_GUARD, GUARDED_RESERVATION, MemoryLayout};
use super::region::{Access, decommit, page_size, protect, round_up};
use super::slots::Slots;

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
    /// The largest a memory may grow: `max_memory`, in whole pages.
    max_bytes: usize,
    layout: MemoryLayout,
    /// Under [`MemoryLayout::Guarded`], one per slot: the bytes at its start that are
    /// read-write now (a multiple of the page size); everything above is inaccessible.
    /// Only the slot's owner reads or writes its entry, and ownership passes through
    /// `Slots`, which orders it. Empty under `Dense`.
    open: Box<[AtomicUsize]>,
}

impl MemoryArena {
    /// `count` memories of at most `max_memory` bytes each, laid out as `layout`, for
    /// `workers` workers.
    pub(crate) fn new(
        max_memory: usize,
        count: usize,
        workers: usize,
        layout: MemoryLayout,
    ) -> std::io::Result<Arc<MemoryArena>> {
        let page = page_size();
        let max_bytes = round_up(max_memory.max(1), page);
        let (slots, open) = match layout {
            MemoryLayout::Dense => (
                Slots::new(max_bytes, count, workers, Access::ReadWrite)?,
                Box::default(),
            ),
            MemoryLayout::Guarded => (
                Slots::new(
                    GUARDED_RESERVATION + GUARDED_GUARD,
                    count,
                    workers,
                    Access::None,
                )?,
                (0..count).map(|_| AtomicUsize::new(0)).collect(),
            ),
        };
        Ok(Arc::new(MemoryArena {
            slots,
            page,
            max_bytes: max_bytes.min(GUARDED_RESERVATION),
            layout,
            open,
        }))
    }

    /// Under `Guarded`, makes exactly the first `len` bytes (rounded up to pages) of slot
    /// `index` read-write and the rest of its reservation inaccessible; a no-op under
    /// `Dense`. The kernel may refuse part way (`ENOMEM` at the mapping limit): the pages
    /// it did change are then changed back where it allows, and the error says whether
    /// the slot is as it was (else its protection is unknown, and it must never be handed
    /// out again).
    ///
    /// # Safety
    /// The caller owns slot `index`, and nothing refers to the bytes at or above `len`.
    unsafe fn open_to(&self, index: usize, ptr: *mut u8, len: usize) -> Result<(), OpenError> {
        let Some(open) = self.open.get(index) else {
            return Ok(());
        };
        let want = round_up(len, self.page);
        let now = open.load(Ordering::Relaxed);
        let (from, to, access, undo) = match want.cmp(&now) {
            std::cmp::Ordering::Equal => return Ok(()),
            std::cmp::Ordering::Greater => (now, want, Access::ReadWrite, Access::None),
            std::cmp::Ordering::Less => (want, now, Access::None, Access::ReadWrite),
        };
        // SAFETY: `from..to` is inside the slot's reservation, which the caller owns, and
        // the caller holds no reference above `len`.
        if unsafe { protect(ptr.add(from), to - from, access) } {
            open.store(want, Ordering::Relaxed);
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        // SAFETY: as above; this puts the range back as `open` still says it is.
        let restored = unsafe { protect(ptr.add(from), to - from, undo) };
        Err(OpenError { error, restored })
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

    /// Memory slots held by live stores now.
    pub(crate) fn in_use(&self) -> usize {
        self.slots.in_use()
    }
}

/// A slot the kernel would not open or close to a memory's size.
struct OpenError {
    error: std::io::Error,
    /// Whether the slot's pages are back as they were, so that it may be reused.
    restored: bool,
}

/// The engine's memory creator: memories from the arena.
pub(crate) struct ArenaMemories(pub Arc<MemoryArena>);

// SAFETY: every memory is a distinct slot of the arena (one owner at a time), zero-filled
// when handed out (never used, or decommitted on its last release), at least `minimum`
// bytes, never moved, and alive until wasmtime drops it. Under `Dense` the engine asks
// for no reservation or guard (`memory_guard_size(0)`), so compiled code relies on none;
// under `Guarded` every byte of the slot's reservation and guard above the memory's size
// is inaccessible (`open_to`), as the reservation and guard the engine asks for require.
unsafe impl MemoryCreator for ArenaMemories {
    fn new_memory(
        &self,
        _ty: MemoryType,
        minimum: usize,
        _maximum: Option<usize>,
        reserved_size_in_bytes: Option<usize>,
        guard_size_in_bytes: usize,
    ) -> Result<Box<dyn LinearMemory>, String> {
        let arena = &self.0;
        let capacity = arena.max_bytes;
        let (reservation, guard) = match arena.layout {
            MemoryLayout::Dense => (0, 0),
            MemoryLayout::Guarded => (GUARDED_RESERVATION, GUARDED_GUARD),
        };
        if guard_size_in_bytes > guard || reserved_size_in_bytes.unwrap_or(0) > reservation {
            return Err(format!(
                "the memory arena reserves {reservation} bytes and a {guard}-byte guard per memory; {reserved_size_in_bytes:?} and {guard_size_in_bytes} were asked for"
            ));
        }
        if minimum > capacity {
            return Err(format!(
                "an initial memory of {minimum} bytes exceeds max_memory ({capacity} bytes): raise it with RuntimeBuilder::max_memory or `shoal run --max-memory`"
            ));
        }
        let (index, _) = arena.slots.take().ok_or_else(|| {
            format!(
                "all {} memory slots are in use (the runtime's process capacity)",
                arena.slots.count
            )
        })?;
        let ptr = arena.slots.base_of(index);
        // SAFETY: the slot was just taken, so it is ours and nothing refers into it.
        if let Err(OpenError { error, restored }) = unsafe { arena.open_to(index, ptr, minimum) } {
            if restored {
                arena.slots.give_back(index);
            } else {
                tracing::warn!(
                    slot = index,
                    "could not protect a memory slot; it is not reused"
                );
            }
            return Err(format!(
                "cannot open {minimum} bytes of a guarded memory: {error}"
            ));
        }
        Ok(Box::new(ArenaMemory {
            arena: arena.clone(),
            index,
            ptr,
            size: minimum,
            high_water: minimum,
            lost: false,
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
    /// Whether opening pages for growth failed and could not be undone, so that the
    /// slot's protection is unknown and it must not be reused.
    lost: bool,
}

// SAFETY: the pointer is into the arena, which the `Arc` keeps mapped; wasmtime
// synchronises access to a memory through its store.
unsafe impl Send for ArenaMemory {}
// SAFETY: as above.
unsafe impl Sync for ArenaMemory {}

// SAFETY: the memory never moves (`as_ptr` is constant), `byte_size` bytes from it are
// read-write and owned by this memory, growth never exceeds the slot, and under `Guarded`
// the rest of the slot stays inaccessible.
unsafe impl LinearMemory for ArenaMemory {
    fn byte_size(&self) -> usize {
        self.size
    }

    fn byte_capacity(&self) -> usize {
        self.arena.max_bytes
    }

    fn grow_to(&mut self, new_size: usize) -> wasmtime::Result<()> {
        let capacity = self.arena.max_bytes;
        if new_size > capacity {
            wasmtime::bail!("memory of {new_size} bytes exceeds max_memory ({capacity} bytes)");
        }
        // SAFETY: this memory owns its slot; growing only opens pages above its size.
        if new_size > self.size
            && let Err(OpenError { error, restored }) =
                unsafe { self.arena.open_to(self.index, self.ptr, new_size) }
        {
            self.lost |= !restored;
            wasmtime::bail!("cannot open {new_size} bytes of a guarded memory: {error}");
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
        if !self.lost && unsafe { self.arena.reset(self.ptr, len) } {
            self.arena.slots.give_back(self.index);
        } else {
            tracing::warn!(
                slot = self.index,
                "could not decommit or protect a memory slot; it is not reused"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_memory_slot_reads_as_zeroes() {
        let arena = MemoryArena::new(1 << 16, 1, 1, MemoryLayout::Dense).unwrap();
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
        let arena = MemoryArena::new(1 << 20, 1, 1, MemoryLayout::Dense).unwrap();
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
        let arena = MemoryArena::new(1 << 16, 1, 1, MemoryLayout::Dense).unwrap();
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
    fn a_guarded_slot_is_open_exactly_to_its_memory_size_across_reuse() {
        let arena = MemoryArena::new(1 << 20, 1, 1, MemoryLayout::Guarded).unwrap();
        let creator = ArenaMemories(arena.clone());
        let ty = MemoryType::new(1, None);
        let guard = Some(GUARDED_RESERVATION);
        let mut memory = creator
            .new_memory(ty.clone(), 1 << 16, None, guard, GUARDED_GUARD)
            .unwrap();
        assert_eq!(arena.open[0].load(Ordering::Relaxed), 1 << 16);
        memory.grow_to(4 << 16).unwrap();
        assert_eq!(arena.open[0].load(Ordering::Relaxed), 4 << 16);
        // SAFETY: the memory is 256 KiB long and ours.
        unsafe { std::ptr::write_bytes(memory.as_ptr(), 0xAB, 4 << 16) };
        drop(memory);
        let memory = creator
            .new_memory(ty.clone(), 2 << 16, None, guard, GUARDED_GUARD)
            .unwrap();
        assert_eq!(
            arena.open[0].load(Ordering::Relaxed),
            2 << 16,
            "the pages the last owner grew into are closed again"
        );
        // SAFETY: the memory is 128 KiB long and ours.
        let bytes = unsafe { std::slice::from_raw_parts(memory.as_ptr(), 2 << 16) };
        assert!(bytes.iter().all(|&b| b == 0));
        drop(memory);
        assert!(
            creator
                .new_memory(ty, 0, None, guard, 2 * GUARDED_GUARD)
                .is_err(),
            "a guard larger than the arena's is refused"
        );
    }
}
