//! Running one guest: build its store, instantiate, call the entry, map the outcome.
//!
//! The order matters and is wasmtime's: fuel, the fuel yield interval and the epoch
//! deadline are set *before* `instantiate_async`, because a module's start function runs
//! compiled code and must be metered and preemptible like the rest.

use std::sync::Arc;

use shoal_proc::ExitReason;
use wasmtime::{ResourceLimiter, Store, StoreContextMut, UpdateDeadline};

use crate::config::Limits;
use crate::host::{HostState, Interrupt};
use crate::module::{Entry, EntryPoint, Module};
use crate::process::{GuestRun, Process, YieldCause, exit_reason_of};
use crate::shared::GuestSlot;
use crate::wasi::WasiState;

/// Table elements per process: enough for the function tables of modules compiled from
/// C or Rust with a few thousand address-taken functions, and a bound on the heap one
/// instance's tables can take (8 bytes an element).
const TABLE_ELEMENTS: usize = 10_000;

/// A guest's resource limits: one instance, one memory of at most `memory_size` bytes,
/// one table of at most [`TABLE_ELEMENTS`]. wasmtime's `StoreLimits` says the same in
/// 64 bytes, which every idle process would carry; this is 8.
pub(crate) struct GuestLimiter {
    memory_size: usize,
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.memory_size)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        1
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

/// The run of `call` as process `process`, as a future for its task. It holds the
/// guest's `slot` in the mapping budget until its store is gone.
pub(crate) fn run(
    slot: GuestSlot,
    process: Arc<Process>,
    module: Module,
    call: Call,
    limits: Limits,
    wasi: Option<Box<WasiState>>,
) -> GuestRun {
    // Only what the run needs is moved into its future, which lives as long as the
    // process: a whole `Limits` (with its WASI config) or an unboxed WASI context would
    // cost every idle process hundreds of bytes.
    let config = &slot.shared().config;
    let fuel_budget = match (config.fuel_metering, limits.fuel_limit) {
        (false, _) => 0,
        (true, Some(limit)) => limit,
        (true, None) => u64::MAX,
    };
    let memory_size = limits.max_memory.unwrap_or(config.max_memory);
    drop(limits);
    Box::pin(async move {
        let Call { entry, arg } = call;
        let shared = slot.shared().clone();
        // Declared first, so dropped last: after the store has returned its slots.
        let _slot = slot;
        let config = &shared.config;
        let state = HostState {
            process: process.clone(),
            shared: shared.clone(),
            module: module.clone(),
            memory: None,
            current: None,
            limits: GuestLimiter { memory_size },
            fuel_budget,
            ticks_in_slice: 0,
            wasi,
        };
        let mut store = Store::new(&shared.engine, state);
        store.limiter(|state| &mut state.limits);
        if config.fuel_metering {
            store.set_fuel(fuel_budget).expect("fuel metering is on");
        }
        if let Some(quantum) = config.preemption.fuel_quantum() {
            store
                .fuel_async_yield_interval(Some(quantum))
                .expect("fuel metering is on");
        }
        if let Some((_, slice_ticks)) = config.preemption.epoch() {
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(move |ctx| on_epoch(ctx, slice_ticks));
        }

        let outcome = call_entry(&mut store, &module, entry, arg).await;
        if config.fuel_metering
            && let Ok(remaining) = store.get_fuel()
        {
            process.sync_fuel(store.data().fuel_consumed(remaining), true);
        }
        let wasi = store.data_mut().wasi.take();
        drop(store);
        if let Some(output) = wasi.and_then(|mut w| w.captured.take()) {
            let _ = process.output.set(Arc::new(output));
        }
        match outcome {
            Ok(code) => ExitReason::Normal { code },
            Err(error) => exit_reason_of(error),
        }
    })
}

async fn call_entry(
    store: &mut Store<HostState>,
    module: &Module,
    point: EntryPoint,
    arg: i64,
) -> wasmtime::Result<i32> {
    let instance = module.instance_pre().instantiate_async(&mut *store).await?;
    let memory = instance.get_memory(&mut *store, "memory");
    store.data_mut().memory = memory;
    let func = instance
        .get_module_export(&mut *store, &point.export)
        .and_then(wasmtime::Extern::into_func)
        .ok_or_else(|| wasmtime::Error::msg("the entry export was resolved in another module"))?;
    Ok(match point.entry {
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
    })
}

/// The epoch callback, run at every tick while the guest runs (deadline 1 tick ahead).
///
/// It ends the guest if killed or past its deadline. Otherwise it yields when a woken
/// process is waiting (wake-up preemption: latency at most one tick), or when the slice
/// is spent and another runnable process is waiting. A lone process runs on.
fn on_epoch(
    mut ctx: StoreContextMut<'_, HostState>,
    slice_ticks: u64,
) -> wasmtime::Result<UpdateDeadline> {
    let state = ctx.data_mut();
    let ticks = state.ticks_in_slice + 1;
    let (process, shared) = (&state.process, &state.shared);
    if process.is_killed() {
        return Err(wasmtime::Error::new(Interrupt::Killed));
    }
    let now = shared.clock.now_ns();
    if process.deadline_passed(now) {
        return Err(wasmtime::Error::new(Interrupt::Deadline));
    }
    if shared.hint_clock {
        shared.timers.fire_if_due(now);
    }
    let queues = &shared.queues;
    let should_yield = queues.wake_pending() || (ticks >= slice_ticks && queues.run_pending());
    if !should_yield {
        state.ticks_in_slice = ticks;
        return Ok(UpdateDeadline::Continue(1));
    }
    // Fuel is read here but never set: compiled code keeps the fuel counter in a
    // register across the epoch check and writes it back only at calls and returns, so
    // the value read is as of the guest's last call (exact for a guest that calls
    // functions in its loops, stale for a loop without calls), and a value set here
    // would be overwritten. One read per slice, only with fuel metering.
    if shared.config.fuel_metering
        && let Ok(remaining) = ctx.get_fuel()
    {
        let state = ctx.data();
        state
            .process
            .sync_fuel(state.fuel_consumed(remaining), false);
    }
    let state = ctx.data_mut();
    let process = &state.process;
    process.set_yield_cause(YieldCause::Epoch);
    state.ticks_in_slice = 0;
    Ok(UpdateDeadline::Yield(1))
}
