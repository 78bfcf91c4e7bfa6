//! The `shoal` host module: the functions a guest imports (docs/ABI.md is the contract).
//!
//! Every `(ptr, len)` from a guest goes through [`guest_range`] before the host touches
//! memory: an out-of-bounds range ends that process with `trap(bad_pointer)` and the host
//! never reads or writes outside the guest's memory.
//!
//! `receive`, `sleep` and `yield` are async host functions: while they wait, the guest's
//! fiber is suspended and its worker runs other processes. A wait is wrapped in
//! `wait::Blocking`, which moves the process to `Waiting(reason)` exactly when the wait
//! returns `Pending`, so the state a joiner sees is always the truth. When a wait ends,
//! the process starts a fresh quantum and slice: it was not running while it waited, so it
//! is owed a whole one.

use std::sync::Arc;

use shoal_proc::{Message, Pid};
use wasmtime::{AsContextMut, Caller, Linker, Memory, StoreLimits};

use crate::error::SendError;
use crate::module::Module;
use crate::process::{Process, YieldCause};
use crate::shared::Shared;
use crate::wait::{YieldNow, wait_for_message};

/// The import module name.
pub(crate) const HOST_MODULE: &str = "shoal";

/// Every function the host module provides, for import checks at compile time.
pub(crate) const HOST_FUNCTIONS: &[&str] = &[
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
];

/// Largest message: 16 MiB. Larger payloads belong in shared storage, not in a copy
/// per send.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Status codes returned to guests (docs/ABI.md).
pub mod status {
    /// Success.
    pub const OK: i32 = 0;
    /// The target pid is dead or never existed.
    pub const NOPROC: i32 = -1;
    /// The target's mailbox is at its bound.
    pub const MAILBOX_FULL: i32 = -2;
    /// A receive timed out.
    pub const TIMEOUT: i32 = -3;
    /// No current message.
    pub const NO_MESSAGE: i32 = -4;
    /// Spawn refused: at capacity.
    pub const CAPACITY: i32 = -5;
    /// Spawn refused: no such export or not an entry type.
    pub const BAD_EXPORT: i32 = -6;
    /// Send refused: message too large.
    pub const TOO_LARGE: i32 = -7;
    /// Spawn refused: shutting down.
    pub const SHUTTING_DOWN: i32 = -8;
}

/// Raised by `shoal.exit(code)`: unwinds the guest and ends it as `normal(code)`.
#[derive(Debug, thiserror::Error)]
#[error("guest called exit({0})")]
pub(crate) struct GuestExit(pub i32);

/// Raised by the epoch callback to end a running guest.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Interrupt {
    /// Killed by the host.
    #[error("killed")]
    Killed,
    /// Its wall-clock deadline passed.
    #[error("deadline passed")]
    Deadline,
}

/// A guest passed a range outside its memory.
#[derive(Debug, thiserror::Error)]
#[error("bad pointer in shoal.{function}: {detail}")]
pub(crate) struct BadPointer {
    function: &'static str,
    detail: String,
}

/// What every store holds: the process it runs and the runtime it runs in.
pub(crate) struct HostState {
    /// The process this store runs.
    pub process: Arc<Process>,
    /// The runtime, for spawn, send and the clock.
    pub shared: Arc<Shared>,
    /// The module, so that `shoal.spawn` can start its other exports.
    pub module: Module,
    /// The guest's exported `memory`, looked up once after instantiation.
    pub memory: Option<Memory>,
    /// The message the last receive took; read by `message_*`.
    pub current: Option<Message>,
    /// Memory, table and instance caps for this store.
    pub limits: StoreLimits,
    /// Fuel the store started with: consumed = budget - remaining.
    pub fuel_budget: u64,
    /// Epoch ticks since the current slice began.
    pub ticks_in_slice: u64,
}

impl HostState {
    /// Exact fuel consumed, read from the store.
    pub(crate) fn fuel_consumed(&self, remaining: u64) -> u64 {
        self.fuel_budget.saturating_sub(remaining)
    }
}

