//! The actor functions (docs/ABI.md, "Actors"): links, trap-exits, exit signals,
//! monitors, aliases and names. Each is one of the actor layer's operations on the
//! caller's process.

use shoal_abi::status;
use shoal_executor::{Interrupt, NoProc};
use shoal_proc::{
    Charge, ExitKind, ExitReason, Message, NodeId, OverBudget, Pid, Reference, RegisterError,
    SignalReason,
};
use wasmtime::{AsContext, Caller, Linker};

use super::memory::{guest_range, read_bytes, read_name};
use super::messages::send_status;
use super::{HOST_MODULE, HostState, pid_arg};
use crate::actor;
use crate::wasm::preempt::sync_fuel;

pub(super) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        HOST_MODULE,
        "link",
        |caller: Caller<'_, HostState>, pid: i64| -> wasmtime::Result<i32> {
            let Some(other) = pid_arg(pid) else {
                return Ok(status::NOPROC);
            };
            let state = caller.data();
            actor::link(&state.executor, &state.actors, &state.process, other);
            unless_killed(&caller)?;
            Ok(status::OK)
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "unlink",
        |caller: Caller<'_, HostState>, pid: i64| -> i32 {
            let state = caller.data();
            if let Some(other) = pid_arg(pid) {
                actor::unlink(&state.executor, &state.actors, &state.process, other);
            }
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
                read_bytes(&caller, "exit_signal", ptr, len)?
            } else {
                Vec::new()
            };
            let Some(reason) = signal_reason(kind, code, data) else {
                return Ok(status::BAD_REASON);
            };
            let Some(to) = pid_arg(pid) else {
                return Ok(status::NOPROC);
            };
            Ok(match signal_from(&caller, to, reason)? {
                Ok(()) => status::OK,
                Err(_) => status::NOPROC,
            })
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "monitor",
        |caller: Caller<'_, HostState>, pid: i64| -> i64 {
            guest_monitor(&caller, pid, actor::monitor)
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "monitor_alias",
        |caller: Caller<'_, HostState>, pid: i64| -> i64 {
            guest_monitor(&caller, pid, actor::monitor_alias)
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "monitor_node",
        |caller: Caller<'_, HostState>, node: i32| -> i64 {
            let Some(node) = u16::try_from(node).ok().and_then(NodeId::new) else {
                return i64::from(status::NOPROC);
            };
            let state = caller.data();
            charged(actor::monitor_node(
                &state.executor,
                &state.actors,
                &state.process,
                node,
                Charge::Refuse,
            ))
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "nodes",
        |mut caller: Caller<'_, HostState>, ptr: i32, len: i32| -> wasmtime::Result<i32> {
            let nodes = actor::nodes(&caller.data().actors);
            let fit = usize::try_from(len).unwrap_or(0) / 2;
            let bytes: Vec<u8> = nodes
                .iter()
                .take(fit)
                .flat_map(|n| n.get().to_le_bytes())
                .collect();
            let (memory, range) = guest_range(&caller, "nodes", ptr, bytes.len() as i32)?;
            memory.data_mut(&mut caller)[range].copy_from_slice(&bytes);
            Ok(i32::try_from(nodes.len()).unwrap_or(i32::MAX))
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
            i32::from(actor::demonitor(
                &state.executor,
                &state.actors,
                &state.process,
                reference,
                flush != 0,
            ))
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "alias",
        |caller: Caller<'_, HostState>| -> i64 {
            let state = caller.data();
            charged(actor::alias(&state.actors, &state.process, Charge::Refuse))
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
            let Some(pid) = pid_arg(pid) else {
                return Ok(status::NOPROC);
            };
            let state = caller.data();
            Ok(register_status(actor::register(
                &state.executor,
                &state.actors,
                &name,
                pid,
            )))
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
            let state = caller.data();
            Ok(
                match actor::unregister(&state.executor, &state.actors, &name) {
                    Some(_) => status::OK,
                    None => status::NOPROC,
                },
            )
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
            Ok(actor::whereis(&caller.data().actors, &name)
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
            let node = caller.data().executor.node();
            send_name_on(
                &caller,
                "send_name",
                node,
                (name_ptr, name_len),
                tag,
                (ptr, len),
            )
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "send_name_on",
        |caller: Caller<'_, HostState>,
         node: i32,
         name_ptr: i32,
         name_len: i32,
         tag: i64,
         ptr: i32,
         len: i32|
         -> wasmtime::Result<i32> {
            let Some(node) = u16::try_from(node).ok().and_then(NodeId::new) else {
                sync_fuel(&caller, false);
                return Ok(status::NOPROC);
            };
            send_name_on(
                &caller,
                "send_name_on",
                node,
                (name_ptr, name_len),
                tag,
                (ptr, len),
            )
        },
    )?;
    Ok(())
}

