//! The time functions: the clock, sleeping, and yielding the worker.

use wasmtime::{AsContextMut, Caller, Linker};

use super::{HOST_MODULE, HostState, NS_PER_MS};
use crate::wasm::preempt::{begin_new_quantum, sync_fuel};

pub(super) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(HOST_MODULE, "now", |caller: Caller<'_, HostState>| -> i64 {
        caller.data().executor.now_ns() as i64
    })?;

    linker.func_wrap_async(
        HOST_MODULE,
        "yield",
        |mut caller: Caller<'_, HostState>, (): ()| {
            Box::new(async move { yield_now(&mut caller).await })
        },
    )?;

    linker.func_wrap_async(
        HOST_MODULE,
        "sleep",
        |mut caller: Caller<'_, HostState>, (ms,): (i64,)| {
            Box::new(async move { sleep(&mut caller, u64::try_from(ms).unwrap_or(0)).await })
        },
    )?;
    Ok(())
}

/// `yield`: ends the caller's quantum; it runs again behind the other runnable processes,
/// with a fresh quantum.
pub(in crate::wasm) async fn yield_now(mut store: impl AsContextMut<Data = HostState>) {
    sync_fuel(&mut store, false);
    let process = store.as_context().data().process.clone();
    shoal_executor::yield_now(&process).await;
    begin_new_quantum(&mut store);
}

/// `sleep`: waits at least `ms` milliseconds on the runtime's clock, holding no worker;
/// 0 is a yield.
pub(in crate::wasm) async fn sleep(mut store: impl AsContextMut<Data = HostState>, ms: u64) {
    sync_fuel(&mut store, false);
    let state = store.as_context().data();
    let (process, executor) = (state.process.clone(), state.executor.clone());
    if ms == 0 {
        shoal_executor::yield_now(&process).await;
    } else {
        let when = executor
            .now_ns()
            .saturating_add(ms.saturating_mul(NS_PER_MS));
        shoal_executor::sleep_until(&process, &executor, when).await;
    }
    begin_new_quantum(&mut store);
}