/// Checks `(ptr, len)` against the guest memory and returns the byte range.
fn guest_range(
    memory: Option<Memory>,
    caller: &Caller<'_, HostState>,
    function: &'static str,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<(Memory, std::ops::Range<usize>)> {
    let bad = |detail: String| wasmtime::Error::new(BadPointer { function, detail });
    let memory = memory.ok_or_else(|| bad("the module exports no memory named `memory`".into()))?;
    let len = usize::try_from(len).map_err(|_| bad(format!("negative length {len}")))?;
    // Pointers are unsigned 32-bit offsets; reinterpret the i32 bits.
    let start = ptr as u32 as usize;
    let size = memory.data_size(caller);
    match start.checked_add(len) {
        Some(end) if end <= size => Ok((memory, start..end)),
        _ => Err(bad(format!(
            "range {start}..{start}+{len} is outside the {size}-byte memory"
        ))),
    }
}

/// Syncs exact fuel into the accounting (a cheap read of the store).
fn sync_fuel(caller: &Caller<'_, HostState>, new_quantum: bool) {
    if let Ok(remaining) = caller.get_fuel() {
        let state = caller.data();
        state
            .process
            .sync_fuel(state.fuel_consumed(remaining), new_quantum);
    }
}

/// After a wait: start a fresh fuel quantum and epoch slice.
fn begin_new_quantum(caller: &mut Caller<'_, HostState>) {
    let shared = caller.data().shared.clone();
    if shared.config.preemption.fuel_quantum().is_some() {
        if let Ok(remaining) = caller.get_fuel() {
            // Re-setting the same amount re-injects a whole interval from the reserve.
            let _ = caller.set_fuel(remaining);
            let state = caller.data();
            state
                .process
                .sync_fuel(state.fuel_consumed(remaining), true);
        }
    } else if shared.config.fuel_metering {
        sync_fuel(caller, false);
    }
    if shared.config.preemption.epoch().is_some() {
        caller.as_context_mut().set_epoch_deadline(1);
        caller.data_mut().ticks_in_slice = 0;
    }
}

