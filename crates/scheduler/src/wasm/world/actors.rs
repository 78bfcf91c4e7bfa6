//! The `links`, `monitors` and `names` interfaces: each function is one of the actor
//! layer's operations on the caller's process, as in the core ABI's `actors` file.

use shoal_proc::{Charge, Message, OverBudget, Pid, Reference};
use wasmtime::StoreContextMut;
use wasmtime::component::LinkerInstance;

use super::types::{Error, Signal, status_result};
use crate::actor;
use crate::wasm::host::HostState;
use crate::wasm::host::actors::{
    MonitorOp, monitor_by, register_status, signal_from, unless_killed,
};
use crate::wasm::host::messages::send_status;
use crate::wasm::preempt::sync_fuel;

type Store<'a> = StoreContextMut<'a, HostState>;

pub(super) fn add_links(mut linker: LinkerInstance<'_, HostState>) -> wasmtime::Result<()> {
    linker.func_wrap("link", |store: Store<'_>, (to,): (u64,)| {
        let Some(other) = Pid::from_bits(to) else {
            return Ok((Err(Error::NoProc),));
        };
        let state = store.data();
        actor::link(&state.executor, &state.actors, &state.process, other);
        // A link to a dead process may have killed the caller: it ends now.
        unless_killed(&store)?;
        Ok((Ok(()),))
    })?;

    linker.func_wrap("unlink", |store: Store<'_>, (to,): (u64,)| {
        if let Some(other) = Pid::from_bits(to) {
            let state = store.data();
            actor::unlink(&state.executor, &state.actors, &state.process, other);
        }
        Ok(())
    })?;

    linker.func_wrap("trap-exit", |store: Store<'_>, (on,): (bool,)| {
        Ok((store.data().process.core.set_trap_exit(on),))
    })?;

    linker.func_wrap(
        "exit-signal",
        |store: Store<'_>, (to, reason): (u64, Signal)| {
            sync_fuel(&store, false);
            let Some(to) = Pid::from_bits(to) else {
                return Ok((Err(Error::NoProc),));
            };
            let sent = signal_from(&store, to, reason.into())?;
            Ok((sent.map_err(|_| Error::NoProc),))
        },
    )?;
    Ok(())
}

pub(super) fn add_monitors(mut linker: LinkerInstance<'_, HostState>) -> wasmtime::Result<()> {
    linker.func_wrap("monitor", |store: Store<'_>, (target,): (u64,)| {
        Ok((monitor(store.data(), target, actor::monitor),))
    })?;

    linker.func_wrap("monitor-alias", |store: Store<'_>, (target,): (u64,)| {
        Ok((monitor(store.data(), target, actor::monitor_alias),))
    })?;

    linker.func_wrap(
        "demonitor",
        |store: Store<'_>, (reference, flush): (u64, bool)| {
            let Some(reference) = Reference::from_bits(reference) else {
                return Ok((false,));
            };
            let state = store.data();
            Ok((actor::demonitor(
                &state.executor,
                &state.actors,
                &state.process,
                reference,
                flush,
            ),))
        },
    )?;

    linker.func_wrap("alias", |store: Store<'_>, (): ()| {
        let state = store.data();
        Ok((charged(actor::alias(
            &state.actors,
            &state.process,
            Charge::Refuse,
        )),))
    })?;

    linker.func_wrap("unalias", |store: Store<'_>, (reference,): (u64,)| {
        Ok((Reference::from_bits(reference)
            .is_some_and(|r| store.data().process.core.mailbox.close_alias(r)),))
    })?;
    Ok(())
}

pub(super) fn add_names(mut linker: LinkerInstance<'_, HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "register",
        |store: Store<'_>, (name, target): (String, u64)| {
            if shoal_proc::check_name(&name).is_err() {
                return Ok((Err(Error::BadName),));
            }
            let Some(target) = Pid::from_bits(target) else {
                return Ok((Err(Error::NoProc),));
            };
            let state = store.data();
            let registered = actor::register(&state.executor, &state.actors, &name, target);
            Ok((status_result(register_status(registered)),))
        },
    )?;

    linker.func_wrap("unregister", |store: Store<'_>, (name,): (String,)| {
        if shoal_proc::check_name(&name).is_err() {
            return Ok((Err(Error::BadName),));
        }
        let state = store.data();
        Ok((
            match actor::unregister(&state.executor, &state.actors, &name) {
                Some(_) => Ok(()),
                None => Err(Error::NoProc),
            },
        ))
    })?;

    linker.func_wrap("whereis", |store: Store<'_>, (name,): (String,)| {
        // A name that is not valid names no process.
        Ok((actor::whereis(&store.data().actors, &name).map(|p| p.to_bits()),))
    })?;

    linker.func_wrap(
        "send-name",
        |store: Store<'_>, (name, tag, data): (String, u64, Vec<u8>)| {
            sync_fuel(&store, false);
            if shoal_proc::check_name(&name).is_err() {
                return Ok((Err(Error::BadName),));
            }
            let state = store.data();
            let message = Message::data(Some(state.process.pid()), tag, data);
            let sent = actor::send_name_on(
                &state.executor,
                &state.actors,
                state.executor.node(),
                &name,
                message,
            );
            Ok((status_result(send_status(sent)),))
        },
    )?;
    Ok(())
}

/// `monitor` or `monitor-alias` of `target` by `op`.
fn monitor(state: &HostState, target: u64, op: MonitorOp) -> Result<u64, Error> {
    let Some(target) = Pid::from_bits(target) else {
        return Err(Error::NoProc);
    };
    charged(monitor_by(state, target, op))
}

/// A new reference as the world returns it: `over-budget` if the memory budget could not
/// take what it holds.
fn charged(reference: Result<Reference, OverBudget>) -> Result<u64, Error> {
    reference
        .map(|r| r.to_bits())
        .map_err(|OverBudget { .. }| Error::OverBudget)
}
