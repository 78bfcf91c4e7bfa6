//! Native processes: Rust futures scheduled as processes, beside the guests.
//!
//! [`Runtime::spawn_native`](crate::Runtime::spawn_native) gives a future a pid, a mailbox
//! and an exit, and runs it on the workers like a guest: one poll is one quantum, and the
//! future's waits through [`NativeContext`] (`receive`, `sleep`, `yield_now`) move it to
//! `Waiting` and free the worker, as a guest's host calls do. Guests cannot tell a native
//! process from another guest: they send to its pid and receive from it.
//!
//! # Lifecycle
//! The future's output `i32` becomes `normal(code)`; a panic becomes `host_error` with the
//! panic message; `kill` and a deadline end it at its next poll (and wake it if it waits),
//! dropping the future. A native process has no fuel and no memory of its own, so fuel
//! budgets and memory caps do not apply to it; its CPU time is accounted like a guest's.
//!
//! A future that awaits something other than its context (a channel, a tokio timer) is
//! polled again when that wakes it; while it waits, it is in state `Waiting(HostCall)`.
//! It must not block the thread: a worker that blocks is a worker lost to every process.
//!
//! # The layer
//! Native processes and supervisors are the upper half of the actor layer. They sit
//! above the wasm layer because a native process spawns guests
//! ([`NativeContext::spawn`]), while the lower half (`actor`: links, monitors, signals,
//! names) sits below it, because the guests' host functions call it. So this layer may
//! import the executor, `actor`, `wasm` and the crate's errors; never the runtime layer
//! above it, which gives the host `Runtime::spawn_native` and supervisors started from
//! the host.
//!
//! | file | holds |
//! |---|---|
//! | `mod` | a native process's spawn and its run |
//! | `context` | [`NativeContext`]: what a native process takes part with |
//! | `request` | request and reply over an alias |
//! | `supervisor` | OTP's supervisors, on native processes |

mod context;
mod request;
pub(crate) mod supervisor;

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::task::Poll;

use shoal_executor::{Executor, Process, Run};
use shoal_proc::ExitReason;

use crate::actor::{self, Actors, SpawnRelation};
use crate::error::SpawnError;
use crate::wasm::SpawnOptions;

pub use context::NativeContext;
pub use request::{RequestError, split_request};

/// Starts a native process: `f` gets its context and returns the future it runs. Of the
/// options, the process options apply (deadline, mailbox bound); a native process has
/// no fuel or memory of its own.
pub(crate) fn spawn<F, Fut>(
    executor: &Arc<Executor>,
    actors: &Arc<Actors>,
    options: &SpawnOptions,
    parent: Option<&Process>,
    relation: SpawnRelation<'_>,
    f: F,
) -> Result<Arc<Process>, SpawnError>
where
    F: FnOnce(NativeContext) -> Fut,
    Fut: Future<Output = i32> + Send + 'static,
{
    options.process.validate()?;
    let process = executor.spawn(&options.process, parent.map(Process::pid), |process| {
        actor::bind(process, relation);
        let context = NativeContext::new(process.clone(), executor.clone(), actors.clone());
        run(executor.clone(), process.clone(), f(context))
    })?;
    tracing::debug!(pid = %process.pid(), "spawn native");
    Ok(process)
}

/// The run of a native process: polls the user's future, whose output is its exit code,
/// and marks the process `Waiting(HostCall)` when it is pending on something other than
/// its context (the executor's `note_pending`).
fn run<Fut>(executor: Arc<Executor>, process: Arc<Process>, future: Fut) -> impl Run
where
    Fut: Future<Output = i32> + Send + 'static,
{
    async move {
        let mut future = std::pin::pin!(future);
        poll_fn(move |cx| match future.as_mut().poll(cx) {
            Poll::Ready(code) => Poll::Ready(ExitReason::Normal { code }),
            Poll::Pending => {
                shoal_executor::note_pending(&process, &executor);
                Poll::Pending
            }
        })
        .await
    }
}
