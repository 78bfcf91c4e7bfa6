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

use shoal_proc::{ExitKind, ExitReason, Message, Pid, Reference, RegisterError, SignalReason};
use wasmtime::{AsContextMut, Caller, Linker, Memory};

use crate::actor::Bind;
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
    "message_kind",
    "link",
    "unlink",
    "trap_exit",
    "exit_signal",
    "spawn_link",
    "spawn_monitor",
    "monitor",
    "demonitor",
    "alias",
    "unalias",
    "register",
    "unregister",
    "whereis",
    "send_name",
    "panic",
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
    /// `register`: the name is held by a live process.
    pub const NAME_TAKEN: i32 = -9;
    /// `register`: the process has a name already.
    pub const ALREADY_NAMED: i32 = -10;
    /// `exit_signal`: a reason kind that cannot be sent.
    pub const BAD_REASON: i32 = -11;
    /// A name that is empty, too long or not UTF-8.
    pub const BAD_NAME: i32 = -12;
}

/// Raised by `shoal.exit(code)`: unwinds the guest and ends it as `normal(code)`.
#[derive(Debug, thiserror::Error)]
#[error("guest called exit({0})")]
pub(crate) struct GuestExit(pub i32);

/// Raised by `shoal.panic`: ends the guest as `trap(panic: message)`.
#[derive(Debug, thiserror::Error)]
#[error("guest panicked: {0}")]
pub(crate) struct GuestPanic(pub String);

/// Raised by the epoch callback to end a running guest, and by a host call after which
/// the caller is killed (an exit signal to itself, a link to a dead pid).
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
    pub limits: crate::guest::GuestLimiter,
    /// Fuel the store started with: consumed = budget - remaining.
    pub fuel_budget: u64,
    /// Epoch ticks since the current slice began.
    pub ticks_in_slice: u64,
    /// The WASI context of a module that imports WASI, and its captured output (`wasi`).
    pub wasi: Option<Box<crate::wasi::WasiState>>,
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
    // WASI preview 1, async: only modules that import it call it, and each of those
    // processes has a context (`guest`), so the accessor's panic is unreachable; were it
    // reached, it would end that process as `host_error`, never the host.
    wasmtime_wasi::p1::add_to_linker_async(linker, |state: &mut HostState| {
        &mut state
            .wasi
            .as_deref_mut()
            .expect("a process of a WASI module has a WASI context")
            .ctx
    })?;
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
            spawn_bound(&caller, "spawn", name_ptr, name_len, arg, |_| Bind::None)
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
            let message = Message::data(Some(state.process.pid()), tag as u64, data);
            Ok(send_status(
                state.shared.send(Pid::from_bits(pid as u64), message),
            ))
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

    add_actor_functions(linker)?;
    Ok(())
}

/// Reads a name argument; `Err(BAD_NAME)` as a status if it is not a valid name.
fn read_name(
    caller: &Caller<'_, HostState>,
    function: &'static str,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Result<String, i32>> {
    let (memory, range) = guest_range(caller.data().memory, caller, function, ptr, len)?;
    Ok(match std::str::from_utf8(&memory.data(caller)[range]) {
        Ok(name) if shoal_proc::check_name(name).is_ok() => Ok(name.to_owned()),
        _ => Err(status::BAD_NAME),
    })
}

/// After a host call that may have killed the caller: unwind it now rather than at its
/// next quantum.
fn unless_killed(caller: &Caller<'_, HostState>) -> wasmtime::Result<()> {
    if caller.data().process.is_killed() {
        Err(wasmtime::Error::new(Interrupt::Killed))
    } else {
        Ok(())
    }
}

/// The status of a refused send.
fn send_status(result: Result<(), SendError>) -> i32 {
    match result {
        Ok(()) => status::OK,
        Err(SendError::NoProc(_) | SendError::NoName(_)) => status::NOPROC,
        Err(SendError::MailboxFull { .. }) => status::MAILBOX_FULL,
        Err(SendError::TooLarge { .. }) => status::TOO_LARGE,
    }
}

