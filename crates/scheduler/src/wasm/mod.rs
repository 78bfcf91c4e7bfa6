//! The wasm layer: processes that are wasmtime instances.
//!
//! # What it owns
//! [`Guests`], one per runtime: the engine, the `shoal` host module's linker, the arenas
//! of linear memories and fiber stacks and their mapping budget, the WASI I/O runtime,
//! and the limits every guest gets. Also compiled modules and their on-disk cache, the
//! spawn of a guest (its store and WASI context), its run (instantiate, call, map the
//! outcome to an exit), its preemption (the epoch callback, fuel), and the host ABI.
//!
//! # What it may import
//! wasmtime, the executor (a guest is a `Run` to it), `proc`, `shoal-abi`, the actor
//! layer's operations (the host functions for links, monitors and names call them) and
//! the crate's errors. Never the native or runtime layers above it.
//!
//! | file | holds |
//! |---|---|
//! | `engine` | the engine's settings: fuel, epochs, stacks, the memory layout's reservation and guard |
//! | `arena` | memories (dense or guarded) and stacks in two mappings; the mapping budget |
//! | `module`, `cache` | compile once, link once; the on-disk cache of compiled code |
//! | `options` | [`SpawnOptions`] and the guest limits |
//! | `spawn` | a guest's spawn: its place in the budget, WASI context, relation |
//! | `guest` | one guest's run: store, instantiate, call, exit |
//! | `preempt` | the epoch callback and fuel across waits |
//! | `trap` | wasmtime's errors and traps as structured exits |
//! | `host` | the `shoal` host module, by area (docs/ABI.md) |
//! | `world` | the `shoal:actor` WIT world (wit/actor.wit): the same ABI for components |
//! | `wasi` | WASI commands: preview 1 modules, preview 2 components |
//! | `ticker` | the epoch ticker thread (fixed ticks) |
//! | `tick_timer` | per-worker tick timers (adaptive ticks) |
//!
//! # Invariants
//! - A guest's store is dropped before its exit is published: its memory and stack slots
//!   are free again before its table slot is, so a spawn that gets a table slot always
//!   finds arena slots (the executor's exit sequence, step 1).
//! - Fuel, the fuel yield interval and the epoch deadline are set before instantiation:
//!   a start function is metered and preempted like the rest of the guest.
//! - Every `(ptr, len)` from a guest is checked against its memory before the host
//!   touches it (`host::memory`); a bad one ends that process only.

pub(crate) mod arena;
mod cache;
mod engine;
mod guest;
pub(crate) mod host;
mod module;
mod options;
mod preempt;
mod spawn;
pub(crate) mod tick_timer;
pub(crate) mod ticker;
mod trap;
pub(crate) mod wasi;
mod world;

use std::sync::atomic::AtomicUsize;

use crossbeam_utils::CachePadded;
use wasmtime::{Engine, Linker};

use crate::error::ConfigError;
use arena::{MappingBudget, MemoryLayout, StackArena};
use host::HostState;

pub use cache::CacheOutcome;
pub use host::HOST_FUNCTIONS;
pub use module::Module;
pub(crate) use options::GuestLimits;
pub use options::SpawnOptions;
pub(crate) use spawn::{SpawnSite, spawn_guest};

/// The wasm layer's state for one runtime (module docs).
pub(crate) struct Guests {
    /// The engine every store shares.
    pub engine: Engine,
    /// The `shoal` host module (and WASI), resolved into each module's `InstancePre`.
    pub linker: Linker<HostState>,
    /// WASI preview 2 and the `shoal:actor` world (wit/actor.wit), resolved into each
    /// component's `InstancePre`.
    pub components: wasmtime::component::Linker<HostState>,
    /// The fiber-stack arena, for the mapping count in stats.
    pub stacks: std::sync::Arc<StackArena>,
    /// The linear-memory arena, for the count of memories in use.
    pub memories: std::sync::Arc<arena::MemoryArena>,
    /// The kernel's mapping limit as it stood when the runtime was built.
    pub mapping: MappingBudget,
    /// How linear memories are laid out: as asked, or as the runtime chose.
    pub layout: MemoryLayout,
    /// Live guests at most: the capacity, or less if the mapping budget is smaller.
    pub guest_limit: usize,
    /// Guests holding a [`GuestPermit`] now.
    pub guests_live: CachePadded<AtomicUsize>,
    /// The tokio runtime of WASI I/O, started by the first WASI process.
    pub wasi_io: wasi::WasiIo,
    /// The settings guests are spawned with.
    pub settings: GuestSettings,
    /// The id of the executor whose processes these guests are (`Executor::id`): a
    /// module of these guests is refused by any other runtime.
    pub owner: usize,
}