/// `send_name` and `send_name_on`: the bytes at `data` with `tag` to the process
/// registered as the name at `name` on `node` (the caller's own for `send_name`).
fn send_name_on(
    caller: &Caller<'_, HostState>,
    function: &'static str,
    node: NodeId,
    (name_ptr, name_len): (i32, i32),
    tag: i64,
    (ptr, len): (i32, i32),
) -> wasmtime::Result<i32> {
    sync_fuel(caller, false);
    let name = match read_name(caller, function, name_ptr, name_len)? {
        Ok(name) => name,
        Err(status) => return Ok(status),
    };
    let data = read_bytes(caller, function, ptr, len)?;
    let state = caller.data();
    let message = Message::data(Some(state.process.pid()), tag as u64, data);
    Ok(send_status(actor::send_name_on(
        &state.executor,
        &state.actors,
        node,
        &name,
        message,
    )))
}

/// The status of a `register`.
pub(in crate::wasm) fn register_status(result: Result<(), RegisterError>) -> i32 {
    match result {
        Ok(()) => status::OK,
        Err(RegisterError::NoProc(_)) => status::NOPROC,
        Err(RegisterError::NameTaken { .. }) => status::NAME_TAKEN,
        Err(RegisterError::AlreadyNamed { .. }) => status::ALREADY_NAMED,
        Err(RegisterError::BadName(_)) => status::BAD_NAME,
    }
}

/// `exit_signal` from the caller to `to`. A signal that ended the caller (one to itself)
/// unwinds it now, as an error. Both ABIs' exit signals are this.
pub(in crate::wasm) fn signal_from(
    store: impl AsContext<Data = HostState>,
    to: Pid,
    reason: SignalReason,
) -> wasmtime::Result<Result<(), NoProc>> {
    let store = store.as_context();
    let state = store.data();
    let sent = actor::exit_signal(
        &state.executor,
        &state.actors,
        Some(state.process.pid()),
        to,
        reason,
    );
    unless_killed(&store)?;
    Ok(sent)
}

/// After a host call that may have killed the caller: unwind it now rather than at its
/// next quantum.
pub(in crate::wasm) fn unless_killed(
    store: impl AsContext<Data = HostState>,
) -> wasmtime::Result<()> {
    if store.as_context().data().process.is_killed() {
        Err(wasmtime::Error::new(Interrupt::Killed))
    } else {
        Ok(())
    }
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

/// An actor operation that monitors a process for `me` ([`actor::monitor`],
/// [`actor::monitor_alias`]).
pub(in crate::wasm) type MonitorOp = fn(
    &shoal_executor::Executor,
    &actor::Actors,
    &shoal_executor::Process,
    Pid,
    Charge,
) -> Result<Reference, OverBudget>;

/// The guest's `monitor` or `monitor_alias` of `pid` by `op`: its reference, `NOPROC`
/// for a value that is no pid, `OVER_BUDGET` past the memory budget.
fn guest_monitor(caller: &Caller<'_, HostState>, pid: i64, op: MonitorOp) -> i64 {
    let Some(target) = pid_arg(pid) else {
        return i64::from(status::NOPROC);
    };
    charged(monitor_by(caller.data(), target, op))
}

/// The caller's monitor of `target` by `op`, refused past the memory budget. Both ABIs'
/// monitors are this.
pub(in crate::wasm) fn monitor_by(
    state: &HostState,
    target: Pid,
    op: MonitorOp,
) -> Result<Reference, OverBudget> {
    op(
        &state.executor,
        &state.actors,
        &state.process,
        target,
        Charge::Refuse,
    )
}

/// A new reference as the guest sees it, or `OVER_BUDGET` if the memory budget could not
/// take what it holds.
fn charged(reference: Result<Reference, OverBudget>) -> i64 {
    reference.map_or(i64::from(status::OVER_BUDGET), |r| r.to_bits() as i64)
}