/// Spawns the export named at `(ptr, len)`, bound to the caller as `bind` says.
fn spawn_bound(
    caller: &Caller<'_, HostState>,
    function: &'static str,
    name_ptr: i32,
    name_len: i32,
    arg: i64,
    bind: impl for<'a> FnOnce(&'a Process) -> Bind<'a>,
) -> wasmtime::Result<i64> {
    sync_fuel(caller, false);
    let (memory, range) = guest_range(caller.data().memory, caller, function, name_ptr, name_len)?;
    let Ok(name) = std::str::from_utf8(&memory.data(caller)[range]) else {
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
            Some(&state.process),
            bind(&state.process),
        ) {
            Ok(child) => child.pid().to_bits() as i64,
            Err(e) => i64::from(crate::shared::spawn_status(&e)),
        },
    )
}

/// The exit-reason kind of `exit_signal`'s `kind` argument: the wire numbers of
/// docs/ABI.md, as `ExitKind::number` gives them.
fn signal_kind(kind: i32) -> Option<ExitKind> {
    ExitKind::from_number(u8::try_from(kind).ok()?)
}

/// The reason `exit_signal` sends, from its arguments; `None` for a kind that cannot be
/// sent (normal, kill, shutdown and custom can).
fn signal_reason(kind: ExitKind, code: i32, data: Vec<u8>) -> Option<SignalReason> {
    Some(match kind {
        ExitKind::Normal => SignalReason::Reason(ExitReason::Normal { code }),
        ExitKind::Killed => SignalReason::Kill,
        ExitKind::Shutdown => SignalReason::Reason(ExitReason::Shutdown),
        ExitKind::Custom => SignalReason::Reason(ExitReason::Custom { code, data }),
        _ => return None,
    })
}

