//! Running one guest: build its store, instantiate, call the entry, map the outcome.
//!
//! The order matters and is wasmtime's: fuel, the fuel yield interval and the epoch
//! deadline are set *before* `instantiate_async`, because a module's start function runs
//! compiled code and must be metered and preemptible like the rest.
//!
//! The run is one future, the executor's `Run` for the process: its first poll builds the
//! store and instantiates; every later poll resumes the guest's fiber for one quantum.
//! When the guest returns, traps, runs out of fuel or is interrupted, the store is dropped
//! before the future is ready, so its memory and stack slots are back in the arenas
//! before the exit is published.

use std::sync::Arc;

use shoal_executor::{Executor, Process, Run};
use shoal_proc::{ExitReason, MemoryBudget, OverBudget};
use wasmtime::component::ComponentExportIndex;
use wasmtime::{ResourceLimiter, Store};

use super::GuestLimits;
use super::WASM_PAGE;
use super::host::HostState;
use super::module::{Entry, EntryPoint, Export, Kind, Module};
use super::spawn::GuestPermit;
use super::trap::exit_reason_of;
use super::wasi::WasiState;
use crate::actor::Actors;

/// A guest's resource limits and its linear memory's charge to the runtime's memory
/// budget: one instance, one memory of at most `memory_pages` wasm pages,
/// [`MAX_TABLES`](super::MAX_TABLES) tables of at most `table_elements` each.
/// wasmtime's `StoreLimits` says less in 64 bytes; this is 24.
///
/// # The charge
/// The limiter is made at spawn with the module's initial memory already charged
/// ([`charged`](Self::charged)), so that instantiation never fails for the budget: a
/// spawn the budget cannot take is refused instead. Each growth charges its new pages
/// first and fails (`memory.grow` returns -1) if the budget refuses them. Memories never
/// shrink, so the charge is the largest size reached, and dropping the limiter (with
/// the store, or with a run that never started) gives it all back.
pub(crate) struct GuestLimiter {
    memory_pages: u32,
    table_elements: u32,
    /// Pages charged to `budget`.
    charged_pages: u32,
    /// A component's store, which makes several core instances and their tables.
    component: bool,
    budget: Option<Arc<MemoryBudget>>,
}

impl GuestLimiter {
    /// Limits of `max_memory` bytes (rounded down to whole pages: growth is by pages, so
    /// the same memories fit) and `table_elements`, with `initial` bytes of memory
    /// charged to `budget` now.
    pub(crate) fn charged(
        budget: Option<&Arc<MemoryBudget>>,
        max_memory: usize,
        table_elements: u32,
        initial: u64,
    ) -> Result<GuestLimiter, OverBudget> {
        // At most 4 GiB (the builder's bound) is 65,536 pages.
        let pages =
            |bytes: u64| u32::try_from(bytes.div_ceil(WASM_PAGE as u64)).unwrap_or(u32::MAX);
        let charged_pages = pages(initial);
        if let Some(budget) = budget {
            budget.try_charge(charged_pages as usize * WASM_PAGE)?;
        }
        Ok(GuestLimiter {
            memory_pages: u32::try_from(max_memory / WASM_PAGE).unwrap_or(u32::MAX),
            table_elements,
            charged_pages,
            component: false,
            budget: budget.cloned(),
        })
    }

    /// The same limits for a component's store: up to
    /// [`MAX_COMPONENT_INSTANCES`](super::module::MAX_COMPONENT_INSTANCES) core instances
    /// and as many tables, still one memory.
    pub(crate) fn for_component(mut self) -> GuestLimiter {
        self.component = true;
        self
    }
}

impl Drop for GuestLimiter {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.release(self.charged_pages as usize * WASM_PAGE);
        }
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_pages as usize * WASM_PAGE {
            return Ok(false);
        }
        // Within `memory_pages`, so within u32.
        let pages = desired.div_ceil(WASM_PAGE) as u32;
        if pages > self.charged_pages {
            let more = (pages - self.charged_pages) as usize * WASM_PAGE;
            if let Some(budget) = &self.budget
                && budget.try_charge(more).is_err()
            {
                return Ok(false);
            }
            self.charged_pages = pages;
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements as usize)
    }

    fn instances(&self) -> usize {
        if self.component {
            super::module::MAX_COMPONENT_INSTANCES
        } else {
            1
        }
    }

    fn tables(&self) -> usize {
        if self.component {
            super::module::MAX_COMPONENT_INSTANCES
        } else {
            super::MAX_TABLES
        }
    }

    fn memories(&self) -> usize {
        1
    }
}

/// What a process calls: an entry export, with its argument.
pub(crate) struct Call {
    /// The export and its type.
    pub entry: EntryPoint,
    /// The argument, passed if the entry takes one.
    pub arg: i64,
}

/// Who runs the guest: the process, and the runtime's executor and actor state that its
/// host calls reach.
pub(crate) struct Runner {
    /// The process the store runs.
    pub process: Arc<Process>,
    /// The runtime's executor.
    pub executor: Arc<Executor>,
    /// The runtime's actor state.
    pub actors: Arc<Actors>,
}

