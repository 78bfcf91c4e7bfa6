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
//! - **Memories** come from one `MAP_NORESERVE` mapping of `slots` slots, laid out in
//!   one of two ways (below, "Layouts").
//! - **Fiber stacks** come from one mapping of `slots` slots, each a guard page below the
//!   stack. A slot's guard page is protected the first time the slot is handed out, and
//!   kept: [`MAPPINGS_PER_GUEST`] (two) mappings per slot ever used, which the budget
//!   below bounds by the number of live guests.
//!
//! # Layouts
//! - **Dense** ([`MemoryLayout::Dense`]): the mapping is read-write and a slot is
//!   `max_memory` bytes. Nothing changes a page's protection, so a memory costs no
//!   mapping at all. The engine is configured with no reservation and no guard
//!   (`memory_reservation(0)`, `memory_guard_size(0)`), so compiled code checks every
//!   access against the memory's *current* length, which is exactly what the protected
//!   pages would have caught: a guest cannot touch the rest of its slot, let alone a
//!   neighbour's. This is what lets a million processes live; the checks cost about a
//!   third on memory-heavy code.
//! - **Guarded** ([`MemoryLayout::Guarded`]): the mapping starts inaccessible and a slot
//!   is [`GUARDED_RESERVATION`] (4 GiB) plus [`GUARDED_GUARD`]. A memory's pages are made
//!   read-write as it is created and grows (`mprotect`), and the rest of its slot stays
//!   inaccessible, so the engine, told of the reservation and guard, compiles no bounds
//!   checks at all for 32-bit memories: an access past the end faults and traps as
//!   `memory_out_of_bounds`. A released slot keeps its open pages (zeroed as below), and
//!   the next memory in it opens or closes only the difference, so a slot reused by the
//!   same module costs no system call. Its open prefix splits the reservation: two more
//!   mappings per live guest ([`MemoryLayout::mappings_per_guest`]), and 4 GiB of address
//!   space each, so at most [`MAX_GUARDED_PROCESSES`] may live.
//!
//! A runtime that does not choose gets `Guarded` when its capacity fits in
//! [`MAX_GUARDED_PROCESSES`] and the mapping budget admits it, and `Dense` otherwise
//! (`MappingBudget::choose`): few heavy processes run at wasmtime's own speed, many light
//! ones fit.
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
//! its cached fiber stack before the process's exit is published, so a slot is free
//! before its process stops counting as live. Freed memory is made to read as zeroes again up to the highest size it ever
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
//!
//! | file | holds |
//! |---|---|
//! | `region` | one anonymous mapping, and the page arithmetic and decommit on it |
//! | `slots` | fixed-size slots in a region: hot cells, free list, never-used ones |
//! | `layout` | dense or guarded memories, and how a runtime chooses |
//! | `memory` | the linear memories: wasmtime's `MemoryCreator`, opening guarded pages, zeroing on release |
//! | `stack` | the fiber stacks: wasmtime's `StackCreator`, guard pages |
//! | `budget` | how many guests `vm.max_map_count` allows |

mod budget;
mod layout;
mod memory;
mod region;
mod slots;
mod stack;

pub use budget::{MAPPING_HEADROOM, MappingBudget};
pub use layout::{
    GUARDED_ADDRESS_SPACE, GUARDED_GUARD, GUARDED_RESERVATION, MAPPINGS_PER_GUEST,
    MAX_GUARDED_PROCESSES, MemoryLayout,
};
pub(crate) use memory::{ArenaMemories, MemoryArena};
pub(crate) use slots::use_hot_cell;
pub(crate) use stack::{ArenaStacks, StackArena};
