//! A process as the executor sees it: the `proc` core (pid, state, accounting, mailbox,
//! relations, exit) plus what scheduling needs: the kill flag and its reason, the
//! deadline, fuel accounting across quanta, the virtual runtime, the wake budget and the
//! weight.
//!
//! # Weight and turns
//! A process of weight `w` gets `w` quanta (fuel) or `w` slices (epochs) per turn before
//! it goes to the back of the run FIFO: weighted round-robin, so over a round every
//! CPU-bound process gets CPU in proportion to its weight, exactly so under fuel. Its
//! virtual runtime grows by its cost divided by its weight, so a heavier process keeps
//! its wake priority for proportionally more CPU. A turn ends early when the process
//! waits or yields; its next turn is whole again.
//!
//! # Kill and deadline
//! Both are checked at the top of every poll (`task`), before the process runs: a killed
//! or expired process never runs another instruction. A kill carries its reason: `killed`
//! from the host or an untrappable `kill`, or the reason of an exit signal the process did
//! not trap (a linked process's trap, say), which it then ends with and passes on. A task
//! dropped before it finished records `killed` too, so every process that was spawned has
//! an exit. A running guest is reached at its next epoch tick (`preempt`) or fuel yield;
//! a waiting one is woken by [`Process::kill`] or by its deadline timer.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use futures::task::AtomicWaker;

use shoal_proc::{Bound, CapturedOutput, ExitReason, MemoryBudget, Pid, ProcessCore};

use crate::config::{DEFAULT_MAILBOX_BYTES, ProcessOptions};

/// The period over which a process's running time decides whether its wake-ups are
/// served first: 100 ms, long enough to average over many short bursts, short enough
/// that a process that turns interactive again regains its priority quickly.
pub const WAKE_PERIOD_NS: u64 = 100_000_000;

/// Running time per period under which a woken process is served ahead of CPU-bound
/// ones, whatever its fair share: 10 ms, 10% of one worker. A process that waits
/// between short bursts stays well under it however many CPU-bound processes there are;
/// one that games it by sleeping briefly between long computations gets at most this
/// much priority time per period (a bound in the spirit of Linux's RT throttling), and
/// is then scheduled like the CPU-bound processes it resembles.
pub const WAKE_BUDGET_NS: u64 = 10_000_000;

/// Why a running process last gave up the worker without blocking.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum YieldCause {
    /// Its fuel quantum ran out (wasmtime's `fuel_async_yield_interval`).
    Fuel = 0,
    /// The guest called `shoal.yield`.
    Voluntary = 1,
    /// The epoch callback ended its slice.
    Epoch = 2,
}

/// A process: the `proc` core (pid, state, accounting, mailbox, exit) and the
/// executor's own fields.
pub struct Process {
    /// Pid, lifecycle state, accounting, mailbox and exit slot.
    pub core: ProcessCore,
    /// Set by `kill`; checked at every poll and by the epoch callback. Never unset.
    killed: AtomicBool,
    /// The reason the process is killed with: `killed` by the host, or the reason of an
    /// exit signal it did not trap. Set once, before `killed`; the first one wins.
    kill_reason: OnceLock<Box<ExitReason>>,
    /// Clock reading (ns) at which the process ends as `deadline`.
    pub(crate) deadline_ns: Option<u64>,
    /// Whether a send that finds its mailbox at its bound ends the process with
    /// `mailbox_overflow` instead of being refused (`ProcessOptions::kill_on_full_mailbox`).
    pub(crate) kill_on_full_mailbox: bool,
    /// The process that spawned it; `None` when host code did.
    pub parent: Option<Pid>,
    /// Cancels the deadline timer once the process has exited.
    pub(crate) deadline_timer: Arc<AtomicBool>,
    /// Its captured stdout and stderr, set by a WASI guest's run as it ends.
    output: OnceLock<Arc<CapturedOutput>>,
    /// What caused the current yield; read and reset by the schedule function.
    yield_cause: AtomicU8,
    /// Fuel consumed when the current fuel quantum began, to attribute a fuel
    /// preemption's quantum exactly in the count (see `on_fuel_preemption`).
    quantum_start_fuel: AtomicU64,
    /// Virtual runtime: fuel consumed (with fuel metering) or nanoseconds run (without).
    /// Decides whether a woken process may skip ahead of CPU-bound ones.
    pub(crate) vruntime: AtomicU64,
    /// The wake-budget period (clock / `WAKE_PERIOD_NS`) that `period_run_ns` counts.
    period: AtomicU64,
    /// Nanoseconds run in `period`. Written only by the worker running the process.
    period_run_ns: AtomicU64,
    /// Its weight, 1 to `MAX_WEIGHT` (module docs).
    weight: AtomicU32,
    /// Quanta of the current turn it has run; written only by the worker running it.
    turn_quanta: AtomicU32,
    /// The group it shares CPU in.
    group: crate::GroupId,
    /// Clock reading (ns) at which its current quantum began; written by its worker.
    slice_start: AtomicU64,
    /// The worker thread's CPU time (ns) when the current quantum began, as estimated at
    /// its first tick; 0 until then (see `preempt`).
    slice_cpu_base: AtomicU64,
    /// Adaptive slices: time (ns) it is owed (positive) or owes (negative) from its
    /// earlier slices, which ended at a tick rather than exactly on time (see `preempt`).
    credit: AtomicI64,
    /// The task's own waker, to wake a waiting process when it is killed. Taken out at
    /// exit: the task holds the process as metadata, so a waker left here would keep
    /// the task, the process and the whole runtime alive in a cycle.
    pub(crate) task_waker: AtomicWaker,
}

