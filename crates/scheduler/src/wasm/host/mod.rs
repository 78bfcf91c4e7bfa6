//! The `shoal` host module: the functions a guest imports. docs/ABI.md is the contract,
//! and `shoal-abi` holds every number and encoding in it (status codes, message kinds,
//! exit reasons on the wire, the reference range, the size limits).
//!
//! # By area
//! Each file installs one area's functions and asks only for what it uses: the store's
//! [`HostState`], and the executor's, the actor layer's or the wasm layer's operations.
//!
//! | file | functions |
//! |---|---|
//! | `process` | `self`, `parent`, `spawn`, `spawn_on`, `spawn_link`, `spawn_monitor`, `exit`, `panic` |
//! | `messages` | `send`, `wait_node`, `receive`, `receive_tag`, `message_read`, `message_tag`, `message_sender`, `message_kind` |
//! | `actors` | `link`, `unlink`, `trap_exit`, `exit_signal`, `monitor`, `monitor_alias`, `monitor_node`, `nodes`, `demonitor`, `alias`, `unalias`, `register`, `unregister`, `whereis`, `send_name`, `send_name_on` |
//! | `global` | `register_global`, `unregister_global`, `whereis_global` |
//! | `time` | `now`, `sleep`, `yield` |
//! | `memory` | the check every `(ptr, len)` goes through, and names read from memory |
//!
//! # Memory
//! Every `(ptr, len)` from a guest goes through `memory::guest_range` before the host
//! touches memory: an out-of-bounds range ends that process with `trap(bad_pointer)` and
//! the host never reads or writes outside the guest's memory.
//!
//! # Waits
//! `receive`, `receive_tag`, `sleep`, `yield`, `spawn_on` and the `*_global` functions
//! are async host functions: while they wait, the guest's fiber is suspended and its
//! worker runs other processes (the executor's waits move the process to `Waiting`
//! exactly while it waits). When a wait
//! ends, the process starts a fresh quantum and slice: it was not running while it
//! waited, so it is owed a whole one (`preempt::begin_new_quantum`).

pub(super) mod actors;
mod global;
mod memory;
pub(super) mod messages;
pub(super) mod process;
pub(super) mod time;

use std::sync::Arc;

use shoal_executor::{Executor, Process};
use shoal_proc::{Message, Pid};
use wasmtime::{Linker, Memory};

use super::Module;
use super::guest::GuestLimiter;
use super::wasi::WasiState;
use crate::actor::Actors;

/// Nanoseconds in a millisecond: the unit of `sleep` and of receive timeouts.
const NS_PER_MS: u64 = 1_000_000;

/// The import module name.
pub(crate) const HOST_MODULE: &str = "shoal";

/// Every function the host module `shoal` provides (docs/ABI.md), by name: what a
/// module's imports are checked against at compile time, and what a tool that generates
/// guests (the fuzzer) must cover.
pub const HOST_FUNCTIONS: &[&str] = &[
    "self",
    "parent",
    "spawn",
    "send",
    "receive",
    "receive_tag",
    "message_read",
    "message_tag",
    "message_sender",
    "yield",
    "sleep",
    "now",
    "exit",
    "message_kind",
    "link",
    "unlink",
    "trap_exit",
    "exit_signal",
    "spawn_on",
    "spawn_link",
    "spawn_monitor",
    "monitor",
    "monitor_alias",
    "monitor_node",
    "nodes",
    "demonitor",
    "alias",
    "unalias",
    "register",
    "unregister",
    "whereis",
    "send_name",
    "send_name_on",
    "wait_node",
    "register_global",
    "unregister_global",
    "whereis_global",
    "panic",
];

/// What every store holds: the process it runs and the runtime it runs in.
pub(crate) struct HostState {
    /// The process this store runs.
    pub process: Arc<Process>,
    /// The runtime's executor: sends, waits, the clock, spawns.
    pub executor: Arc<Executor>,
    /// The runtime's actor state: names and references.
    pub actors: Arc<Actors>,
    /// The module, so that `shoal.spawn` can start its other exports.
    pub module: Module,
    /// The guest's exported `memory`, looked up once after instantiation.
    pub memory: Option<Memory>,
    /// The message the last receive took; read by `message_*`.
    pub current: Option<Message>,
    /// Memory, table and instance caps for this store.
    pub limits: GuestLimiter,
    /// Fuel the store started with: consumed = budget - remaining.
    pub fuel_budget: u64,
    /// Epoch ticks since the current slice began.
    pub ticks_in_slice: u64,
    /// The WASI context of a module that imports WASI, and its captured output (`wasi`).
    pub wasi: Option<Box<WasiState>>,
}

/// WASI preview 2's view of a store: the same context preview 1 uses (wasmtime-wasi's
/// preview 1 sits on preview 2), for command components.
impl wasmtime_wasi::WasiView for HostState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        // A component's process always has a context (`spawn`: a component uses WASI);
        // were this reached without one, the panic ends that process as `host_error`,
        // never the host, as the preview-1 accessor's does.
        let wasi = self
            .wasi
            .as_deref_mut()
            .expect("a process of a WASI component has a WASI context");
        wasmtime_wasi::WasiView::ctx(&mut wasi.ctx)
    }
}

impl HostState {
    /// The executor, the actor state and the process, owned: what an async host
    /// function holds across its wait, when the store itself is borrowed again after.
    pub(crate) fn owned_parts(&self) -> (Arc<Executor>, Arc<Actors>, Arc<Process>) {
        (
            self.executor.clone(),
            self.actors.clone(),
            self.process.clone(),
        )
    }
}

impl HostState {
    /// Exact fuel consumed, read from the store.
    pub(crate) fn fuel_consumed(&self, remaining: u64) -> u64 {
        self.fuel_budget.saturating_sub(remaining)
    }
}

/// Installs the `shoal` module, and WASI preview 1, into `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    // WASI preview 1, async: only modules that import it call it, and each of those
    // processes has a context (`spawn`), so the accessor's panic is unreachable; were it
    // reached, it would end that process as `host_error`, never the host.
    wasmtime_wasi::p1::add_to_linker_async(linker, |state: &mut HostState| {
        &mut state
            .wasi
            .as_deref_mut()
            .expect("a process of a WASI module has a WASI context")
            .ctx
    })?;
    process::add(linker)?;
    messages::add(linker)?;
    actors::add(linker)?;
    global::add(linker)?;
    time::add(linker)?;
    Ok(())
}

/// A guest's pid argument: `None` for a value that is no pid's (negative, or 2^62 and
/// above, where references live), which names no process (docs/ABI.md, "Pids").
fn pid_arg(bits: i64) -> Option<Pid> {
    u64::try_from(bits).ok().and_then(Pid::from_bits)
}