/// Installs the `shoal` module into `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        HOST_MODULE,
        "self",
        |caller: Caller<'_, HostState>| -> i64 { caller.data().process.pid().to_bits() as i64 },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "parent",
        |caller: Caller<'_, HostState>| -> i64 {
            caller
                .data()
                .process
                .parent
                .map_or(-1, |p| p.to_bits() as i64)
        },
    )?;

    linker.func_wrap(HOST_MODULE, "now", |caller: Caller<'_, HostState>| -> i64 {
        caller.data().shared.clock.now_ns() as i64
    })?;

    linker.func_wrap(
        HOST_MODULE,
        "exit",
        |_caller: Caller<'_, HostState>, code: i32| -> wasmtime::Result<()> {
            Err(wasmtime::Error::new(GuestExit(code)))
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "spawn",
        |caller: Caller<'_, HostState>,
         name_ptr: i32,
         name_len: i32,
         arg: i64|
         -> wasmtime::Result<i64> {
            sync_fuel(&caller, false);
            let (memory, range) =
                guest_range(caller.data().memory, &caller, "spawn", name_ptr, name_len)?;
            let Ok(name) = std::str::from_utf8(&memory.data(&caller)[range]) else {
                return Ok(i64::from(status::BAD_EXPORT));
            };
            let name = name.to_owned();
            let state = caller.data();
            // No overrides: the child gets the runtime's defaults.
            let options = crate::config::Limits::default();
            Ok(
                match state.shared.spawn_process(
                    &state.module,
                    &name,
                    arg,
                    &options,
                    Some(state.process.pid()),
                ) {
                    Ok(child) => child.pid().to_bits() as i64,
                    Err(e) => i64::from(crate::shared::spawn_status(&e)),
                },
            )
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "send",
        |caller: Caller<'_, HostState>,
         pid: i64,
         tag: i64,
         ptr: i32,
         len: i32|
         -> wasmtime::Result<i32> {
            sync_fuel(&caller, false);
            let (memory, range) = guest_range(caller.data().memory, &caller, "send", ptr, len)?;
            let data = memory.data(&caller)[range].to_vec();
            let state = caller.data();
            let message = Message {
                from: Some(state.process.pid()),
                tag: tag as u64,
                data,
            };
            Ok(
                match state.shared.send(Pid::from_bits(pid as u64), message) {
                    Ok(()) => status::OK,
                    Err(SendError::NoProc(_)) => status::NOPROC,
                    Err(SendError::MailboxFull { .. }) => status::MAILBOX_FULL,
                    Err(SendError::TooLarge { .. }) => status::TOO_LARGE,
                },
            )
        },
    )?;

    linker.func_wrap_async(
        HOST_MODULE,
        "receive",
        |mut caller: Caller<'_, HostState>, (timeout_ms,): (i64,)| {
            Box::new(async move { receive(&mut caller, None, timeout_ms).await })
        },
    )?;

    linker.func_wrap_async(
        HOST_MODULE,
        "receive_tag",
        |mut caller: Caller<'_, HostState>, (tag, timeout_ms): (i64, i64)| {
            Box::new(async move { receive(&mut caller, Some(tag as u64), timeout_ms).await })
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "message_read",
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> wasmtime::Result<i32> {
            let Some(size) = caller.data().current.as_ref().map(|m| m.data.len()) else {
                return Ok(status::NO_MESSAGE);
            };
            let want = len.max(0).min(i32::try_from(size).unwrap_or(i32::MAX));
            let (memory, range) =
                guest_range(caller.data().memory, &caller, "message_read", ptr, want)?;
            let (mem, state) = memory.data_and_store_mut(&mut caller);
            let msg = state.current.as_ref().expect("checked above");
            mem[range].copy_from_slice(&msg.data[..want as usize]);
            Ok(want)
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "message_tag",
        |caller: Caller<'_, HostState>| -> i64 {
            match &caller.data().current {
                Some(m) => m.tag as i64,
                None => i64::from(status::NO_MESSAGE),
            }
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "message_sender",
        |caller: Caller<'_, HostState>| -> i64 {
            match &caller.data().current {
                Some(Message { from: Some(p), .. }) => p.to_bits() as i64,
                Some(Message { from: None, .. }) => -1,
                None => i64::from(status::NO_MESSAGE),
            }
        },
    )?;

    linker.func_wrap_async(
        HOST_MODULE,
        "yield",
        |mut caller: Caller<'_, HostState>, (): ()| {
            Box::new(async move {
                sync_fuel(&caller, false);
                caller.data().process.set_yield_cause(YieldCause::Voluntary);
                YieldNow(false).await;
                begin_new_quantum(&mut caller);
            })
        },
    )?;

    linker.func_wrap_async(
        HOST_MODULE,
        "sleep",
        |mut caller: Caller<'_, HostState>, (ms,): (i64,)| {
            Box::new(async move {
                sync_fuel(&caller, false);
                let state = caller.data();
                let (process, shared) = (state.process.clone(), state.shared.clone());
                if ms <= 0 {
                    process.set_yield_cause(YieldCause::Voluntary);
                    YieldNow(false).await;
                } else {
                    let when = shared
                        .clock
                        .now_ns()
                        .saturating_add((ms as u64).saturating_mul(1_000_000));
                    crate::wait::sleep_until(&process, &shared, when).await;
                }
                begin_new_quantum(&mut caller);
            })
        },
    )?;

    Ok(())
}

async fn receive(caller: &mut Caller<'_, HostState>, filter: Option<u64>, timeout_ms: i64) -> i64 {
    sync_fuel(caller, false);
    let state = caller.data();
    let (process, shared) = (state.process.clone(), state.shared.clone());
    // Negative: forever; 0: do not wait.
    let timeout_ns = u64::try_from(timeout_ms)
        .ok()
        .map(|ms| ms.saturating_mul(1_000_000));
    let (message, waited) = wait_for_message(&process, &shared, filter, timeout_ns).await;
    if waited {
        begin_new_quantum(caller);
    }
    match message {
        Some(msg) => {
            let len = msg.data.len() as i64;
            caller.data_mut().current = Some(msg);
            len
        }
        None => i64::from(status::TIMEOUT),
    }
}