impl Process {
    pub(crate) fn new(
        pid: Pid,
        parent: Option<Pid>,
        options: &ProcessOptions,
        budget: Option<&Arc<MemoryBudget>>,
        now_ns: u64,
        vruntime: u64,
    ) -> Self {
        Process {
            parent,
            core: ProcessCore::with_budget(
                pid,
                Bound {
                    messages: options.mailbox_bound,
                    bytes: Some(options.mailbox_bytes.unwrap_or(DEFAULT_MAILBOX_BYTES)),
                },
                budget.cloned(),
                now_ns,
                std::time::Instant::now(),
            ),
            killed: AtomicBool::new(false),
            kill_reason: OnceLock::new(),
            deadline_ns: options
                .deadline
                .map(|d| now_ns.saturating_add(crate::clock::duration_ns(d))),
            kill_on_full_mailbox: options.kill_on_full_mailbox.unwrap_or(false),
            deadline_timer: Arc::new(AtomicBool::new(false)),
            output: OnceLock::new(),
            yield_cause: AtomicU8::new(YieldCause::Fuel as u8),
            quantum_start_fuel: AtomicU64::new(0),
            vruntime: AtomicU64::new(vruntime),
            period: AtomicU64::new(0),
            period_run_ns: AtomicU64::new(0),
            weight: AtomicU32::new(options.weight.unwrap_or(1).max(1)),
            turn_quanta: AtomicU32::new(0),
            group: options.group.unwrap_or_default(),
            slice_start: AtomicU64::new(now_ns),
            slice_cpu_base: AtomicU64::new(0),
            credit: AtomicI64::new(0),
            task_waker: AtomicWaker::new(),
        }
    }

    /// Its pid.
    pub fn pid(&self) -> Pid {
        self.core.pid
    }

    /// Requests that the process end as `killed`. A waiting process is woken so it ends
    /// at once; a running one stops at its next tick or quantum.
    pub fn kill(&self) {
        self.kill_with(ExitReason::Killed);
    }

    /// Requests that the process end with `reason` (an exit signal it does not trap), as
    /// [`kill`](Self::kill) does. The first reason asked for is the one it ends with.
    pub fn kill_with(&self, reason: ExitReason) {
        let _ = self.kill_reason.set(Box::new(reason));
        if !self.killed.swap(true, Ordering::AcqRel) {
            self.task_waker.wake();
        }
    }

    /// The reason a killed process ends with.
    pub fn kill_reason(&self) -> ExitReason {
        self.kill_reason
            .get()
            .map_or(ExitReason::Killed, |r| (**r).clone())
    }

    /// Whether the process was asked to end (by a kill or an exit signal).
    #[inline]
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Whether its deadline, if it has one, has passed at clock reading `now_ns`.
    #[inline]
    pub fn deadline_passed(&self, now_ns: u64) -> bool {
        self.deadline_ns.is_some_and(|d| now_ns >= d)
    }