/// The run of `call` as process `runner.process`, as the future of its task. It holds
/// the guest's `permit` in the mapping budget until its store is gone.
pub(crate) fn run(
    permit: GuestPermit,
    runner: Runner,
    module: Module,
    call: Call,
    limits: &GuestLimits,
    limiter: GuestLimiter,
    wasi: Option<Box<WasiState>>,
) -> impl Run {
    // Only what the run needs is moved into its future, which lives as long as the
    // process: the whole options (with a WASI config) or an unboxed WASI context would
    // cost every idle process hundreds of bytes.
    let fuel_metering = runner.executor.config().fuel_metering;
    let fuel_budget = match (fuel_metering, limits.fuel_limit) {
        (false, _) => 0,
        (true, Some(limit)) => limit,
        (true, None) => u64::MAX,
    };
    async move {
        let Call { entry, arg } = call;
        // Declared first, so dropped last: after the store has returned its slots.
        let _permit = permit;
        let Runner {
            process,
            executor,
            actors,
        } = runner;
        let preemption = executor.config().preemption;
        let state = HostState {
            process: process.clone(),
            executor,
            actors,
            module: module.clone(),
            memory: None,
            current: None,
            limits: limiter,
            fuel_budget,
            ticks_in_slice: 0,
            wasi,
        };
        let mut store = Store::new(&module.guests().engine, state);
        store.limiter(|state| &mut state.limits);
        if fuel_metering {
            store.set_fuel(fuel_budget).expect("fuel metering is on");
        }
        if let Some(quantum) = preemption.fuel_quantum() {
            store
                .fuel_async_yield_interval(Some(quantum))
                .expect("fuel metering is on");
        }
        if let Some((_, slice_ticks)) = preemption.epoch() {
            super::preempt::install_epoch_callback(&mut store, slice_ticks);
        }

        let outcome = call_entry(&mut store, &module, entry, arg).await;
        if fuel_metering && let Ok(remaining) = store.get_fuel() {
            process.sync_fuel(store.data().fuel_consumed(remaining), true);
        }
        let wasi = store.data_mut().wasi.take();
        drop(store);
        if let Some(output) = wasi.and_then(|mut w| w.captured.take()) {
            process.set_output(Arc::new(output));
        }
        match outcome {
            Ok(code) => ExitReason::Normal { code },
            Err(error) => exit_reason_of(error),
        }
    }
}

async fn call_entry(
    store: &mut Store<HostState>,
    module: &Module,
    point: EntryPoint,
    arg: i64,
) -> wasmtime::Result<i32> {
    match (module.kind(), point.export) {
        (Kind::Core(pre), Export::Core(export)) => {
            let instance = pre.instantiate_async(&mut *store).await?;
            let memory = instance.get_memory(&mut *store, "memory");
            store.data_mut().memory = memory;
            let func = instance
                .get_module_export(&mut *store, &export)
                .and_then(wasmtime::Extern::into_func)
                .ok_or_else(|| {
                    wasmtime::Error::msg("the entry export was resolved in another module")
                })?;
            call_core(store, func, point.entry, arg).await
        }
        (Kind::Component(component), Export::Command) => {
            let command = component.command.as_ref().ok_or_else(|| {
                wasmtime::Error::msg("a command entry was resolved in a component that is not one")
            })?;
            let command = command.instantiate_async(&mut *store).await?;
            // `exit(n)` ends the call with an error that `exit_reason_of` reads as
            // `normal(n)`, as preview 1's `proc_exit` does.
            Ok(match command.wasi_cli_run().call_run(&mut *store).await? {
                Ok(()) => 0,
                Err(()) => 1,
            })
        }
        (Kind::Component(component), Export::Component(export)) => {
            let instance = component.pre.instantiate_async(&mut *store).await?;
            call_actor(store, &instance, export, point.entry, arg).await
        }
        _ => Err(wasmtime::Error::msg(
            "the entry export was resolved in another kind of module",
        )),
    }
}

/// Calls a core module's entry `func` of type `entry`.
async fn call_core(
    store: &mut Store<HostState>,
    func: wasmtime::Func,
    entry: Entry,
    arg: i64,
) -> wasmtime::Result<i32> {
    Ok(match entry {
        Entry::Unit => {
            let f = func.typed::<(), ()>(&*store)?;
            f.call_async(&mut *store, ()).await?;
            0
        }
        Entry::Arg => {
            let f = func.typed::<i64, ()>(&*store)?;
            f.call_async(&mut *store, arg).await?;
            0
        }
        Entry::Code => {
            let f = func.typed::<(), i32>(&*store)?;
            f.call_async(&mut *store, ()).await?
        }
        Entry::ArgCode => {
            let f = func.typed::<i64, i32>(&*store)?;
            f.call_async(&mut *store, arg).await?
        }
        Entry::Command => {
            return Err(wasmtime::Error::msg(
                "a command entry was resolved in a core module",
            ));
        }
    })
}

/// Calls an actor component's root function `export` of type `entry`; the spawn
/// argument's bits are its `u64`.
async fn call_actor(
    store: &mut Store<HostState>,
    instance: &wasmtime::component::Instance,
    export: ComponentExportIndex,
    entry: Entry,
    arg: i64,
) -> wasmtime::Result<i32> {
    let arg = arg as u64;
    Ok(match entry {
        Entry::Unit => {
            let f = instance.get_typed_func::<(), ()>(&mut *store, &export)?;
            f.call_async(&mut *store, ()).await?;
            0
        }
        Entry::Arg => {
            let f = instance.get_typed_func::<(u64,), ()>(&mut *store, &export)?;
            f.call_async(&mut *store, (arg,)).await?;
            0
        }
        Entry::Code => {
            let f = instance.get_typed_func::<(), (i32,)>(&mut *store, &export)?;
            f.call_async(&mut *store, ()).await?.0
        }
        Entry::ArgCode => {
            let f = instance.get_typed_func::<(u64,), (i32,)>(&mut *store, &export)?;
            f.call_async(&mut *store, (arg,)).await?.0
        }
        Entry::Command => {
            return Err(wasmtime::Error::msg(
                "a command entry was resolved as an actor's",
            ));
        }
    })
}