/// Tables one process may have: enough for a function table and a few of references
/// (the reference-types proposal), each on the heap and capped at
/// `max_table_elements`. A module with more is refused at compile.
pub const MAX_TABLES: usize = 8;

/// The wasm page size: the unit of `memory.grow` and of a memory's declared sizes.
pub(crate) const WASM_PAGE: usize = 64 << 10;

/// The wasm layer's settings, validated by the runtime builder.
#[derive(Clone, Debug)]
pub(crate) struct GuestSettings {
    /// Live processes at most (the executor's capacity), for the budget's errors.
    pub capacity: usize,
    /// Mappings the runtime may use for guests, if the builder set it; otherwise what
    /// `vm.max_map_count` leaves.
    pub mapping_budget: Option<usize>,
    /// The largest memory any guest may have.
    pub max_memory: usize,
    /// How memories are laid out, if the builder set it; otherwise the runtime chooses.
    pub memory_layout: Option<MemoryLayout>,
    /// The largest table any guest may have, in elements.
    pub max_table_elements: u32,
    /// Limits of every guest that its spawn does not override.
    pub defaults: GuestLimits,
}

impl Guests {
    /// The engine, linker and arenas for a runtime with executor settings `config`. Its
    /// `owner` is set once that executor exists.
    pub(crate) fn new(
        config: &shoal_executor::Config,
        settings: GuestSettings,
    ) -> Result<Guests, ConfigError> {
        let mapping = MappingBudget::of_host();
        let (mut layout, mut guest_limit) = mapping.choose(
            settings.memory_layout,
            settings.mapping_budget,
            settings.capacity,
        )?;
        let built = match engine::build(config, settings.max_memory, guest_limit, layout) {
            // A layout the runtime chose itself falls back to dense memories where the
            // host will not reserve guarded ones (a limit on address space, say).
            Err(error) if settings.memory_layout.is_none() && layout == MemoryLayout::Guarded => {
                tracing::warn!(%error, "guarded memories could not be reserved; using dense ones");
                (layout, guest_limit) = mapping.choose(
                    Some(MemoryLayout::Dense),
                    settings.mapping_budget,
                    settings.capacity,
                )?;
                engine::build(config, settings.max_memory, guest_limit, layout)?
            }
            built => built?,
        };
        let engine::Allocation {
            engine,
            stacks,
            memories,
        } = built;
        let mut linker = Linker::new(&engine);
        host::add_to_linker(&mut linker).map_err(|e| ConfigError::Engine {
            message: format!("{e:#}"),
        })?;
        let mut components = wasmtime::component::Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut components)
            .and_then(|()| world::add_to_linker(&mut components))
            .map_err(|e| ConfigError::Engine {
                message: format!("{e:#}"),
            })?;
        Ok(Guests {
            engine,
            linker,
            components,
            stacks,
            memories,
            mapping,
            layout,
            guest_limit,
            guests_live: CachePadded::new(AtomicUsize::new(0)),
            wasi_io: wasi::WasiIo::default(),
            settings,
            owner: 0,
        })
    }
}

/// The hooks the executor runs as a worker starts and stops: they point the worker
/// thread at its hot arena slots (`Some(index)`) or at none, and under adaptive
/// preemption (`ticks`: the engine whose epoch it bumps) give it its tick timer.
pub(crate) fn worker_hooks(
    ticks: Option<wasmtime::Engine>,
) -> (shoal_executor::WorkerHook, shoal_executor::WorkerHook) {
    (
        Box::new(move |index| {
            arena::use_hot_cell(Some(index));
            if let Some(engine) = &ticks
                && let Err(e) = tick_timer::start(engine)
            {
                tracing::error!(
                    worker = index,
                    "no tick timer: slices stay at the fixed tick: {e}"
                );
            }
        }),
        Box::new(|_| {
            tick_timer::stop();
            arena::use_hot_cell(None);
        }),
    )
}
