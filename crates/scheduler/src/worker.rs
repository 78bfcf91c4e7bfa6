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
//! # A lone process runs on
//! When a process yields and nothing at all is queued, going through the global FIFO
//! would hand it straight back, at the cost of a push and a steal. The schedule function
//! then leaves it in this worker's `next` slot instead. Before running a process from
//! the slot the worker looks at the queues again; if anything arrived meanwhile, the
//! process goes to the back of the FIFO after all. So the slot never lets a process run
//! ahead of one that is waiting: it is not the LIFO slot of wasmtime #10667.
//!
//! # Stealing, after a delay
//! A worker takes new, preempted and externally woken processes at once, and woken
//! processes in another worker's deque only once they have been there for
//! [`STEAL_DELAY`] (see `queue`), by which time the waker has usually taken them itself.
//! Past the delay they go before the run FIFO, for a busy worker as for an idle one; an
//! idle worker spins for them before it parks.
//!
//! # Parking and shutdown
//! With nothing to run, a worker registers as parked, checks the queues once more, and
//! parks (see `queue` for why no wake-up is lost). In deterministic mode it first fires
//! due virtual timers, advancing the clock to the next one when nothing is runnable.
//! A worker exits when `stopping` is set and it finds no work; the runtime sets it only
//! after every process has exited.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_utils::sync::Parker;
use shoal_proc::State;

use crate::clock::NS_PER_FUEL;
use crate::queue::{Class, LocalQueue, Source, Task};
use crate::shared::Shared;

/// What a worker thread keeps in thread-local storage.
pub(crate) struct WorkerLocal {
    /// The runtime this worker belongs to.
    runtime: usize,
    /// This worker's index in its runtime.
    pub index: usize,
    /// This worker's deque of woken processes.
    pub queue: LocalQueue,
    /// A process that yielded with nothing queued behind it (see the module docs).
    pub next: Cell<Option<Task>>,
    /// Clock and fuel when the current quantum began, for the virtual clock (see
    /// `Shared::quantum_end_now`).
    pub quantum_start: Cell<(u64, u64)>,
    /// The real clock as the schedule function read it at the end of the last quantum:
    /// the next quantum starts a few queue operations later, so it reuses the reading
    /// instead of paying for a second one.
    pub now_hint: Cell<Option<u64>>,
}

thread_local! {
    /// The current worker's state; `None` off worker threads.
    static LOCAL: RefCell<Option<WorkerLocal>> = const { RefCell::new(None) };
}

/// Calls `f` with the current thread's worker state if it is a worker of runtime
/// `runtime`, else with `None`.
pub(crate) fn with_local<R>(runtime: usize, f: impl FnOnce(Option<&WorkerLocal>) -> R) -> R {
    LOCAL.with(|cell| match cell.try_borrow() {
        Ok(local) => match &*local {
            Some(local) if local.runtime == runtime => f(Some(local)),
            _ => f(None),
        },
        Err(_) => f(None),
    })
}

/// Runs worker `index` until the runtime stops.
pub(crate) fn run(shared: Arc<Shared>, index: usize, local: LocalQueue, parker: Parker) {
    LOCAL.with(|cell| {
        *cell.borrow_mut() = Some(WorkerLocal {
            runtime: shared.id,
            index,
            queue: local,
            next: Cell::new(None),
            now_hint: Cell::new(None),
            quantum_start: Cell::new((0, 0)),
        })
    });
    crate::arena::use_hot_cell(Some(index));
    {
        let mut started = shared.started.lock();
        while !*started {
            shared.started_cv.wait(&mut started);
        }
    }
    // Whether the next pop may steal from another worker's deque (see `spin_for_work`).
    let mut steal = false;
    loop {
        let next = LOCAL.with(|cell| {
            let local = cell.borrow();
            let local = local.as_ref().expect("set above");
            if let Some(task) = local.next.take() {
                if shared.queues.len() == 0 {
                    return Some((task, Source::Own));
                }
                // Someone arrived while it ran: it goes behind them after all.
                shared.queues.push(task, Class::Run);
            }
            // A busy worker steals too, once a woken process has waited out the delay in
            // another worker's deque: the wake class still goes before the run FIFO.
            let steal = steal
                || overdue_elsewhere(&shared, index, || {
                    local
                        .now_hint
                        .get()
                        .unwrap_or_else(|| shared.clock.now_ns())
                });
            shared.queues.pop(index, &local.queue, steal)
        });
        if let Some((task, source)) = next {
            steal = false;
            if source == Source::Stolen {
                bump(&shared.counters.steals[index]);
            }
            run_quantum(&shared, index, task);
            continue;
        }
        if shared.clock.is_virtual()
            && let Some(when) = shared.timers.next_due()
        {
            shared.clock.advance_to(when);
            shared.timers.fire_due(shared.clock.now_ns());
            continue;
        }
        if shared.stopping.load(Ordering::Acquire) {
            break;
        }
        match spin_for_work(&shared, index) {
            Spin::Take => continue,
            Spin::Steal => {
                steal = true;
                continue;
            }
            Spin::Nothing => {}
        }
        LOCAL.with(|cell| cell.borrow().as_ref().map(|l| l.now_hint.take()));
        shared.queues.prepare_park(index);
        if shared.queues.len() > 0 || shared.stopping.load(Ordering::SeqCst) {
            shared.queues.cancel_park(index);
            // Whatever is queued has waited out a whole spin: take it from anywhere.
            steal = true;
            continue;
        }
        parker.park();
        shared.queues.cancel_park(index);
    }
    LOCAL.with(|cell| cell.borrow_mut().take());
    crate::arena::use_hot_cell(None);
}

