//! The linear memories of one runtime: slots of the memory arena, handed to wasmtime
//! through its `MemoryCreator`, made to read as zeroes again when they are released
//! (module docs, "Slots").

#![allow(unsafe_code)]

use std::sync::Arc;

use wasmtime::{LinearMemory, MemoryCreator, MemoryType};

use super::region::{decommit, page_size, round_up};
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

    /// Memory slots held by live stores now.
    pub(crate) fn in_use(&self) -> usize {
        self.slots.in_use()
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
                "an initial memory of {minimum} bytes exceeds max_memory ({capacity} bytes): raise it with RuntimeBuilder::max_memory or `shoal run --max-memory`"
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
