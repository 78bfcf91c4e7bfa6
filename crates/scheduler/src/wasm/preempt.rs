//! Preemption of a running guest, as wasmtime sees it: the epoch callback, and fuel
//! across the waits of host calls.
//!
//! # Epochs
//! The engine's epoch deadline is one tick ahead, always; at each tick the callback asks
//! the executor what to do (`Executor::on_tick`: end now, yield, or run on) and carries it
//! out: an end is an `Interrupt` error that unwinds the guest, a yield is wasmtime's
//! `UpdateDeadline::Yield`.
//!
//! # Fuel
//! With fuel preemption the store yields every `quantum` units by itself
//! (`fuel_async_yield_interval`); the executor accounts for the quantum when it queues
//! the process. A host call reads the exact fuel consumed so far ([`sync_fuel`]) so that
//! accounting and the deterministic clock see it. After a wait the process is owed a
//! whole quantum and slice, having not run while it waited ([`begin_new_quantum`]).

use shoal_executor::Tick;
use wasmtime::{AsContext, AsContextMut, Store, StoreContextMut, UpdateDeadline};

use super::host::HostState;

/// Puts `store` under epoch preemption with slices of `slice_ticks` ticks.
pub(crate) fn install_epoch_callback(store: &mut Store<HostState>, slice_ticks: u64) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |ctx| on_epoch(ctx, slice_ticks));
}

/// The epoch callback, run at every tick while the guest runs (module docs).
fn on_epoch(
    mut ctx: StoreContextMut<'_, HostState>,
    slice_ticks: u64,
) -> wasmtime::Result<UpdateDeadline> {
    let state = ctx.data_mut();
    let ticks = state.ticks_in_slice + 1;
    if state.executor.config().preemption.min_tick().is_some() {
        // Adaptive ticks: this worker's timer follows the runnable count.
        super::tick_timer::adapt(state.executor.timer_period());
    }
    match state.executor.on_tick(&state.process, ticks, slice_ticks) {
        Tick::End(interrupt) => Err(wasmtime::Error::new(interrupt)),
        Tick::Continue => {
            state.ticks_in_slice = ticks;
            Ok(UpdateDeadline::Continue(1))
        }
        Tick::Yield => {
            state.ticks_in_slice = 0;
            // Fuel is read here but never set: compiled code keeps the fuel counter in a
            // register across the epoch check and writes it back only at calls and
            // returns, so the value read is as of the guest's last call (exact for a
            // guest that calls functions in its loops, stale for a loop without calls),
            // and a value set here would be overwritten. One read per slice, only with
            // fuel metering.
            if state.executor.config().fuel_metering
                && let Ok(remaining) = ctx.get_fuel()
            {
                let state = ctx.data();
                state
                    .process
                    .sync_fuel(state.fuel_consumed(remaining), false);
            }
            Ok(UpdateDeadline::Yield(1))
        }
    }
}

/// Syncs the exact fuel consumed into the process's accounting (a cheap read of the
/// store). `store` is a core host function's `Caller` or a component host function's
/// store.
pub(crate) fn sync_fuel(store: impl AsContext<Data = HostState>, new_quantum: bool) {
    let store = store.as_context();
    if let Ok(remaining) = store.get_fuel() {
        let state = store.data();
        state
            .process
            .sync_fuel(state.fuel_consumed(remaining), new_quantum);
    }
}

/// After a wait: start a fresh fuel quantum and epoch slice.
pub(crate) fn begin_new_quantum(mut store: impl AsContextMut<Data = HostState>) {
    let mut store = store.as_context_mut();
    let config = store.data().executor.config();
    let (fuel_quantum, fuel_metering, epochs) = (
        config.preemption.fuel_quantum().is_some(),
        config.fuel_metering,
        config.preemption.epoch().is_some(),
    );
    if fuel_quantum {
        if let Ok(remaining) = store.get_fuel() {
            // Re-setting the same amount re-injects a whole interval from the reserve.
            let _ = store.set_fuel(remaining);
            let state = store.data();
            state
                .process
                .sync_fuel(state.fuel_consumed(remaining), true);
        }
    } else if fuel_metering {
        sync_fuel(&store, false);
    }
    if epochs {
        store.set_epoch_deadline(1);
        store.data_mut().ticks_in_slice = 0;
    }
}
