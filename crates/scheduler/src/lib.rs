//! Shoal's runtime: many WebAssembly processes, run fairly on a fixed pool of workers.
//!
//! # Layers
//! A *process* is a wasmtime `Store` and `Instance` running one export of a module (a
//! guest), or a Rust future (a native process). Four layers run it, each importing only
//! the ones below it; the lowest is a crate of its own, so that the compiler keeps it
//! free of wasm:
//!
//! | layer | where | owns | may import |
//! |---|---|---|---|
//! | executor | `shoal-executor` | queues, workers, timers, the clock, the process record and its task, fair shares, the exit sequence, the trace and schedule hash | `shoal-proc` |
//! | actor | [`actor`](crate::actor) (private) | links, monitors, exit signals, names, references: Erlang's rules on live processes; the seam to other nodes ([`Remote`] out, [`RemotePort`] in), which a cluster's transport implements | the executor |
//! | wasm | `wasm` | the engine, modules and their cache, the arenas, a guest's spawn and run, preemption, the host ABI, WASI | the executor, `actor` |
//! | native | `native` | native processes ([`NativeContext`]) and supervisors | the executor, `actor`, `wasm` |
//! | runtime | `runtime` | [`Runtime`], [`RuntimeBuilder`], shutdown, stats | all of the above |
//!
//! The actor layer is in two halves: the rules on live processes (`actor`) sit below the
//! wasm layer, because the guests' host functions call them; native processes and
//! supervisors (`native`) sit above it, because a native process spawns guests. `error`
//! holds the typed errors every layer returns and imports only the executor. A test
//! (`tests/all/layers.rs`) reads the sources and fails on an import that goes upward.
//!
//! # Scheduling policy
//! Preemption comes from fuel (`fuel_async_yield_interval`: a process yields every
//! `quantum` units, deterministically), from epochs (a slice ends only when another
//! process is waiting, and a lone process runs on), or both. Epoch ticks come from a
//! ticker thread at a fixed tick, or by default (adaptive preemption) from a timer on
//! each worker thread whose period shrinks as runnable processes multiply, with slices
//! counted in CPU time (`wasm::tick_timer` and the executor's `preempt` say why, with
//! the measurements). A process that is preempted, or that yields having had its share,
//! goes to the back of one global FIFO: round-robin over the whole pool, with no LIFO
//! slot (wasmtime #10667); a process of weight `w` runs `w` quanta or slices per turn. A process woken after waiting goes to a
//! separate wake class that workers serve first, provided it has not used more than its
//! fair share of CPU or has run less than 10 ms in the current 100 ms, so its wake-to-run
//! latency is bounded by the quantum or tick in progress and does not grow with the number
//! of CPU-bound processes. Under epochs a queued wake-up also ends a CPU-bound slice at
//! the next tick. The executor's `queue` and `schedule` modules have the details.
//!
//! # Limits and failures
//! Fuel budgets end a process as `out_of_fuel`, deadlines as `deadline` (epoch callback
//! when running, a timer when waiting, and a check before every quantum). A trap, a bad
//! pointer, or a panic in a host function ends that process only. Capacity is enforced by
//! the process table, and the memory and stack arenas hold a slot for every guest the
//! table admits, so spawning past it is a typed error, never an allocation failure
//! elsewhere in the host.
//!
//! # Scale: what a live process costs
//! Measured with `shoal bench idle` (BENCHMARKS.md has the figures):
//! - **Mappings.** With dense memories (a runtime of more than
//!   [`MAX_GUARDED_PROCESSES`] processes, or one that asks for them), [`MAPPINGS_PER_GUEST`]
//!   (two: its fiber stack's guard page splits the stack arena), and nothing for its
//!   memory, instance or table (`wasm::arena`, `wasm::engine`); with guarded memories,
//!   which let compiled code drop its bounds checks, two more. Native processes cost none. A runtime refuses a spawn with
//!   [`SpawnError::MappingBudget`] before `vm.max_map_count` would be reached: at the
//!   default 65,530, about 30,000 live guests; a million need the limit raised to about
//!   two million and six thousand (`sysctl -w vm.max_map_count=...`).
//! - **Memory.** The pages a process touches: its stack's top pages (a guest blocked in
//!   `receive` has host and wasmtime frames there), its linear memory's touched pages,
//!   and its store, instance and mailbox on the heap. Untouched slots cost address space
//!   only (`MAP_NORESERVE`).

// Unsafe code is allowed in `wasm::arena`, where memories and stacks are carved out of
// mappings of our own, and in `wasm::cache`'s one load of a compiled module; every block
// says why it holds.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod actor;
mod error;
mod native;
mod runtime;
mod wasm;

pub use actor::{
    GLOBAL_NAME_TIMEOUT, GlobalAnswer, GlobalName, NODE_ROOM_WAIT, REMOTE_SPAWN_TIMEOUT, Remote,
    RemotePort, RemoteSpawn, RemoteSpawnOptions,
};
pub use error::{
    CompileError, ConfigError, GlobalNameError, GuestLimit, NoProc, SendError, SpawnError,
    WeightError,
};
pub use native::supervisor::{
    ChildInfo, ChildSpec, DEFAULT_MAX_RESTARTS, DEFAULT_PERIOD, DEFAULT_SHUTDOWN_TIMEOUT,
    MAX_CHILD_ID_BYTES, Restart, Shutdown, StartFn, Strategy, Supervisor, SupervisorBuilder,
    SupervisorError, WHICH_CHILDREN_TAG,
};
pub use native::{NativeContext, RequestError, split_request};
pub use runtime::{
    DEFAULT_MAX_MEMORY, DEFAULT_MAX_TABLE_ELEMENTS, Held, Runtime, RuntimeBuilder, RuntimeStats,
    default_memory_budget,
};
pub use shoal_abi::{MAX_MESSAGE_BYTES, status};
pub use shoal_executor::{
    DEFAULT_CAPACITY, DEFAULT_EPOCH_TICK, DEFAULT_FUEL_QUANTUM, DEFAULT_MAILBOX_BYTES,
    DEFAULT_MIN_TICK, DEFAULT_SLICE_TICKS, GroupId, MAX_CAPACITY, MAX_GROUPS, MAX_WEIGHT,
    PROCESS_RECORD_BYTES, Preemption, ProcessHandle, ProcessInfo, TARGET_ROUND, Trace, TraceEvent,
    TraceKind, Track,
};
pub use shoal_proc::{
    ALIAS_BYTES, AccountingSnapshot, CapturedOutput, Exit, ExitKind, ExitReason, LINK_BYTES, Limit,
    MAILBOX_FREE_BYTES, MAX_NAME_BYTES, MESSAGE_OVERHEAD, MONITOR_BYTES, Message, MessageKind,
    NodeId, OverBudget, Pid, RELATIONS_CHUNK, RELATIONS_FREE_BYTES, Reference, RegisterError,
    SignalReason, State, TrapCode, Via, WaitReason, WireError,
};
pub use wasm::arena::{
    GUARDED_ADDRESS_SPACE, GUARDED_GUARD, GUARDED_RESERVATION, MAPPING_HEADROOM,
    MAPPINGS_PER_GUEST, MAX_GUARDED_PROCESSES, MappingBudget, MemoryLayout,
};
pub use wasm::wasi::{MAX_CAPTURE_BYTES, Output, Preopen, PreopenError, Stdin, WasiConfig};
pub use wasm::{CacheOutcome, HOST_FUNCTIONS, MAX_TABLES, Module, SpawnOptions};
