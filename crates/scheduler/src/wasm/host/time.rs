//! The time functions: the clock, sleeping, and yielding the worker.

use wasmtime::{Caller, Linker};

use super::{HOST_MODULE, HostState};
use crate::wasm::preempt::{begin_new_quantum, sync_fuel};

/// Nanoseconds in a millisecond, the unit of `sleep`.
const NS_PER_MS: u64 = 1_000_000;

pub(super) fn add(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(HOST_MODULE, "now", |caller: Caller<'_, HostState>| -> i64 {
        caller.data().executor.now_ns() as i64
    })?;

    linker.func_wrap_async(
        HOST_MODULE,
        "yield",
        |mut caller: Caller<'_, HostState>, (): ()| {
            Box::new(async move {
                sync_fuel(&caller, false);
                shoal_executor::yield_now(&caller.data().process).await;
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
                let (process, executor) = (state.process.clone(), state.executor.clone());
                if ms <= 0 {
                    shoal_executor::yield_now(&process).await;
                } else {
                    let when = executor
                        .now_ns()
                        .saturating_add((ms as u64).saturating_mul(NS_PER_MS));
                    shoal_executor::sleep_until(&process, &executor, when).await;
                }
                begin_new_quantum(&mut caller);
            })
        },
    )?;
    Ok(())
}