/// The host functions of the actor model (docs/ABI.md, "Actors").
fn add_actor_functions(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        HOST_MODULE,
        "message_kind",
        |caller: Caller<'_, HostState>| -> i32 {
            caller
                .data()
                .current
                .as_ref()
                .map_or(status::NO_MESSAGE, |m| m.kind.number())
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "link",
        |caller: Caller<'_, HostState>, pid: i64| -> wasmtime::Result<i32> {
            let state = caller.data();
            state
                .shared
                .link(&state.process, Pid::from_bits(pid as u64));
            unless_killed(&caller)?;
            Ok(status::OK)
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "unlink",
        |caller: Caller<'_, HostState>, pid: i64| -> i32 {
            let state = caller.data();
            state
                .shared
                .unlink(&state.process, Pid::from_bits(pid as u64));
            status::OK
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "trap_exit",
        |caller: Caller<'_, HostState>, on: i32| -> i32 {
            i32::from(caller.data().process.core.set_trap_exit(on != 0))
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "exit_signal",
        |caller: Caller<'_, HostState>,
         pid: i64,
         kind: i32,
         code: i32,
         ptr: i32,
         len: i32|
         -> wasmtime::Result<i32> {
            sync_fuel(&caller, false);
            let Some(kind) = signal_kind(kind) else {
                return Ok(status::BAD_REASON);
            };
            let data = if kind == ExitKind::Custom {
                let (memory, range) =
                    guest_range(caller.data().memory, &caller, "exit_signal", ptr, len)?;
                memory.data(&caller)[range].to_vec()
            } else {
                Vec::new()
            };
            let Some(reason) = signal_reason(kind, code, data) else {
                return Ok(status::BAD_REASON);
            };
            let state = caller.data();
            let sent = state.shared.exit_signal(
                Some(state.process.pid()),
                Pid::from_bits(pid as u64),
                reason,
            );
            unless_killed(&caller)?;
            Ok(match sent {
                Ok(()) => status::OK,
                Err(_) => status::NOPROC,
            })
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "spawn_link",
        |caller: Caller<'_, HostState>,
         name_ptr: i32,
         name_len: i32,
         arg: i64|
         -> wasmtime::Result<i64> {
            spawn_bound(&caller, "spawn_link", name_ptr, name_len, arg, |p| {
                Bind::Link(p)
            })
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "spawn_monitor",
        |mut caller: Caller<'_, HostState>,
         name_ptr: i32,
         name_len: i32,
         arg: i64,
         ref_ptr: i32|
         -> wasmtime::Result<i64> {
            // Check the reference's range before anything is spawned.
            let (memory, range) =
                guest_range(caller.data().memory, &caller, "spawn_monitor", ref_ptr, 8)?;
            let reference = caller.data().shared.make_ref();
            let pid = spawn_bound(&caller, "spawn_monitor", name_ptr, name_len, arg, |p| {
                Bind::Monitor(p, reference)
            })?;
            if pid >= 0 {
                memory.data_mut(&mut caller)[range]
                    .copy_from_slice(&reference.to_bits().to_le_bytes());
            }
            Ok(pid)
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "monitor",
        |caller: Caller<'_, HostState>, pid: i64| -> i64 {
            let state = caller.data();
            state
                .shared
                .monitor(&state.process, Pid::from_bits(pid as u64))
                .to_bits() as i64
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "demonitor",
        |caller: Caller<'_, HostState>, reference: i64, flush: i32| -> i32 {
            let Some(reference) = Reference::from_bits(reference as u64) else {
                return 0;
            };
            let state = caller.data();
            i32::from(
                state
                    .shared
                    .demonitor(&state.process, reference, flush != 0),
            )
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "alias",
        |caller: Caller<'_, HostState>| -> i64 {
            let state = caller.data();
            let reference = state.shared.make_ref();
            state.process.core.mailbox.open_alias(reference);
            reference.to_bits() as i64
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "unalias",
        |caller: Caller<'_, HostState>, reference: i64| -> i32 {
            Reference::from_bits(reference as u64).map_or(0, |r| {
                i32::from(caller.data().process.core.mailbox.close_alias(r))
            })
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "register",
        |caller: Caller<'_, HostState>, ptr: i32, len: i32, pid: i64| -> wasmtime::Result<i32> {
            let name = match read_name(&caller, "register", ptr, len)? {
                Ok(name) => name,
                Err(status) => return Ok(status),
            };
            Ok(
                match caller
                    .data()
                    .shared
                    .register(&name, Pid::from_bits(pid as u64))
                {
                    Ok(()) => status::OK,
                    Err(RegisterError::NoProc(_)) => status::NOPROC,
                    Err(RegisterError::NameTaken { .. }) => status::NAME_TAKEN,
                    Err(RegisterError::AlreadyNamed { .. }) => status::ALREADY_NAMED,
                    Err(RegisterError::BadName(_)) => status::BAD_NAME,
                },
            )
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "unregister",
        |caller: Caller<'_, HostState>, ptr: i32, len: i32| -> wasmtime::Result<i32> {
            let name = match read_name(&caller, "unregister", ptr, len)? {
                Ok(name) => name,
                Err(status) => return Ok(status),
            };
            Ok(match caller.data().shared.unregister(&name) {
                Some(_) => status::OK,
                None => status::NOPROC,
            })
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "whereis",
        |caller: Caller<'_, HostState>, ptr: i32, len: i32| -> wasmtime::Result<i64> {
            let name = match read_name(&caller, "whereis", ptr, len)? {
                Ok(name) => name,
                Err(status) => return Ok(i64::from(status)),
            };
            Ok(caller
                .data()
                .shared
                .whereis(&name)
                .map_or(i64::from(status::NOPROC), |p| p.to_bits() as i64))
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "send_name",
        |caller: Caller<'_, HostState>,
         name_ptr: i32,
         name_len: i32,
         tag: i64,
         ptr: i32,
         len: i32|
         -> wasmtime::Result<i32> {
            sync_fuel(&caller, false);
            let name = match read_name(&caller, "send_name", name_ptr, name_len)? {
                Ok(name) => name,
                Err(status) => return Ok(status),
            };
            let (memory, range) =
                guest_range(caller.data().memory, &caller, "send_name", ptr, len)?;
            let data = memory.data(&caller)[range].to_vec();
            let state = caller.data();
            let message = Message::data(Some(state.process.pid()), tag as u64, data);
            Ok(send_status(state.shared.send_name(&name, message)))
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "panic",
        |caller: Caller<'_, HostState>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let (memory, range) = guest_range(caller.data().memory, &caller, "panic", ptr, len)?;
            let message = String::from_utf8_lossy(&memory.data(&caller)[range]).into_owned();
            Err(wasmtime::Error::new(GuestPanic(message)))
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
