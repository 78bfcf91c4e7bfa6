//! The wasmtime engine every process of a runtime shares, configured for many small,
//! preemptible processes.
//!
//! # Instances come from a pool
//! The pooling allocator reserves, once at start-up, one slot per process of capacity for
//! each of: an instance, a linear memory, a table and a fiber stack. A spawn takes free
//! slots (no mmap on the spawn path), copy-on-write initialises the memory from the
//! module's image, and an exit returns them. A process's store is dropped before its
//! table slot is freed, and the pool holds `capacity` slots of each kind plus enough
//! for those still waiting in decommit queues ([`DECOMMIT_SLACK`]), so a spawn that the
//! process table admits always finds pool slots.
//!
//! # Address space, not memory
//! Each memory slot reserves `max_memory` (16 MiB by default) plus a guard; each stack
//! slot [`ASYNC_STACK_SIZE`]. That is address space: only pages a process touches
//! become resident. Small reservations mean explicit bounds checks in compiled code (a
//! 4 GiB reservation would elide them but caps a machine at a few tens of thousands of
//! processes).

use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::config::{Config, WASM_PAGE};
use crate::error::ConfigError;

/// Wasm stack per process: 256 KiB, half of wasmtime's 512 KiB default. Deep recursion
/// ends the process as `trap(stack_overflow)`, never the host.
pub(crate) const MAX_WASM_STACK: usize = 256 << 10;

/// Fiber stack per process: the wasm stack plus 256 KiB for host functions and
/// wasmtime's own frames (wasmtime requires it to exceed `max_wasm_stack`).
pub(crate) const ASYNC_STACK_SIZE: usize = MAX_WASM_STACK + (256 << 10);

/// Guard after each memory slot: one wasm page, which with explicit bounds checks only
/// has to catch the host's own bugs.
const MEMORY_GUARD: u64 = WASM_PAGE as u64;

/// Table elements per process: enough for the function tables of modules compiled from
/// C or Rust with a few thousand address-taken functions.
const TABLE_ELEMENTS: usize = 10_000;

/// Slots returned to the pool are decommitted (`madvise`) this many at a time rather
/// than one by one: each decommit of a slot that another worker has touched costs a TLB
/// shootdown across cores, and batching pays it once per batch.
const DECOMMIT_BATCH: usize = 32;

/// Pool slots beyond the table's capacity. A slot freed by an exited process can wait
/// in one of wasmtime's decommit queues (one per thread shard, at most 16 shards, each
/// holding fewer than [`DECOMMIT_BATCH`] slots) before it can be handed out again; the
/// table admits a new process as soon as the old one exits, so the pool holds that many
/// more slots than the table admits processes. Capacity is still enforced by the table.
const DECOMMIT_SLACK: usize = 16 * DECOMMIT_BATCH;

/// Builds the engine for `config`.
pub(crate) fn build(config: &Config) -> Result<Engine, ConfigError> {
    let mut wasm = wasmtime::Config::new();
    wasm.consume_fuel(config.fuel_metering);
    wasm.epoch_interruption(config.preemption.epoch().is_some());
    wasm.max_wasm_stack(MAX_WASM_STACK);
    wasm.async_stack_size(ASYNC_STACK_SIZE);
    wasm.memory_init_cow(true);
    wasm.memory_reservation(config.max_memory as u64);
    wasm.memory_guard_size(MEMORY_GUARD);
    wasm.memory_reservation_for_growth(0);

    let capacity = u32::try_from(config.capacity + DECOMMIT_SLACK).unwrap_or(u32::MAX);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(capacity)
        .total_memories(capacity)
        .total_tables(capacity)
        .total_stacks(capacity)
        .max_memories_per_module(1)
        .max_tables_per_module(1)
        .table_elements(TABLE_ELEMENTS)
        .max_memory_size(config.max_memory)
        .decommit_batch_size(DECOMMIT_BATCH);
    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));

    Engine::new(&wasm).map_err(|e| ConfigError::Engine {
        message: format!("{e:#}"),
    })
}
