//! A running process's slice, as seen at an epoch tick, and how often ticks come.
//!
//! The wasm layer's epoch callback runs at every tick while a guest runs and asks
//! [`Executor::on_tick`] what to do; the answer is the executor's policy, the callback
//! only carries it out. A process ends at once if it was killed or its deadline passed.
//! Otherwise it yields when a woken process is waiting (wake-up preemption: latency at
//! most one tick), or when its slice is spent and another runnable process is waiting. A
//! process of weight `w` has a slice `w` times as long.
//!
//! # Adaptive ticks: the default, and why
//! A fixed tick cannot share a few seconds fairly among thousands of processes: at
//! 10,000 CPU-bound processes on 2 workers, 1 ms slices give each one slice every 5 s,
//! and over a 3-second window most never run. Under [`Preemption::Adaptive`], the
//! default, the tick period is [`Executor::tick_period`]: it shrinks as runnable
//! processes multiply, so that every one gets a slice within about [`TARGET_ROUND`],
//! down to the shortest tick (20 µs). With a handful of processes nothing changes: the
//! tick stays the configured 500 µs, and a lone process is never interrupted at all.
//! BEAM gets the same effect by counting its slices in reductions, which are short.
//!
//! Three choices, each from a measurement (`shoal bench fair`, 2 workers, 3 s):
//! - **Ticks from the workers' own timers** below the fixed tick (`wasm::tick_timer` in
//!   the scheduler): a ticker thread at 20 µs came 3.8 ms late on 0.1% of its wake-ups
//!   on busy cores, and Jain's index at 10,000 fell to 0.17.
//! - **Slices counted in time, not ticks.** A slice can only end at a tick, so one
//!   counted in ticks lasts anything from one tick to `slice_ticks`, depending on where
//!   the first tick fell. Adaptive slices are counted as deficit round-robin counts
//!   bytes: each turn allows the slice plus what the process was owed or owes from the
//!   last ones, the tick nearest that allowance ends it, and the difference carries
//!   over. Credit lapses when the process waits or yields (a debt stands), and a debt is
//!   capped at [`MAX_DEBT_SLICES`] slices. With it, Jain's index at 10,000 went from
//!   0.985 to 0.996.
//! - **CPU time, not the clock**: a slice is measured in the worker thread's CPU time
//!   from its first tick on, so time the kernel gave another thread is not charged.
//!
//! Against fixed 1 ms slices, medians of 3 to 5 runs of the `dist` build: Jain's index
//! by fuel 0.55 → 0.993 at 10,000 processes and 0.993 → 0.998 at 1,000; the most any
//! process got 18× → 1.2× the mean; `shoal bench wake` p99 at 10,000 1.4 ms → 80 µs;
//! and a lone CPU-bound guest runs as fast as under fixed epochs (`shoal bench
//! overhead`, 1.00×). The goals (0.999 and a least share of 0.95) are not met: a few
//! spinners in every run get 0.1–0.6 of the mean *fuel* while their running time is
//! even, in fixed-epoch mode as well; under fuel quanta every spinner gets the same
//! fuel by construction. BENCHMARKS.md has the figures.

use std::time::Duration;

use crate::config::Preemption;
use crate::executor::Executor;
use crate::process::{Process, YieldCause};

/// Adaptive preemption's round: the time in which every runnable process should get a
/// slice, as CFS's `sched_latency` is. The tick is this divided by the slices a worker
/// must run in a round, down to the shortest tick. 50 ms keeps a 3-second window at
/// 1,000 CPU-bound processes on 2 workers to some 40 rounds of 100 µs slices, so a share
/// is off by a partial round at most: 2.5%.
pub const TARGET_ROUND: Duration = Duration::from_millis(50);

/// Why a running process must stop now, without running another instruction.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Interrupt {
    /// Killed by the host or by an exit signal (its reason is the kill's).
    #[error("killed")]
    Killed,
    /// Its wall-clock deadline passed.
    #[error("deadline passed")]
    Deadline,
}

