//! Shoal's scheduler: many WebAssembly processes, run fairly on a fixed pool of workers.
//!
//! # What runs where
//! A *process* is a wasmtime `Store` and `Instance` running one export of a module. Its
//! whole life (instantiation, the entry call, every host call) is one async-task polled
//! by the runtime's own executor: `workers` threads with local deques, two global
//! injectors and work stealing (crossbeam). There is no tokio task per process.
//!
//! | file | holds |
//! |---|---|
//! | `config` | the builder, preemption modes, limits, validation |
//! | `engine` | the wasmtime engine: allocation, stacks, fuel, epochs |
//! | `arena` | linear memories and fiber stacks in two mappings; the mapping budget |
//! | `module` | compile once, one shared `InstancePre`, entry checks |
//! | `cache` | the on-disk cache of compiled modules |
//! | `host` | the `shoal` host module (docs/ABI.md) |
//! | `guest` | one guest's run: store set-up, instantiate, call, the epoch callback |
//! | `process` | the scheduler's process and the future a worker polls |
//! | `queue` | the run queues and the scheduling policy |
//! | `worker` | the loop each worker runs, per-quantum bookkeeping |
//! | `shared` | spawn, schedule, send, exit; fair-share virtual time |
//! | `clock`, `timer`, `ticker` | time: real or virtual, sleeps, the epoch ticker |
//! | `hash` | the deterministic schedule hash |
//! | `trace` | the optional, bounded schedule trace |
//! | `wait` | receive, sleep and yield without holding a worker |
//! | `native` | native processes: Rust futures scheduled as processes |
//! | `actor` | links, monitors, exit signals, names: `proc`'s rules on live processes |
//! | `wasi` | WASI preview 1 command modules: per-process stdio, args, env, shared preopens |
//! | `supervisor` | supervisors: OTP's restart strategies and intensity, on native processes |
//! | `runtime`, `handle` | the host API |
//!
//! # Scheduling policy
//! Preemption comes from fuel (`fuel_async_yield_interval`: a process yields every
//! `quantum` units, deterministically), from epochs (a ticker thread; a slice ends only
//! when another process is waiting, and a lone process runs on), or both. A process that
//! yields or is preempted goes to the back of one global FIFO: round-robin over the whole
//! pool, with no LIFO slot (wasmtime #10667). A process woken after waiting goes to a
//! separate wake class that workers serve first, provided it has not used more than its
//! fair share of CPU (virtual runtime against the runtime's fair-share virtual clock) or
//! has run less than 10 ms in the current 100 ms, so its wake-to-run latency is bounded by
//! the quantum or tick in progress and does not grow with the number of CPU-bound
//! processes. Under epochs a queued wake-up also ends a
//! CPU-bound slice at the next tick. See `queue` and `shared` for the details.
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
//! - **Mappings.** [`MAPPINGS_PER_GUEST`] (two: its fiber stack's guard page splits the
//!   stack arena), and nothing for its memory, instance or table (`arena`, `engine`).
//!   Native processes cost none. A runtime refuses a spawn with
//!   [`SpawnError::MappingBudget`] before `vm.max_map_count` would be reached: at the
//!   default 65,530, about 30,000 live guests; a million need the limit raised to about
//!   two million and six thousand (`sysctl -w vm.max_map_count=...`).
//! - **Memory.** The pages a process touches: its stack's top pages (a guest blocked in
//!   `receive` has host and wasmtime frames there), its linear memory's touched pages,
//!   and its store, instance and mailbox on the heap. Untouched slots cost address space
//!   only (`MAP_NORESERVE`).

// Unsafe code is allowed in `arena`, where memories and stacks are carved out of
// mappings of our own, and in `cache`'s one load of a compiled module; every block says
// why it holds.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod actor;
mod arena;
mod cache;
mod clock;
mod config;
mod engine;
mod error;
mod guest;
mod handle;
mod hash;
mod host;
mod module;
mod native;
mod process;
mod queue;
mod runtime;
mod shared;
mod supervisor;
mod ticker;
mod timer;
mod trace;
mod wait;
mod wasi;
mod worker;

pub use arena::{MAPPING_HEADROOM, MAPPINGS_PER_GUEST, MappingBudget};
pub use cache::CacheOutcome;
pub use config::{
    DEFAULT_CAPACITY, DEFAULT_EPOCH_TICK, DEFAULT_FUEL_QUANTUM, DEFAULT_MAX_MEMORY,
    DEFAULT_SLICE_TICKS, MAX_CAPACITY, Preemption, RuntimeBuilder, SpawnOptions,
};
pub use error::{CompileError, ConfigError, NoProc, SendError, SpawnError};
pub use handle::{ProcessHandle, ProcessInfo, RuntimeStats};
pub use host::{MAX_MESSAGE_BYTES, status};
pub use module::Module;
pub use native::{NativeContext, RequestError, split_request};
pub use runtime::Runtime;
pub use shoal_proc::{
    AccountingSnapshot, CapturedOutput, Exit, ExitKind, ExitReason, MAX_NAME_BYTES, Message,
    MessageKind, Pid, Reference, RegisterError, SignalReason, State, TrapCode, WaitReason,
    WireError,
};
pub use supervisor::{
    ChildInfo, ChildSpec, DEFAULT_MAX_RESTARTS, DEFAULT_PERIOD, DEFAULT_SHUTDOWN_TIMEOUT,
    MAX_CHILD_ID_BYTES, Restart, Shutdown, StartFn, Strategy, Supervisor, SupervisorBuilder,
    SupervisorError, WHICH_CHILDREN_TAG,
};
pub use trace::{Trace, TraceEvent, TraceKind, Track};
pub use wasi::{MAX_CAPTURE_BYTES, Output, Preopen, PreopenError, Stdin, WasiConfig};
