//! A running process's slice, as seen at an epoch tick.
//!
//! The wasm layer's epoch callback runs at every tick while a guest runs and asks
//! [`Executor::on_tick`] what to do; the answer is the executor's policy, the callback
//! only carries it out. A process ends at once if it was killed or its deadline passed.
//! Otherwise it yields when a woken process is waiting (wake-up preemption: latency at
//! most one tick), or when its slice is spent and another runnable process is waiting. A
//! process of weight `w` has a slice `w` times as long.
//! A lone process runs on.

use crate::executor::Executor;
use crate::process::{Process, YieldCause};

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

impl Executor {
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
        let slice = slice_ticks.saturating_mul(u64::from(process.weight()));
        if queues.wake_pending() || (ticks >= slice && queues.run_pending()) {
            process.set_yield_cause(YieldCause::Epoch);
            Tick::Yield
        } else {
            Tick::Continue
        }
    }
}
