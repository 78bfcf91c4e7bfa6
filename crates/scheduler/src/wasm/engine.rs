//! The wasmtime engine every process of a runtime shares, configured for many small,
//! preemptible processes.
//!
//! # Instances, memories and stacks
//! Instances and tables are allocated on demand (a few hundred bytes of heap each, no
//! mapping); linear memories and fiber stacks come from the runtime's two arenas
//! (`arena`), one large mapping each, so that a live process costs the kernel
//! [`MAPPINGS_PER_GUEST`](crate::MAPPINGS_PER_GUEST) mappings (its stack's guard
//! page) rather than the four of wasmtime's pooling allocator. Both arenas hold one slot
//! per guest the mapping budget admits.
//!
//! # Bounds checks
//! They follow the memory layout (`arena`, "Layouts"):
//! - **Dense:** memories have no reservation beyond their current size and no guard
//!   region. Compiled code compares every access with the memory's current length,
//!   loaded from the instance (wasmtime's "dynamic" memories). An access past the end
//!   traps as `memory_out_of_bounds` exactly as a guard page would have, but with no
//!   page-protection change per memory.
//! - **Guarded:** the engine is told of a 4 GiB reservation and a 32 MiB guard and that
//!   memories never move, so for 32-bit memories it compiles no bounds checks, as its
//!   default engine does; the arena keeps everything past a memory's size inaccessible.
//!
//! The two compile different code, so compiled modules (and the on-disk cache, whose key
//! includes the engine's settings) are per layout.
//!
//! # Address space, not memory
//! Each memory slot reserves `max_memory` (16 MiB by default) when dense, 4 GiB and a
//! guard when guarded; each stack slot [`ASYNC_STACK_SIZE`] and a guard page. That is
//! address space (`MAP_NORESERVE`): only pages a process touches become resident.

use std::sync::Arc;

use wasmtime::{Engine, InstanceAllocationStrategy};

use shoal_executor::Config;

use super::arena::{
    ArenaMemories, ArenaStacks, GUARDED_GUARD, GUARDED_RESERVATION, MemoryArena, MemoryLayout,
    StackArena,
};
use crate::error::ConfigError;

/// Wasm stack per process: 256 KiB, half of wasmtime's 512 KiB default. Deep recursion
/// ends the process as `trap(stack_overflow)`, never the host.
pub(crate) const MAX_WASM_STACK: usize = 256 << 10;

/// Fiber stack per process: the wasm stack plus 256 KiB for host functions and
/// wasmtime's own frames (wasmtime requires it to exceed `max_wasm_stack`).
pub(crate) const ASYNC_STACK_SIZE: usize = MAX_WASM_STACK + (256 << 10);

/// The engine and the arenas it allocates from.
pub(crate) struct Allocation {
    /// The engine every store of the runtime uses.
    pub engine: Engine,
    /// Fiber stacks, for the mapping count.
    pub stacks: Arc<StackArena>,
    /// Linear memories, for the count of those in use.
    pub memories: Arc<MemoryArena>,
}

/// Builds the engine for the executor's `config`, with arenas of `slots` memories of at
/// most `max_memory` bytes laid out as `layout`, and as many stacks.
pub(crate) fn build(
    config: &Config,
    max_memory: usize,
    slots: usize,
    layout: MemoryLayout,
) -> Result<Allocation, ConfigError> {
    let arena_error = |what: &str, e: std::io::Error| ConfigError::Engine {
        message: format!("cannot reserve address space for {slots} {what}: {e}"),
    };
    let memories = MemoryArena::new(max_memory, slots, config.workers, layout)
        .map_err(|e| arena_error("linear memories", e))?;
    let stacks = StackArena::new(ASYNC_STACK_SIZE, slots, config.workers)
        .map_err(|e| arena_error("fiber stacks", e))?;

    let mut wasm = wasmtime::Config::new();
    wasm.consume_fuel(config.fuel_metering);
    wasm.epoch_interruption(config.preemption.epoch().is_some());
    wasm.max_wasm_stack(MAX_WASM_STACK);
    wasm.async_stack_size(ASYNC_STACK_SIZE);
    // Memories are the arena's: no copy-on-write images, and the reservation and guard
    // of the layout (see the module docs).
    wasm.memory_init_cow(false);
    wasm.guard_before_linear_memory(false);
    wasm.memory_reservation_for_growth(0);
    match layout {
        MemoryLayout::Dense => {
            wasm.memory_reservation(0);
            wasm.memory_guard_size(0);
        }
        MemoryLayout::Guarded => {
            wasm.memory_reservation(GUARDED_RESERVATION as u64);
            wasm.memory_guard_size(GUARDED_GUARD as u64);
            wasm.memory_may_move(false);
        }
    }
    wasm.with_host_memory(Arc::new(ArenaMemories(memories.clone())));
    wasm.with_host_stack(Arc::new(ArenaStacks(stacks.clone())));
    wasm.allocation_strategy(InstanceAllocationStrategy::OnDemand);

    let engine = Engine::new(&wasm).map_err(|e| ConfigError::Engine {
        message: format!("{e:#}"),
    })?;
    Ok(Allocation {
        engine,
        stacks,
        memories,
    })
}
