//! The exit sequence (its order and why are in the crate docs).
//!
//! [`Executor::complete`] runs on the worker that polled the process to its end (or on
//! the thread that dropped its task), after its run was dropped.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use shoal_proc::{Exit, ExitReason, Severed};

use crate::config::PROCESS_RECORD_BYTES;
use crate::executor::Executor;
use crate::process::Process;
use crate::task::{expect_transition, panic_message};
use crate::trace::TraceKind;
use crate::worker::with_local;

impl Executor {
    /// Records the end of `process` with `reason` (crate docs, "The exit sequence").
    pub(crate) fn complete(&self, process: &Process, reason: ExitReason) {
        let now = self.quantum_end_now(process);
        let state = &process.core.state;
        expect_transition(
            state.transition_to_exiting(now),
            "a finishing process is alive",
        );
        let severed = process.core.close_relations();
        let unread = process.core.mailbox.close();
        if let Some(budget) = &self.config.memory_budget {
            budget.release(PROCESS_RECORD_BYTES);
        }
        drop(process.task_waker.take());
        process.deadline_timer.store(true, Ordering::Release);
        self.table.remove(process.pid());
        if let Some(severed) = severed.filter(|s| !is_empty(s)) {
            match &self.hooks.severed {
                Some(hook) => {
                    // A panic here is a bug in the layer above, but the exit must still
                    // be published: a waiter on it would otherwise hang for ever.
                    let signalled = panic::catch_unwind(AssertUnwindSafe(|| {
                        hook(self, process.pid(), &reason, severed)
                    }));
                    if let Err(payload) = signalled {
                        tracing::error!(
                            pid = %process.pid(),
                            panic = %panic_message(&payload),
                            "the exit hook panicked; its signals may be lost, the exit is published"
                        );
                    }
                }
                // No layer above takes relations: nothing could have made any.
                None => drop(severed),
            }
        }
        expect_transition(
            state.transition_to_exited(now),
            "an exiting process can exit",
        );
        process
            .core
            .accounting
            .mark_exited(std::time::Instant::now());
        let exit = Exit {
            pid: process.pid(),
            reason,
            accounting: process.core.accounting.snapshot(state.times(now)),
            output: process.output(),
        };
        match &exit.reason {
            ExitReason::Normal { .. } => {
                tracing::debug!(pid = %exit.pid, reason = %exit.reason, unread = unread.len(), "exit")
            }
            ExitReason::Killed => {
                tracing::debug!(pid = %exit.pid, unread = unread.len(), "exit: killed")
            }
            ExitReason::Trap { .. } | ExitReason::HostError { .. } => {
                tracing::info!(pid = %exit.pid, reason = %exit.reason, "exit: trap")
            }
            _ => tracing::debug!(pid = %exit.pid, reason = %exit.reason, "exit"),
        }
        self.counters.exited.fetch_add(1, Ordering::Relaxed);
        self.trace_instant(TraceKind::Exit, process);
        if let Some(hash) = &self.schedule_hash {
            // The final quantum, recorded here rather than by the worker after it, so
            // that the hash is complete before the exit is published (see `worker`).
            let on_worker = with_local(self.id, |local| local.is_some());
            if on_worker {
                let accounting = &process.core.accounting;
                hash.lock().record(
                    process.pid().to_bits(),
                    accounting.quanta(),
                    accounting.fuel(),
                );
            }
        }
        let _ = process.core.exit.set(exit);
    }
}

/// Whether an ended process left nothing to signal or release: most processes.
fn is_empty(severed: &Severed) -> bool {
    severed.links.is_empty()
        && severed.watchers.is_empty()
        && severed.monitoring.is_empty()
        && severed.name.is_none()
}
