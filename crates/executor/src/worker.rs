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
//! # A turn runs on
//! A process of weight `w` runs `w` quanta in a row (see `process`). Preempted before
//! its turn is over, it waits in the worker's `turn` slot, which the worker takes before
//! anything else but woken processes: those run first, and the turn resumes after them,
//! so weights do not cost wake-up latency and a wake-up does not cost a turn.
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
//!
//! # Hooks
//! A worker runs [`Hooks::worker_start`](crate::Hooks::worker_start) with its index
//! before anything else, and [`Hooks::worker_stop`](crate::Hooks::worker_stop) after its
//! last quantum (the wasm layer points the thread at its arena's hot slots and back).

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_utils::sync::Parker;
use shoal_proc::State;

use crate::clock::NS_PER_FUEL;
use crate::executor::Executor;
use crate::queue::{Class, LocalQueue, Source, Task};
use crate::task::expect_transition;

/// What a worker thread keeps in thread-local storage.
pub(crate) struct WorkerLocal {
    /// The executor this worker belongs to.
    executor: usize,
    /// This worker's index in its runtime.
    pub index: usize,
    /// This worker's deque of woken processes.
    pub queue: LocalQueue<Task>,
    /// A process that yielded with nothing queued behind it (see the module docs).
    pub next: Cell<Option<Task>>,
    /// A process preempted within its turn, which runs again next (see the module docs).
    pub turn: Cell<Option<Task>>,
    /// Clock and fuel when the current quantum began, for the virtual clock (see
    /// `Executor::quantum_end_now`).
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

/// Calls `f` with the current thread's worker state if it is a worker of executor
/// `executor`, else with `None`.
pub(crate) fn with_local<R>(executor: usize, f: impl FnOnce(Option<&WorkerLocal>) -> R) -> R {
    LOCAL.with(|cell| match cell.try_borrow() {
        Ok(local) => match &*local {
            Some(local) if local.executor == executor => f(Some(local)),
            _ => f(None),
        },
        Err(_) => f(None),
    })
}

/// Runs worker `index` until the executor stops.
pub(crate) fn run(executor: Arc<Executor>, index: usize, local: LocalQueue<Task>, parker: Parker) {
    LOCAL.with(|cell| {
        *cell.borrow_mut() = Some(WorkerLocal {
            executor: executor.id,
            index,
            queue: local,
            next: Cell::new(None),
            turn: Cell::new(None),
            now_hint: Cell::new(None),
            quantum_start: Cell::new((0, 0)),
        })
    });
    if let Some(hook) = &executor.hooks.worker_start {
        hook(index);
    }
    {
        let mut started = executor.started.lock();
        while !*started {
            executor.started_cv.wait(&mut started);
        }
    }
    // Whether the next pop may steal from another worker's deque (see `spin_for_work`).
    let mut steal = false;
    loop {
        let next = LOCAL.with(|cell| {
            let local = cell.borrow();
            let local = local.as_ref().expect("set above");
            if let Some(task) = local.turn.take() {
                // Woken processes still go first; the turn resumes after them.
                if executor.queues.wake_pending()
                    && let Some(woken) = executor.queues.pop_woken(index, &local.queue, false)
                {
                    local.turn.set(Some(task));
                    return Some(woken);
                }
                return Some((task, Source::Own));
            }
            if let Some(task) = local.next.take() {
                if executor.queues.len() == 0 {
                    return Some((task, Source::Own));
                }
                // Someone arrived while it ran: it goes behind them after all.
                executor.push_global(task, Class::Run);
            }
            // A busy worker steals too, once a woken process has waited out the delay in
            // another worker's deque: the wake class still goes before the run FIFO.
            let steal = steal
                || overdue_elsewhere(&executor, index, || {
                    local
                        .now_hint
                        .get()
                        .unwrap_or_else(|| executor.clock.now_ns())
                });
            executor.queues.pop(index, &local.queue, steal)
        });
        if let Some((task, source)) = next {
            steal = false;
            if source == Source::Stolen {
                bump(&executor.counters.steals[index]);
            }
            run_quantum(&executor, index, task);
            continue;
        }
        if executor.clock.is_virtual()
            && let Some(when) = executor.timers.next_due()
        {
            executor.clock.advance_to(when);
            executor.timers.fire_due(executor.clock.now_ns());
            continue;
        }
        if executor.stopping.load(Ordering::Acquire) {
            break;
        }
        match spin_for_work(&executor, index) {
            Spin::Take => continue,
            Spin::Steal => {
                steal = true;
                continue;
            }
            Spin::Nothing => {}
        }
        LOCAL.with(|cell| cell.borrow().as_ref().map(|l| l.now_hint.take()));
        executor.queues.prepare_park(index);
        if executor.queues.len() > 0 || executor.stopping.load(Ordering::SeqCst) {
            executor.queues.cancel_park(index);
            // Whatever is queued has waited out a whole spin: take it from anywhere.
            steal = true;
            continue;
        }
        parker.park();
        executor.queues.cancel_park(index);
    }
    LOCAL.with(|cell| cell.borrow_mut().take());
    if let Some(hook) = &executor.hooks.worker_stop {
        hook(index);
    }
}

fn run_quantum(executor: &Executor, index: usize, task: Task) {
    let process = task.metadata().clone();
    let hint = LOCAL.with(|cell| cell.borrow().as_ref().and_then(|l| l.now_hint.take()));
    let start = hint.unwrap_or_else(|| executor.clock.now_ns());
    expect_transition(
        process
            .core
            .state
            .transition_from(State::Runnable, State::Running, start),
        "a queued process is Runnable",
    );
    process.begin_slice(start);
    // Counted when it starts, so the exit's snapshot includes the final quantum.
    process.core.accounting.add_quantum();
    let quantum = process.core.accounting.quanta();
    let fuel_before = process.core.accounting.fuel();
    if executor.clock.is_virtual() {
        LOCAL.with(|cell| {
            if let Some(local) = cell.borrow().as_ref() {
                local.quantum_start.set((start, fuel_before));
            }
        });
    }
    task.run();
    bump(&executor.counters.quanta[index]);

    let fuel_after = process.core.accounting.fuel();
    // One clock reading ends this quantum and starts the next (see `now_hint`).
    let real_clock = !executor.clock.is_virtual();
    let end = if real_clock {
        LOCAL.with(|cell| {
            let local = cell.borrow();
            let hint = &local.as_ref().expect("on a worker").now_hint;
            hint.get().unwrap_or_else(|| {
                let now = executor.clock.now_ns();
                hint.set(Some(now));
                now
            })
        })
    } else {
        executor.clock.now_ns()
    };
    let cost = if executor.config.fuel_metering {
        fuel_after.saturating_sub(fuel_before)
    } else {
        // Time is charged up to two slices (see `MAX_CHARGED_SLICES`); a quantum shorter
        // than two of the shortest slices (most of them: a message handled, a wait)
        // is charged as it is, without reading the run queues' counts.
        let ran = end.saturating_sub(start);
        if ran
            <= executor
                .config
                .min_slice_cost()
                .saturating_mul(MAX_CHARGED_SLICES)
        {
            ran
        } else {
            ran.min(
                executor
                    .slice_cost()
                    .saturating_mul(MAX_CHARGED_SLICES * u64::from(process.weight())),
            )
        }
    };
    // A heavier process's virtual time runs slower (see `process`).
    process
        .vruntime
        .fetch_add(cost / u64::from(process.weight()), Ordering::Relaxed);
    process.charge_period(start, end);
    executor.advance_virtual_time(cost);
    executor.queues.run.charge(process.group(), cost);

    if let Some(trace) = &executor.trace {
        trace.quantum(index, process.pid(), start, end, process.core.state.get());
    }
    if real_clock {
        // Fire timers the timer thread may not have had a core for.
        executor.timers.fire_if_due(end);
    }
    if let Some(hash) = &executor.schedule_hash {
        // An exiting process's last quantum was recorded by `complete`, before its exit
        // became visible: whoever sees every exit sees the whole hash.
        if process.core.state.get() != State::Exited {
            hash.lock()
                .record(process.pid().to_bits(), quantum, fuel_after);
        }
        // Virtual time moves by the work done (the transition out of Running has
        // usually moved it there already: `advance_to` does not move it twice), and by
        // at least 1 ns, so that a loop of empty quanta still lets timers come due.
        executor
            .clock
            .advance_to(start + cost.saturating_mul(NS_PER_FUEL).max(1));
        executor.timers.fire_due(executor.clock.now_ns());
    }
}

/// Measured in time, a quantum is charged to virtual time as at most two slices (of its
/// weight). A preempted guest runs a slice and at most a late tick more; anything longer
/// is time its worker's thread spent off its core (the kernel ran something else), or a
/// lone process running on with nobody to yield to. Charging that in full would put a
/// process so far ahead of `V` that its yields and wake-ups would lose their priority
/// for thousands of rounds.
const MAX_CHARGED_SLICES: u64 = 2;

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
pub const STEAL_DELAY: Duration = Duration::from_micros(3);

/// Whether a woken process has waited [`STEAL_DELAY`] in a deque other than worker
/// `me`'s. Reads the clock (`now`) only when some woken process is queued at all.
fn overdue_elsewhere(executor: &Executor, me: usize, now: impl FnOnce() -> u64) -> bool {
    let queues = &executor.queues;
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
fn spin_for_work(executor: &Executor, me: usize) -> Spin {
    for _ in 0..SPIN_ROUNDS {
        if executor.queues.unowned_pending() {
            return Spin::Take;
        }
        // The real clock, not the hint: the spin is waiting for it to move.
        if overdue_elsewhere(executor, me, || executor.clock.now_ns()) {
            return Spin::Steal;
        }
        for _ in 0..SPINS_PER_ROUND {
            std::hint::spin_loop();
        }
    }
    Spin::Nothing
}