/// What a running process does at an epoch tick.
#[must_use = "a tick's verdict must be carried out"]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Tick {
    /// Run on: the slice is not spent, or nobody is waiting for the worker.
    Continue,
    /// Give the worker up now: the process is queued behind the others (its yield cause
    /// is already recorded as a preemption).
    Yield,
    /// End now.
    End(Interrupt),
}

/// The most an adaptive slice's overrun is carried forward, in slices. A tick that came
/// very late (a signal delayed while the kernel ran something else) lets a slice run
/// long through no fault of the process, which would otherwise pay for it with many
/// turns; four slices repay any ordinary overrun of a tick or two.
const MAX_DEBT_SLICES: i64 = 4;

/// Adaptive preemption's tick period with `queued` processes waiting for `workers`
/// workers (module docs).
fn adaptive_period(
    queued: usize,
    workers: usize,
    tick: Duration,
    min_tick: Duration,
    slice_ticks: u64,
) -> Duration {
    let workers = workers.max(1);
    // The running ones, and the queued ones.
    let per_worker = queued.saturating_add(workers).div_ceil(workers);
    let ticks_per_round = (per_worker as u64).saturating_mul(slice_ticks).max(1);
    let period = TARGET_ROUND.as_nanos() as u64 / ticks_per_round;
    Duration::from_nanos(period).clamp(min_tick, tick)
}

/// Whether an adaptive slice that has run `ran` ns, at a tick of `period` ns, with an
/// allowance of `slice` ns plus `credit`, is spent; if so, the credit it leaves for the
/// next (module docs). All in ns.
#[must_use = "a spent slice's credit must be kept"]
fn slice_spent(ran: i64, period: i64, slice: i64, credit: i64) -> Option<i64> {
    let allowance = slice.saturating_add(credit);
    // The tick nearest the allowance ends the slice: stopping half a period early or
    // late errs by as much either way, and the credit evens it out.
    (ran.saturating_add(period / 2) >= allowance).then(|| {
        allowance
            .saturating_sub(ran)
            .clamp(-slice.saturating_mul(MAX_DEBT_SLICES), slice)
    })
}

impl Executor {
    /// How long the ticker thread waits before its next tick: the configured tick, or
    /// under adaptive preemption, [`TARGET_ROUND`] shared among the slices each worker
    /// must run for every runnable process to get one, between the shortest tick and the
    /// tick (module docs).
    pub fn tick_period(&self) -> Duration {
        match self.config.preemption {
            Preemption::Adaptive {
                tick,
                min_tick,
                slice_ticks,
            } => adaptive_period(
                self.queues.len(),
                self.config.workers,
                tick,
                min_tick,
                slice_ticks,
            ),
            other => other.epoch().map_or(Duration::MAX, |(tick, _)| tick),
        }
    }

    /// The period a worker's own tick timer should run at (adaptive preemption), or
    /// `None` while the ticker thread's fixed tick is short enough: the tick period
    /// times the workers, since every worker's timer ticks every guest.
    pub fn timer_period(&self) -> Option<Duration> {
        let (tick, _) = self.config.preemption.epoch()?;
        self.config.preemption.min_tick()?;
        let period = self.tick_period();
        (period < tick).then(|| period * self.config.workers as u32)
    }

    /// The verdict for `process` at a tick, after it has run `ticks` ticks of its slice
    /// (this one included) out of `slice_ticks` times its weight (module docs).
    pub fn on_tick(&self, process: &Process, ticks: u64, slice_ticks: u64) -> Tick {
        if process.is_killed() {
            return Tick::End(Interrupt::Killed);
        }
        let now = self.clock.now_ns();
        if process.deadline_passed(now) {
            return Tick::End(Interrupt::Deadline);
        }
        if !self.clock.is_virtual() {
            // Fire timers the timer thread may not have had a core for.
            self.timers.fire_if_due(now);
        }
        let queues = &self.queues;
        if self.config.preemption.min_tick().is_some() {
            return self.on_adaptive_tick(process, now, slice_ticks);
        }
        let slice = slice_ticks.saturating_mul(u64::from(process.weight()));
        if queues.wake_pending() || (ticks >= slice && queues.run_pending()) {
            process.set_yield_cause(YieldCause::Epoch);
            Tick::Yield
        } else {
            Tick::Continue
        }
    }

