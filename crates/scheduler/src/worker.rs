//! The loop each worker thread runs.
//!
//! A worker owns its local deque (in thread-local storage, so the schedule function can
//! reach it when a process running here wakes another). It takes the next process from
//! the queues (see `queue`), moves it to `Running`, polls it for one quantum, and does
//! the quantum's bookkeeping: accounting, virtual runtime, and in deterministic mode the
//! schedule hash and the virtual clock.
//!
//! Per quantum the hot path does: one pop, two state transitions (here and in the
//! schedule function), a few relaxed atomic adds, and one push. No lock, no allocation,
//! no logging.
//!
//! # Parking and shutdown
//! With nothing to run, a worker registers as parked, checks the queues once more, and
//! parks (see `queue` for why no wake-up is lost). In deterministic mode it first fires
//! due virtual timers, advancing the clock to the next one when nothing is runnable.
//! A worker exits when `stopping` is set and it finds no work; the runtime sets it only
//! after every process has exited.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_utils::sync::Parker;
use shoal_proc::State;

use crate::clock::NS_PER_FUEL;
use crate::queue::{LocalQueue, Source, Task};
use crate::shared::Shared;

thread_local! {
    /// The current worker's runtime id and local deque; `None` off worker threads.
    static LOCAL: RefCell<Option<(usize, LocalQueue)>> = const { RefCell::new(None) };
}

/// Calls `f` with the current thread's local deque if it is a worker of runtime
/// `runtime`, else with `None`.
pub(crate) fn with_local_queue<R>(runtime: usize, f: impl FnOnce(Option<&LocalQueue>) -> R) -> R {
    LOCAL.with(|cell| match cell.try_borrow() {
        Ok(local) => match &*local {
            Some((id, queue)) if *id == runtime => f(Some(queue)),
            _ => f(None),
        },
        Err(_) => f(None),
    })
}

/// Runs worker `index` until the runtime stops.
pub(crate) fn run(shared: Arc<Shared>, index: usize, local: LocalQueue, parker: Parker) {
    LOCAL.with(|cell| *cell.borrow_mut() = Some((shared.id, local)));
    {
        let mut started = shared.started.lock();
        while !*started {
            shared.started_cv.wait(&mut started);
        }
    }
    loop {
        let next = LOCAL.with(|cell| {
            let local = cell.borrow();
            let (_, queue) = local.as_ref().expect("set above");
            shared.queues.pop(index, queue)
        });
        if let Some((task, source)) = next {
            if source == Source::Stolen {
                shared.counters.steals[index].fetch_add(1, Ordering::Relaxed);
            }
            run_quantum(&shared, index, task);
            continue;
        }
        if shared.clock.is_virtual() {
            if let Some(when) = shared.timers.next_due() {
                shared.clock.advance_to(when);
                shared.timers.fire_due(shared.clock.now_ns());
                continue;
            }
        }
        if shared.stopping.load(Ordering::Acquire) {
            break;
        }
        shared.queues.prepare_park(index);
        if shared.queues.len() > 0 || shared.stopping.load(Ordering::SeqCst) {
            shared.queues.cancel_park(index);
            continue;
        }
        parker.park();
        shared.queues.cancel_park(index);
    }
    LOCAL.with(|cell| cell.borrow_mut().take());
}

fn run_quantum(shared: &Shared, index: usize, task: Task) {
    let process = task.metadata().clone();
    let start = shared.clock.now_ns();
    crate::process::expect_transition(
        process
            .core
            .state
            .transition_from(State::Runnable, State::Running, start),
        "a queued process is Runnable",
    );
    // Counted when it starts, so the exit's snapshot includes the final quantum.
    process.core.accounting.add_quantum();
    let quantum = process.core.accounting.quanta();
    let fuel_before = process.core.accounting.fuel();
    task.run();
    shared.counters.quanta[index].fetch_add(1, Ordering::Relaxed);

    let fuel_after = process.core.accounting.fuel();
    let cost = if shared.config.fuel_metering {
        fuel_after.saturating_sub(fuel_before)
    } else {
        shared.clock.now_ns().saturating_sub(start)
    };
    process.vruntime.fetch_add(cost, Ordering::Relaxed);
    shared.advance_virtual_time(cost);

    if let Some(hash) = &shared.schedule_hash {
        hash.lock()
            .record(process.pid().to_bits(), quantum, fuel_after);
        // Virtual time moves by the work done, at least 1 ns so a loop of empty quanta
        // still lets timers come due.
        shared
            .clock
            .advance_by(cost.saturating_mul(NS_PER_FUEL).max(1));
        shared.timers.fire_due(shared.clock.now_ns());
    }
}
