//! The schedule function of every process task: called when a process becomes runnable
//! (its first schedule, a wake-up, a preemption or a yield), it moves the process to
//! `Runnable`, picks its class and queues it.
//!
//! # Fair share: virtual time
//! Each process has a virtual runtime `v`: what it has consumed, in fuel when fuel is
//! metered and in nanoseconds otherwise. The executor keeps a virtual clock `V` that
//! advances, after each quantum, by the quantum's cost divided by the number of processes
//! competing for the workers: the pace at which a process that always runs would
//! accumulate `v` if the CPU were shared equally (weighted fair queueing's system virtual
//! time). A new process starts at `v = V`. A woken process is clamped to
//! `v ≥ V - credit` (a long sleep earns at most one quantum of credit, as in CFS) and
//! joins the wake class if `v ≤ V + slack`: it has had no more than its share.
//!
//! A process that yields is treated the same way, without the clamp (it never stopped
//! being runnable): if it has had at least a slice less than `V`'s pace, it has used
//! little of its share, and it joins the wake class, ahead of the CPU-bound processes
//! that used theirs; otherwise it goes to the back of the run FIFO. Processes that all
//! yield after similar work stay round-robin, and a yielder among thousands of hogs is
//! not charged a slice for each microsecond it runs.
//!
//! With thousands of CPU-bound processes a share is tiny (2 workers and 10,000 spinners
//! leave each 0.2 µs per millisecond), less than one wake-up's own cost, so the share
//! rule alone would turn every interactive process into a CPU-bound one and its wake-up
//! latency would grow with their number. A woken process therefore also joins the wake
//! class while it has run less than [`WAKE_BUDGET_NS`](crate::WAKE_BUDGET_NS) (10 ms) in
//! the current 100 ms period (see `process`): interactive processes stay interactive at
//! any scale, and a process that computes between messages loses its priority once it
//! has used the budget, until the CPU-bound processes have caught up.
//!
//! # Where a runnable process goes
//! A process preempted within its turn (its weight in quanta, see `process`) stays in
//! its worker's `turn` slot. Otherwise, see `queue` for the classes and `worker` for the
//! `next` slot: a yield with nothing
//! queued stays on its worker; a process woken by a worker goes to that worker's deque
//! in the wake class, and in the run class too when nothing at all is queued (it
//! overtakes no one, and the waker, usually about to block, runs it on the same core).
//! Everything else goes to a global queue.

use std::sync::atomic::Ordering;

use async_task::ScheduleInfo;
use shoal_proc::State;

use crate::executor::Executor;
use crate::process::{Process, YieldCause};
use crate::queue::{Class, Task};
use crate::task::expect_transition;
use crate::trace::{TraceKind, Track};
use crate::worker::{WorkerLocal, with_local};

impl Executor {
    /// The schedule function of every process task (module docs).
    pub(crate) fn schedule(&self, task: Task, info: ScheduleInfo) {
        let mut turn = false;
        // A yield from a process behind its share (module docs).
        let mut behind = false;
        let (class, now, woken) = {
            let process = task.metadata();
            let state = &process.core.state;
            match state.get() {
                State::Running => {
                    match process.take_yield_cause() {
                        YieldCause::Voluntary => {
                            process.core.accounting.add_voluntary_yield();
                            process.end_turn();
                            behind = self.behind(process);
                        }
                        // The slice was already `weight` slices long (`preempt`).
                        YieldCause::Epoch => {
                            process.core.accounting.add_preemption();
                            process.end_turn();
                        }
                        YieldCause::Fuel => {
                            process.core.accounting.add_preemption();
                            if let Some(q) = self.config.preemption.fuel_quantum() {
                                process.on_fuel_preemption(q);
                            }
                            turn = process.turn_continues();
                        }
                    }
                    // After the fuel accounting: the virtual clock moves by it.
                    let now = self.quantum_end_now(process);
                    expect_transition(
                        state.transition_from(State::Running, State::Runnable, now),
                        "only this worker moves a Running process",
                    );
                    (if behind { Class::Wake } else { Class::Run }, now, false)
                }
                waiting @ State::Waiting(_) => {
                    let now = self.clock.now_ns();
                    expect_transition(
                        state.transition_from(waiting, State::Runnable, now),
                        "a waiting process is scheduled once per wake",
                    );
                    self.trace_instant(TraceKind::Wake, process);
                    process.end_turn();
                    let class = if process.within_wake_budget(now) || self.eligible(process) {
                        Class::Wake
                    } else {
                        Class::Run
                    };
                    (class, now, true)
                }
                State::Spawning => {
                    let now = self.clock.now_ns();
                    expect_transition(
                        state.transition_from(State::Spawning, State::Runnable, now),
                        "a new process is scheduled once",
                    );
                    (Class::Run, now, false)
                }
                other => unreachable!(
                    "{} scheduled in state {other:?} (woken while running: {})",
                    process.pid(),
                    info.woken_while_running
                ),
            }
        };
        // A killed or expired process runs no more guest code; reap it at once rather
        // than after a round of the run FIFO.
        let class = if class == Class::Run && self.must_end(task.metadata()) {
            Class::Wake
        } else {
            class
        };
        with_local(self.id, |local| {
            if let Some(local) = local.filter(|_| !self.clock.is_virtual()) {
                local.now_hint.set(Some(now));
            }
            match local {
                // Its turn goes on: the worker runs it again next (see `worker`).
                Some(local) if turn => {
                    if let Some(previous) = local.turn.replace(Some(task)) {
                        self.push_global(previous, Class::Run);
                    }
                }
                _ => self.push(task, class, local, info, now, woken),
            }
        });
    }

