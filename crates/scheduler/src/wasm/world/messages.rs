//! The `messages` interface: send, and receive (any, or by tag) a whole message.

use shoal_proc::{Message, Pid};
use wasmtime::StoreContextMut;
use wasmtime::component::LinkerInstance;

use super::types::{Error, Received, status_result};
use crate::actor;
use crate::wasm::host::HostState;
use crate::wasm::host::messages::{send_status, take_message};
use crate::wasm::preempt::sync_fuel;

type Store<'a> = StoreContextMut<'a, HostState>;

pub(super) fn add(mut linker: LinkerInstance<'_, HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "send",
        |store: Store<'_>, (to, tag, data): (u64, u64, Vec<u8>)| {
            sync_fuel(&store, false);
            Ok((send(store.data(), to, tag, data),))
        },
    )?;

    linker.func_wrap_async(
        "receive",
        |mut store: Store<'_>, (timeout_ms,): (Option<u64>,)| {
            Box::new(async move {
                let message = take_message(&mut store, None, timeout_ms).await;
                Ok((message.map(Received::from),))
            })
        },
    )?;

    linker.func_wrap_async(
        "receive-tag",
        |mut store: Store<'_>, (tag, timeout_ms): (u64, Option<u64>)| {
            Box::new(async move {
                let message = take_message(&mut store, Some(tag), timeout_ms).await;
                Ok((message.map(Received::from),))
            })
        },
    )?;
    Ok(())
}

/// `send`: `data` with `tag` to `to`, from the caller.
fn send(state: &HostState, to: u64, tag: u64, data: Vec<u8>) -> Result<(), Error> {
    let Some(to) = Pid::from_bits(to) else {
        return Err(Error::NoProc);
    };
    let message = Message::data(Some(state.process.pid()), tag, data);
    status_result(send_status(actor::send(
        &state.executor,
        &state.actors,
        to,
        message,
    )))
}
