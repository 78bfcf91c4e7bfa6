//! What a process runs, and the future a worker polls for it.
//!
//! # The interface
//! A process runs one [`Run`]: a future whose output is the [`ExitReason`] it ended with.
//! A wasm guest's run (its store, instantiation and entry call, on a fiber) is one, and
//! so is a native process's (its Rust future, mapped to an exit code). The executor
//! polls it once per quantum and knows nothing else of it: it is pending when it waits
//! or yields, and ready when it ends.
//!
//! A run that waits through this crate's waits (`wait`: receive, sleep, yield) is moved
//! to `Waiting` by them. A run that can be pending on anything else (a native future
//! awaiting a channel, a WASI call waiting for I/O) calls [`note_pending`] when it
//! returns `Pending`, so that the process is marked `Waiting(HostCall)` and holds no
//! worker.
//!
//! # The task's future
//! Each process is one async-task whose future is a [`ProcessFuture`], generic over the
//! run: a worker's poll goes through async-task's vtable straight into the run's own code,
//! with no second indirection. Its poll checks the kill flag and the deadline first, then
//! polls the run and catches a panic that unwinds out of it (a host function's, or a
//! native future's), which ends that process as `host_error`, never the worker.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use shoal_proc::{ExitReason, IllegalTransition, State, Transition, WaitReason};

use crate::executor::Executor;
use crate::process::Process;

/// What a process runs (module docs): polled once per quantum until it is ready with
/// the reason it ended. Every `Send` future of an [`ExitReason`] is one.
pub trait Run: Future<Output = ExitReason> + Send + 'static {}

impl<F: Future<Output = ExitReason> + Send + 'static> Run for F {}

/// The future of one process's task. Output `()`: the exit goes to the process's exit
/// slot, where any number of joiners find it.
pub(crate) struct ProcessFuture<R> {
    executor: Arc<Executor>,
    process: Arc<Process>,
    /// The run; `None` once finished (a guest's store already dropped).
    run: Option<Pin<Box<R>>>,
}

impl<R: Run> ProcessFuture<R> {
    pub(crate) fn new(executor: Arc<Executor>, process: Arc<Process>, run: R) -> Self {
        ProcessFuture {
            executor,
            process,
            run: Some(Box::pin(run)),
        }
    }
}

impl<R> ProcessFuture<R> {
    fn finish(&mut self, reason: ExitReason) -> Poll<()> {
        // Drop the run (and with it a guest's store and its arena slots) before the exit
        // is published and the table slot freed.
        self.run = None;
        self.executor.complete(&self.process, reason);
        Poll::Ready(())
    }
}

impl<R> Drop for ProcessFuture<R> {
    /// A process whose task is dropped before it finished (a runtime torn down around a
    /// spawn that raced its shutdown) still gets an exit: `killed`. Every joiner wakes,
    /// and the table slot is freed.
    fn drop(&mut self) {
        if self.run.is_some() {
            let _ = self.finish(ExitReason::Killed);
        }
    }
}

impl<R: Run> Future for ProcessFuture<R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // `ProcessFuture` is `Unpin`: the run is boxed.
        let this = self.get_mut();
        let Some(run) = this.run.as_mut() else {
            return Poll::Ready(());
        };
        if this.process.is_killed() {
            return this.finish(this.process.kill_reason());
        }
        if this.process.deadline_ns.is_some()
            && this.process.deadline_passed(this.executor.clock.now_ns())
        {
            return this.finish(ExitReason::Deadline);
        }
        // A panic in a host function or a native future unwinds to here; it ends this
        // process, never the worker.
        match std::panic::catch_unwind(AssertUnwindSafe(|| run.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            // A process killed during this poll ends with the kill's reason, whatever its
            // run returned: the interrupt the kill caused, or (a native process that sent
            // itself an exit signal and returned before its next await) its own result.
            Ok(Poll::Ready(_)) if this.process.is_killed() => {
                this.finish(this.process.kill_reason())
            }
            Ok(Poll::Ready(reason)) => this.finish(reason),
            Err(panic) => this.finish(ExitReason::HostError {
                message: format!("host function panicked: {}", panic_message(&panic)),
            }),
        }
    }
}

/// A panic's message, when its payload is text.
pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_owned()
    }
}

/// After a poll of a process's run returned `Pending`: if the process is still
/// `Running`, it is pending on something other than the executor's own waits (a native
/// future's channel, a WASI call's I/O or timer), and is marked `Waiting(HostCall)` so that
/// it holds no worker and its wake-up is scheduled as one. A process that yielded (its
/// waker already ran and queued it) or that waits in a receive or sleep is left as it is.
pub fn note_pending(process: &Process, executor: &Executor) {
    let state = &process.core.state;
    if state.get() == State::Running && !process.yield_pending() {
        // A wake racing this check finds `Running` and queues the process as a yield;
        // then the transition below fails its edge and is skipped.
        let _ = state.transition_from(
            State::Running,
            State::Waiting(WaitReason::HostCall),
            executor.quantum_end_now(process),
        );
    }
}

/// Applies a transition that the executor's invariants guarantee: an illegal one here is
/// a bug in the executor, reported with the invariant that broke.
#[track_caller]
pub(crate) fn expect_transition(outcome: Result<Transition, IllegalTransition>, invariant: &str) {
    if let Err(e) = outcome {
        panic!("{invariant}: {e}");
    }
}
