//! The message functions: send, receive (any, or by tag), and reading the current
//! message.

use shoal_abi::status;
use shoal_executor::SendError;
use shoal_proc::Message;
use wasmtime::{AsContextMut, Caller, Linker};

use super::memory::{guest_range, read_bytes};
use super::{HOST_MODULE, HostState, NS_PER_MS, pid_arg};
use crate::actor;
use crate::wasm::preempt::{begin_new_quantum, sync_fuel};

pub(super) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
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
            let data = read_bytes(&caller, "send", ptr, len)?;
            let state = caller.data();
            let Some(to) = pid_arg(pid) else {
                return Ok(status::NOPROC);
            };
            let message = Message::data(Some(state.process.pid()), tag as u64, data);
            Ok(send_status(crate::actor::send(
                &state.executor,
                &state.actors,
                to,
                message,
            )))
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
        "wait_node",
        |mut caller: Caller<'_, HostState>, (): ()| {
            Box::new(async move { wait_node(&mut caller).await })
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
            let (memory, range) = guest_range(&caller, "message_read", ptr, want)?;
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
    Ok(())
}

/// The status of a send.
pub(in crate::wasm) fn send_status(result: Result<(), SendError>) -> i32 {
    match result {
        Ok(()) => status::OK,
        Err(SendError::NoProc(_) | SendError::NoName(_)) => status::NOPROC,
        Err(SendError::MailboxFull { .. }) => status::MAILBOX_FULL,
        Err(SendError::NodeBacklog { .. }) => status::NODE_BUSY,
        Err(SendError::MemoryBudget(_)) => status::OVER_BUDGET,
        Err(SendError::TooLarge { .. }) => status::TOO_LARGE,
    }
}

/// `wait_node`: waits like a receive until the queue to other nodes has room again
/// (`OK`), or `TIMEOUT` after [`NODE_ROOM_WAIT`](crate::NODE_ROOM_WAIT).
async fn wait_node(caller: &mut Caller<'_, HostState>) -> i32 {
    sync_fuel(&*caller, false);
    let (executor, actors, process) = caller.data().owned_parts();
    let (room, waited) = actor::wait_node_room(&executor, &actors, &process).await;
    if waited {
        begin_new_quantum(&mut *caller);
    }
    if room { status::OK } else { status::TIMEOUT }
}

/// `receive` and `receive_tag`: takes the message into `current` and returns its length,
/// or `TIMEOUT`. A negative timeout waits forever; 0 does not wait.
async fn receive(caller: &mut Caller<'_, HostState>, filter: Option<u64>, timeout_ms: i64) -> i64 {
    match take_message(&mut *caller, filter, u64::try_from(timeout_ms).ok()).await {
        Some(msg) => {
            let len = msg.data.len() as i64;
            caller.data_mut().current = Some(msg);
            len
        }
        None => i64::from(status::TIMEOUT),
    }
}

/// Takes the oldest message (with tag `filter`, if given) from the caller's mailbox,
/// waiting up to `timeout_ms` (`None`: forever; 0: not at all) with no worker held; a
/// wait ends with a fresh quantum. Both ABIs' receives are this.
pub(in crate::wasm) async fn take_message(
    mut store: impl AsContextMut<Data = HostState>,
    filter: Option<u64>,
    timeout_ms: Option<u64>,
) -> Option<Message> {
    sync_fuel(&mut store, false);
    let state = store.as_context().data();
    let (process, executor) = (state.process.clone(), state.executor.clone());
    let timeout_ns = timeout_ms.map(|ms| ms.saturating_mul(NS_PER_MS));
    let (message, waited) = shoal_executor::receive(&process, &executor, filter, timeout_ns).await;
    if waited {
        begin_new_quantum(&mut store);
    }
    message
}
