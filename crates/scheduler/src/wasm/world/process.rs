//! The `process` interface: who am I, who spawned me, spawn, exit, panic.

use shoal_executor::Process;
use wasmtime::StoreContextMut;
use wasmtime::component::LinkerInstance;

use super::types::{Error, status_result};
use crate::actor::SpawnRelation;
use crate::wasm::host::HostState;
use crate::wasm::host::process::{spawn_child, spawn_status};
use crate::wasm::preempt::sync_fuel;
use crate::wasm::trap::{GuestExit, GuestPanic};

type Store<'a> = StoreContextMut<'a, HostState>;

pub(super) fn add(mut linker: LinkerInstance<'_, HostState>) -> wasmtime::Result<()> {
    linker.func_wrap("self", |store: Store<'_>, (): ()| {
        Ok((store.data().process.pid().to_bits(),))
    })?;

    linker.func_wrap("parent", |store: Store<'_>, (): ()| {
        Ok((store.data().process.parent.map(|p| p.to_bits()),))
    })?;

    linker.func_wrap("spawn", |store: Store<'_>, (entry, arg): (String, u64)| {
        Ok((spawn(&store, &entry, arg, |_| SpawnRelation::None),))
    })?;

    linker.func_wrap(
        "spawn-link",
        |store: Store<'_>, (entry, arg): (String, u64)| {
            Ok((spawn(&store, &entry, arg, |me| SpawnRelation::Link(me)),))
        },
    )?;

    linker.func_wrap(
        "spawn-monitor",
        |store: Store<'_>, (entry, arg): (String, u64)| {
            let reference = store.data().actors.make_ref();
            let pid = spawn(&store, &entry, arg, |me| {
                SpawnRelation::Monitor(me, reference)
            });
            Ok((pid.map(|pid| (pid, reference.to_bits())),))
        },
    )?;

    linker.func_wrap(
        "exit",
        |_store: Store<'_>, (code,): (i32,)| -> wasmtime::Result<()> {
            Err(wasmtime::Error::new(GuestExit(code)))
        },
    )?;

    linker.func_wrap(
        "panic",
        |_store: Store<'_>, (message,): (String,)| -> wasmtime::Result<()> {
            Err(wasmtime::Error::new(GuestPanic(message)))
        },
    )?;
    Ok(())
}

/// Spawns the caller's component's export `entry` with `arg`, tied to the caller as
/// `relation` says: the core ABI's spawn, with its refusals as `error`s.
fn spawn(
    store: &Store<'_>,
    entry: &str,
    arg: u64,
    relation: impl for<'a> FnOnce(&'a Process) -> SpawnRelation<'a>,
) -> Result<u64, Error> {
    sync_fuel(store, false);
    // The argument's bits pass through as the core ABI's `i64`.
    match spawn_child(store.data(), entry, arg as i64, relation) {
        Ok(child) => Ok(child.to_bits()),
        Err(refused) => Err(status_result(spawn_status(&refused))
            .err()
            .unwrap_or(Error::Refused)),
    }
}