    /// The group it shares CPU in.
    #[inline]
    pub fn group(&self) -> crate::GroupId {
        self.group
    }

    /// Its weight (module docs).
    #[inline]
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    /// Changes its weight from its next quantum on. The caller checks the weight
    /// ([`check_weight`](crate::check_weight)); 0 is taken as 1.
    pub fn set_weight(&self, weight: u32) {
        self.weight.store(weight.max(1), Ordering::Relaxed);
    }

    /// At a preemption: whether its turn goes on for another quantum (it has run fewer
    /// than its weight in a row), counting this one. When the turn is over, the count
    /// starts again for the next.
    #[must_use = "a turn that goes on keeps the worker"]
    pub(crate) fn turn_continues(&self) -> bool {
        let ran = self.turn_quanta.load(Ordering::Relaxed) + 1;
        if ran < self.weight() {
            self.turn_quanta.store(ran, Ordering::Relaxed);
            true
        } else {
            self.turn_quanta.store(0, Ordering::Relaxed);
            false
        }
    }

    /// The process waited or yielded: its next turn is a whole one, and time it was
    /// owed lapses (a debt stands).
    pub(crate) fn end_turn(&self) {
        self.turn_quanta.store(0, Ordering::Relaxed);
        if self.credit.load(Ordering::Relaxed) > 0 {
            self.credit.store(0, Ordering::Relaxed);
        }
    }

    /// Its quantum begins at clock reading `now`.
    #[inline]
    pub(crate) fn begin_slice(&self, now: u64) {
        self.slice_start.store(now, Ordering::Relaxed);
        self.slice_cpu_base.store(0, Ordering::Relaxed);
    }

    /// CPU time the current quantum has run, given the worker thread's CPU time `cpu`
    /// and the clock `now`. The first call of a quantum takes the quantum's start as
    /// `now - slice_start` of CPU ago (the thread rarely loses its core that soon); later
    /// calls measure from there, so time the thread spent off its core is not counted.
    pub(crate) fn slice_cpu(&self, cpu: u64, now: u64) -> u64 {
        let base = self.slice_cpu_base.load(Ordering::Relaxed);
        if base == 0 {
            let ran = now.saturating_sub(self.slice_start());
            self.slice_cpu_base
                .store(cpu.saturating_sub(ran).max(1), Ordering::Relaxed);
            ran
        } else {
            cpu.saturating_sub(base)
        }
    }

    /// When its current quantum began.
    #[inline]
    pub(crate) fn slice_start(&self) -> u64 {
        self.slice_start.load(Ordering::Relaxed)
    }

    /// Time it is owed (positive) or owes (negative), ns.
    #[inline]
    pub(crate) fn credit(&self) -> i64 {
        self.credit.load(Ordering::Relaxed)
    }

    pub(crate) fn set_credit(&self, credit: i64) {
        self.credit.store(credit, Ordering::Relaxed);
    }

    pub(crate) fn set_yield_cause(&self, cause: YieldCause) {
        self.yield_cause.store(cause as u8, Ordering::Relaxed);
    }

    /// Charges a quantum that ran from `start` to `end` (clock ns) to the wake budget of
    /// the period it ended in.
    pub(crate) fn charge_period(&self, start: u64, end: u64) {
        let period = end / WAKE_PERIOD_NS;
        let ran = end.saturating_sub(start);
        if self.period.load(Ordering::Relaxed) == period {
            let total = self.period_run_ns.load(Ordering::Relaxed) + ran;
            self.period_run_ns.store(total, Ordering::Relaxed);
        } else {
            self.period_run_ns.store(ran, Ordering::Relaxed);
            self.period.store(period, Ordering::Relaxed);
        }
    }

    /// Whether the process has run at most `WAKE_BUDGET_NS` in the current period: a
    /// process that mostly waits, whose wake-ups go ahead of CPU-bound work.
    pub(crate) fn within_wake_budget(&self, now: u64) -> bool {
        self.period.load(Ordering::Relaxed) != now / WAKE_PERIOD_NS
            || self.period_run_ns.load(Ordering::Relaxed) <= WAKE_BUDGET_NS
    }

