//! The fiber stacks of one runtime: slots of the stack arena, each a guard page below
//! the stack, handed to wasmtime through its `StackCreator`.

#![allow(unsafe_code)]

use std::ops::Range;
use std::sync::Arc;

use wasmtime::{StackCreator, StackMemory};

use super::region::{Access, decommit, page_size, round_up};
use super::slots::Slots;

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
            slots: Slots::new(
                page + round_up(stack_size, page),
                count,
                workers,
                Access::ReadWrite,
            )?,
            page,
        }))
    }

    /// Stack slots handed out at least once: each costs [`MAPPINGS_PER_GUEST`] mappings.
    pub(crate) fn ever_used(&self) -> usize {
        self.slots.ever_used()
    }

    /// Stack slots held by live stores now.
    pub(crate) fn in_use(&self) -> usize {
        self.slots.in_use()
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