fn run_quantum(shared: &Shared, index: usize, task: Task) {
    let process = task.metadata().clone();
    let hint = LOCAL.with(|cell| cell.borrow().as_ref().and_then(|l| l.now_hint.take()));
    let start = hint.unwrap_or_else(|| shared.clock.now_ns());
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
    if shared.clock.is_virtual() {
        LOCAL.with(|cell| {
            if let Some(local) = cell.borrow().as_ref() {
                local.quantum_start.set((start, fuel_before));
            }
        });
    }
    task.run();
    bump(&shared.counters.quanta[index]);

    let fuel_after = process.core.accounting.fuel();
    // One clock reading ends this quantum and starts the next (see `now_hint`).
    let end = if shared.hint_clock {
        LOCAL.with(|cell| {
            let local = cell.borrow();
            let hint = &local.as_ref().expect("on a worker").now_hint;
            hint.get().unwrap_or_else(|| {
                let now = shared.clock.now_ns();
                hint.set(Some(now));
                now
            })
        })
    } else {
        shared.clock.now_ns()
    };
    let cost = if shared.config.fuel_metering {
        fuel_after.saturating_sub(fuel_before)
    } else {
        end.saturating_sub(start)
    };
    process.vruntime.fetch_add(cost, Ordering::Relaxed);
    process.charge_period(start, end);
    shared.advance_virtual_time(cost);

    if let Some(trace) = &shared.trace {
        trace.quantum(index, process.pid(), start, end, process.core.state.get());
    }
    if shared.hint_clock {
        // Real clock: fire timers the timer thread may not have had a core for.
        shared.timers.fire_if_due(end);
    }
    if let Some(hash) = &shared.schedule_hash {
        // An exiting process's last quantum was recorded by `complete`, before its exit
        // became visible: whoever sees every exit sees the whole hash.
        if process.core.state.get() != State::Exited {
            hash.lock()
                .record(process.pid().to_bits(), quantum, fuel_after);
        }
        // Virtual time moves by the work done (the transition out of Running has
        // usually moved it there already: `advance_to` does not move it twice), and by
        // at least 1 ns, so that a loop of empty quanta still lets timers come due.
        shared
            .clock
            .advance_to(start + cost.saturating_mul(NS_PER_FUEL).max(1));
        shared.timers.fire_due(shared.clock.now_ns());
    }
}

/// Adds one to a per-worker counter; only its worker writes it, so no locked add.
fn bump(counter: &std::sync::atomic::AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// Spins this many rounds looking for work before parking. Parking and unparking a
/// thread costs a futex round trip of several microseconds (more in a VM), which a
/// producer spawning or sending one message at a time would otherwise pay per message;
/// tokio and Go's schedulers spin for the same reason. About 10–30 µs of spinning.
const SPIN_ROUNDS: u32 = 64;

/// Relaxation hints per spin round.
const SPINS_PER_ROUND: u32 = 64;

/// How long an idle worker leaves a process woken into another worker's deque to that
/// worker: Go's scheduler waits 3 µs before it steals the process a running P has just
/// readied (`runqgrab`), for the same reason. A send and the receive after it take well
/// under a microsecond here, so the waker takes the woken process first.
pub(crate) const STEAL_DELAY: Duration = Duration::from_micros(3);

/// Whether a woken process has waited [`STEAL_DELAY`] in a deque other than worker
/// `me`'s. Reads the clock (`now`) only when some woken process is queued at all.
fn overdue_elsewhere(shared: &Shared, me: usize, now: impl FnOnce() -> u64) -> bool {
    let queues = &shared.queues;
    queues.wake_pending()
        && queues.overdue_elsewhere(me, now(), crate::clock::duration_ns(STEAL_DELAY))
}

/// What an idle worker found by spinning.
enum Spin {
    /// Work it may take without stealing.
    Take,
    /// Woken processes in other workers' deques, queued for [`STEAL_DELAY`] without
    /// their workers taking them.
    Steal,
    /// Nothing: time to park.
    Nothing,
}

/// Spins until there is work worker `me` may take, or gives up. Woken processes in other
/// workers' deques count once the oldest there has waited [`STEAL_DELAY`].
fn spin_for_work(shared: &Shared, me: usize) -> Spin {
    for _ in 0..SPIN_ROUNDS {
        if shared.queues.unowned_pending() {
            return Spin::Take;
        }
        // The real clock, not the hint: the spin is waiting for it to move.
        if overdue_elsewhere(shared, me, || shared.clock.now_ns()) {
            return Spin::Steal;
        }
        for _ in 0..SPINS_PER_ROUND {
            std::hint::spin_loop();
        }
    }
    Spin::Nothing
}
