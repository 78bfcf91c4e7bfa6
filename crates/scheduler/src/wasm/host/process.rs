//! The process functions: who am I, who spawned me, spawn, exit, panic.

use shoal_abi::status;
use shoal_executor::Process;
use shoal_proc::Pid;
use wasmtime::{Caller, Linker};

use super::memory::guest_range;
use super::{HOST_MODULE, HostState};
use crate::actor::{self, SpawnRelation};
use crate::error::SpawnError;
use crate::wasm::SpawnOptions;
use crate::wasm::preempt::{begin_new_quantum, sync_fuel};
use crate::wasm::spawn::{SpawnSite, spawn_guest};
use crate::wasm::trap::{GuestExit, GuestPanic};

pub(super) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
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

    linker.func_wrap(
        HOST_MODULE,
        "exit",
        |_caller: Caller<'_, HostState>, code: i32| -> wasmtime::Result<()> {
            Err(wasmtime::Error::new(GuestExit(code)))
        },
    )?;

    linker.func_wrap(
        HOST_MODULE,
        "panic",
        |caller: Caller<'_, HostState>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let (memory, range) = guest_range(&caller, "panic", ptr, len)?;
            let message = String::from_utf8_lossy(&memory.data(&caller)[range]).into_owned();
            Err(wasmtime::Error::new(GuestPanic(message)))
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
            spawn_related(&caller, "spawn", name_ptr, name_len, arg, |_| {
                SpawnRelation::None
            })
        },
    )?;

    linker.func_wrap_async(
        HOST_MODULE,
        "spawn_on",
        |mut caller: Caller<'_, HostState>,
         (node, name_ptr, name_len, arg): (i32, i32, i32, i64)| {
            Box::new(async move { spawn_on(&mut caller, node, name_ptr, name_len, arg).await })
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
            spawn_related(&caller, "spawn_link", name_ptr, name_len, arg, |p| {
                SpawnRelation::Link(p)
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
            let (memory, range) = guest_range(&caller, "spawn_monitor", ref_ptr, 8)?;
            let reference = caller.data().actors.make_ref();
            let pid = spawn_related(&caller, "spawn_monitor", name_ptr, name_len, arg, |p| {
                SpawnRelation::Monitor(p, reference)
            })?;
            if pid >= 0 {
                memory.data_mut(&mut caller)[range]
                    .copy_from_slice(&reference.to_bits().to_le_bytes());
            }
            Ok(pid)
        },
    )?;
    Ok(())
}

/// Spawns the export named at `(ptr, len)` of the caller's module, with the runtime's
/// default limits, tied to the caller as `relation` says.
fn spawn_related(
    caller: &Caller<'_, HostState>,
    function: &'static str,
    name_ptr: i32,
    name_len: i32,
    arg: i64,
    relation: impl for<'a> FnOnce(&'a Process) -> SpawnRelation<'a>,
) -> wasmtime::Result<i64> {
    sync_fuel(caller, false);
    let (memory, range) = guest_range(caller, function, name_ptr, name_len)?;
    let Ok(name) = std::str::from_utf8(&memory.data(caller)[range]) else {
        return Ok(i64::from(status::BAD_EXPORT));
    };
    let name = name.to_owned();
    Ok(match spawn_child(caller.data(), &name, arg, relation) {
        Ok(child) => child.to_bits() as i64,
        Err(e) => i64::from(spawn_status(&e)),
    })
}

/// Spawns the export `name` of the caller's module (a core module's or a component's)
/// with `arg`, under the runtime's default limits, tied to the caller as `relation` says.
/// Both ABIs' spawns are this.
pub(in crate::wasm) fn spawn_child(
    state: &HostState,
    name: &str,
    arg: i64,
    relation: impl for<'a> FnOnce(&'a Process) -> SpawnRelation<'a>,
) -> Result<Pid, SpawnError> {
    let site = SpawnSite {
        executor: &state.executor,
        actors: &state.actors,
        parent: Some(&state.process),
        relation: relation(&state.process),
    };
    // No overrides: the child gets the runtime's defaults.
    spawn_guest(site, &state.module, name, arg, &SpawnOptions::default()).map(|child| child.pid())
}

/// `spawn_on`: the caller's module's export `name` on the node `node`, waiting like a
/// receive for the answer; the pid, `NOPROC` (no such node up), `REFUSED` or
/// `BAD_EXPORT` (a name that is not UTF-8).
async fn spawn_on(
    caller: &mut Caller<'_, HostState>,
    node: i32,
    name_ptr: i32,
    name_len: i32,
    arg: i64,
) -> wasmtime::Result<i64> {
    sync_fuel(&*caller, false);
    let (memory, range) = guest_range(caller, "spawn_on", name_ptr, name_len)?;
    let Ok(name) = std::str::from_utf8(&memory.data(&*caller)[range]) else {
        return Ok(i64::from(status::BAD_EXPORT));
    };
    let name = name.to_owned();
    let Some(node) = u16::try_from(node).ok().and_then(shoal_proc::NodeId::new) else {
        return Ok(i64::from(status::NOPROC));
    };
    let (executor, actors, process) = caller.data().owned_parts();
    if !actor::is_up(&actors, node) {
        return Ok(i64::from(status::NOPROC));
    }
    // A guest spawns under the node's defaults, as its local `spawn` does.
    let spawn = actor::RemoteSpawn {
        source: caller.data().module.source().clone(),
        export: name,
        arg,
        options: actor::RemoteSpawnOptions::default(),
    };
    let (result, waited) = actor::spawn_on(&executor, &actors, &process, node, spawn).await;
    if waited {
        begin_new_quantum(&mut *caller);
    }
    Ok(match result {
        Ok(pid) => pid.to_bits() as i64,
        Err(e) => i64::from(spawn_status(&e)),
    })
}

/// The guest status for a refused spawn (docs/ABI.md).
pub(in crate::wasm) fn spawn_status(error: &SpawnError) -> i32 {
    match error {
        SpawnError::Capacity { .. }
        | SpawnError::MappingBudget { .. }
        | SpawnError::MappingSetting { .. } => status::CAPACITY,
        // A guest spawns from its own module under the defaults it runs under itself,
        // so its child always fits; were it not to, it is a limit, as capacity is.
        SpawnError::ExceedsLimit { .. } => status::CAPACITY,
        SpawnError::MemoryBudget(_) => status::CAPACITY,
        SpawnError::MissingExport { .. } | SpawnError::WrongSignature { .. } => status::BAD_EXPORT,
        SpawnError::ShuttingDown => status::SHUTTING_DOWN,
        // Defaults were validated at build; a child takes the defaults. A WASI child's
        // stdio comes from the runtime's default config, which the host chose. A guest
        // spawns from its own module, which is never foreign.
        // A guest's child joins the guest's own group, which exists.
        SpawnError::Config { .. }
        | SpawnError::Wasi { .. }
        | SpawnError::ForeignModule
        | SpawnError::UnknownGroup(_) => status::BAD_EXPORT,
        SpawnError::Remote { .. } => status::REFUSED,
    }
}