    /// Adaptive preemption's verdict: slices measured in time, with what the last ones
    /// ran over or under carried to the next (module docs).
    fn on_adaptive_tick(&self, process: &Process, now: u64, slice_ticks: u64) -> Tick {
        let queues = &self.queues;
        let wake = queues.wake_pending();
        if !wake && !queues.run_pending() {
            // Nobody waits: run on, without reading the thread's CPU time (a system
            // call) or keeping score.
            return Tick::Continue;
        }
        if wake {
            // Cut short by a wake-up: its credit stands as it was, and no CPU time is
            // read (with thousands runnable, ticks come every few tens of microseconds
            // and a woken process is nearly always waiting).
            process.set_yield_cause(YieldCause::Epoch);
            return Tick::Yield;
        }
        let period = self.tick_period().as_nanos() as i64;
        let slice = period
            .saturating_mul(slice_ticks as i64)
            .saturating_mul(i64::from(process.weight()));
        let ran = process.slice_cpu(crate::clock::thread_cpu_ns(), now) as i64;
        match slice_spent(ran, period, slice, process.credit()) {
            Some(credit) => {
                process.set_credit(credit);
                process.set_yield_cause(YieldCause::Epoch);
                Tick::Yield
            }
            None => Tick::Continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_micros(500);
    const MIN: Duration = Duration::from_micros(20);

    #[test]
    fn the_adaptive_tick_is_the_tick_while_few_processes_compete() {
        assert_eq!(adaptive_period(0, 2, TICK, MIN, 2), TICK);
        // 50 ms over (25 per worker x 2 ticks) = 1 ms: still capped at the tick.
        assert_eq!(adaptive_period(48, 2, TICK, MIN, 2), TICK);
    }

    #[test]
    fn the_adaptive_tick_shrinks_with_the_runnable_processes_down_to_the_shortest() {
        // 1,000 runnable on 2 workers: 500 each, 2 ticks a slice: 50 ms / 1,000 = 50 us.
        assert_eq!(
            adaptive_period(998, 2, TICK, MIN, 2),
            Duration::from_micros(50)
        );
        assert_eq!(adaptive_period(9_998, 2, TICK, MIN, 2), MIN);
        assert_eq!(adaptive_period(usize::MAX, 0, TICK, MIN, u64::MAX), MIN);
    }

    #[test]
    fn a_slice_ends_at_the_tick_nearest_its_allowance_and_carries_the_difference() {
        // A 100 us slice at 30 us ticks: not spent at 60 (60 + 15 < 100) ...
        assert_eq!(slice_spent(60_000, 30_000, 100_000, 0), None);
        // ... spent at 90 (90 + 15 >= 100), owed the 10 it did not run.
        assert_eq!(slice_spent(90_000, 30_000, 100_000, 0), Some(10_000));
        // Owed 10, the next allowance is 110: spent at 120, owing 10.
        assert_eq!(slice_spent(90_000, 30_000, 100_000, 10_000), None);
        assert_eq!(slice_spent(120_000, 30_000, 100_000, 10_000), Some(-10_000));
    }

    #[test]
    fn credit_is_capped_both_ways() {
        // A slice that ran ten times over owes four slices at most.
        assert_eq!(slice_spent(1_000_000, 30_000, 100_000, 0), Some(-400_000));
        // A debt larger than the slice ends the next slice at its first tick.
        assert_eq!(slice_spent(0, 30_000, 100_000, -400_000), Some(-300_000));
    }
}