    /// Queues a runnable process: the worker's `next` slot, its deque, or a global queue
    /// (module docs). Placing a process woken with more than its share on the waker's
    /// deque can delay a process woken onto the same deque just after it by one quantum.
    fn push(
        &self,
        task: Task,
        class: Class,
        local: Option<&WorkerLocal>,
        info: ScheduleInfo,
        now: u64,
        woken: bool,
    ) {
        match local {
            // A yield with nothing queued: keep it on this worker (see `worker`).
            Some(local)
                if class == Class::Run && info.woken_while_running && self.queues.len() == 0 =>
            {
                if let Some(previous) = local.next.replace(Some(task)) {
                    self.push_global(previous, Class::Run);
                }
            }
            Some(local) if class == Class::Wake || (woken && self.queues.len() == 0) => {
                self.queues.push_local(task, local.index, &local.queue, now)
            }
            _ => self.push_global(task, class),
        }
    }

    /// Queues `task` in `class` on a global queue: its group's FIFO for the run class.
    pub(crate) fn push_global(&self, task: Task, class: Class) {
        let group = task.metadata().group();
        self.queues.push(task, class, group);
    }

    fn must_end(&self, process: &Process) -> bool {
        process.is_killed()
            || (process.deadline_ns.is_some() && process.deadline_passed(self.clock.now_ns()))
    }

    /// The fair-share rule for a woken process (module docs).
    fn eligible(&self, process: &Process) -> bool {
        let vt = self.virtual_time.load(Ordering::Relaxed);
        let unit = self.config.quantum_cost();
        let floor = vt.saturating_sub(unit);
        let v = process
            .vruntime
            .fetch_max(floor, Ordering::Relaxed)
            .max(floor);
        v <= vt.saturating_add(unit)
    }

    /// The fair-share rule for a yielding process (module docs): whether it has had at
    /// least a slice less than the pace of `V`.
    fn behind(&self, process: &Process) -> bool {
        let vt = self.virtual_time.load(Ordering::Relaxed);
        let v = process.vruntime.load(Ordering::Relaxed);
        v.saturating_add(self.slice_cost()) <= vt
    }

    /// Cost units of one slice as it stands: the fuel quantum's (`quantum_cost`) when
    /// fuel is measured, and under adaptive preemption the current slice's nanoseconds.
    pub(crate) fn slice_cost(&self) -> u64 {
        match self.config.preemption.epoch() {
            Some((_, slice_ticks)) if !self.config.fuel_metering => {
                crate::clock::duration_ns(self.tick_period()).saturating_mul(slice_ticks)
            }
            _ => self.config.quantum_cost(),
        }
    }

    /// After a quantum that cost `cost` units: advance `V` by the cost shared among
    /// the processes that compete for the workers.
    pub(crate) fn advance_virtual_time(&self, cost: u64) {
        let competing = self.queues.len() as u64 + 1;
        self.virtual_time
            .fetch_add(cost / competing, Ordering::Relaxed);
    }

    /// The clock reading that ends the running quantum of `process`. With a virtual
    /// clock, time moves by the fuel the quantum consumed, at the moment it ends, so the
    /// transition out of `Running` is stamped after the work (and running time counts).
    pub(crate) fn quantum_end_now(&self, process: &Process) -> u64 {
        if self.clock.is_virtual() {
            with_local(self.id, |local| {
                if let Some(local) = local {
                    let (start, fuel_before) = local.quantum_start.get();
                    let spent = process.core.accounting.fuel().saturating_sub(fuel_before);
                    self.clock
                        .advance_to(start + spent.saturating_mul(crate::clock::NS_PER_FUEL));
                }
            });
        }
        self.clock.now_ns()
    }

    /// Records an instant in the trace, on the calling thread's track.
    #[inline]
    pub(crate) fn trace_instant(&self, kind: TraceKind, process: &Process) {
        if let Some(trace) = &self.trace {
            let track = with_local(self.id, |local| {
                local.map_or(Track::Other, |l| Track::Worker(l.index))
            });
            trace.instant(kind, process.pid(), track, self.clock.now_ns());
        }
    }
}
