//! The `time` interface: the clock, sleeping, and yielding the worker.

use wasmtime::StoreContextMut;
use wasmtime::component::LinkerInstance;

use crate::wasm::host::HostState;
use crate::wasm::host::time::{sleep, yield_now};

type Store<'a> = StoreContextMut<'a, HostState>;

pub(super) fn add(mut linker: LinkerInstance<'_, HostState>) -> wasmtime::Result<()> {
    linker.func_wrap("now", |store: Store<'_>, (): ()| {
        Ok((store.data().executor.now_ns(),))
    })?;

    linker.func_wrap_async("sleep", |mut store: Store<'_>, (ms,): (u64,)| {
        Box::new(async move {
            sleep(&mut store, ms).await;
            Ok(())
        })
    })?;

    linker.func_wrap_async("yield", |mut store: Store<'_>, (): ()| {
        Box::new(async move {
            yield_now(&mut store).await;
            Ok(())
        })
    })?;
    Ok(())
}