    /// Whether the process asked to yield in this quantum (and so is not waiting).
    pub(crate) fn yield_pending(&self) -> bool {
        self.yield_cause.load(Ordering::Relaxed) == YieldCause::Voluntary as u8
    }

    /// Reads and resets the cause of the current yield (default: fuel).
    pub(crate) fn take_yield_cause(&self) -> YieldCause {
        match self
            .yield_cause
            .swap(YieldCause::Fuel as u8, Ordering::Relaxed)
        {
            1 => YieldCause::Voluntary,
            2 => YieldCause::Epoch,
            _ => YieldCause::Fuel,
        }
    }

    /// Records the exact fuel consumed so far, read from the store by a host call, the
    /// epoch callback or the exit. `new_quantum` says the store's quantum was restarted.
    pub fn sync_fuel(&self, consumed: u64, new_quantum: bool) {
        self.core.accounting.set_fuel(consumed);
        if new_quantum {
            self.quantum_start_fuel.store(consumed, Ordering::Relaxed);
        }
    }

    /// A fuel preemption: wasmtime refuels exactly `quantum` at each yield, so the quantum
    /// that just ended consumed `quantum` fuel from its start (plus an overshoot of at most
    /// one basic block, which the next exact sync absorbs).
    pub(crate) fn on_fuel_preemption(&self, quantum: u64) {
        let end = self.quantum_start_fuel.load(Ordering::Relaxed) + quantum;
        self.quantum_start_fuel.store(end, Ordering::Relaxed);
        self.core
            .accounting
            .set_fuel(end.max(self.core.accounting.fuel()));
    }
}

impl Process {
    /// Its captured stdout and stderr, which its exit will carry. Set once, by a WASI
    /// guest's run as it ends; a second call is ignored.
    pub fn set_output(&self, output: Arc<CapturedOutput>) {
        let _ = self.output.set(output);
    }

    /// The captured output, if any was set.
    pub(crate) fn output(&self) -> Option<Arc<CapturedOutput>> {
        self.output.get().cloned()
    }
}

impl AsRef<ProcessCore> for Process {
    fn as_ref(&self) -> &ProcessCore {
        &self.core
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process() -> Process {
        Process::new(Pid::new(1, 0), None, &ProcessOptions::default(), None, 0, 0)
    }

    #[test]
    fn a_process_keeps_its_wake_priority_until_it_has_run_its_budget_in_a_period() {
        let p = process();
        let period = 7 * WAKE_PERIOD_NS;
        assert!(
            p.within_wake_budget(period),
            "a new process has run nothing"
        );
        p.charge_period(period, period + WAKE_BUDGET_NS - 1);
        assert!(p.within_wake_budget(period + WAKE_BUDGET_NS));
        p.charge_period(period + WAKE_BUDGET_NS, period + WAKE_BUDGET_NS + 2);
        assert!(
            !p.within_wake_budget(period + WAKE_BUDGET_NS + 2),
            "over budget"
        );
        assert!(
            p.within_wake_budget(period + WAKE_PERIOD_NS),
            "a new period starts afresh"
        );
    }

    #[test]
    fn a_process_of_weight_three_runs_three_quanta_per_turn() {
        let p = process();
        assert!(!p.turn_continues(), "weight 1: one quantum a turn");
        p.set_weight(3);
        let turns: Vec<bool> = (0..6).map(|_| p.turn_continues()).collect();
        assert_eq!(turns, [true, true, false, true, true, false]);
        assert!(p.turn_continues());
        p.end_turn();
        assert!(p.turn_continues() && p.turn_continues() && !p.turn_continues());
    }

    #[test]
    fn a_quantum_is_charged_to_the_period_it_ends_in() {
        let p = process();
        let boundary = 3 * WAKE_PERIOD_NS;
        p.charge_period(boundary - 1, boundary + WAKE_BUDGET_NS + 1);
        assert!(!p.within_wake_budget(boundary + WAKE_BUDGET_NS + 1));
        p.charge_period(boundary + WAKE_PERIOD_NS, boundary + WAKE_PERIOD_NS + 1);
        assert!(
            p.within_wake_budget(boundary + WAKE_PERIOD_NS + 1),
            "reset, then 1 ns"
        );
    }
}
