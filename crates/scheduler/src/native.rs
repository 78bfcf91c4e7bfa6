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

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use shoal_proc::{Message, Pid, WaitReason};

use crate::error::{SendError, SpawnError};
use crate::handle::ProcessHandle;
use crate::module::Module;
use crate::process::{GuestRun, Process, YieldCause};
use crate::shared::Shared;
use crate::wait::{YieldNow, sleep_until, wait_for_message};

/// What a native process uses to take part: its pid, its mailbox, the clock, spawn and
/// send. Cheap to clone.
#[derive(Clone)]
pub struct NativeContext {
    process: Arc<Process>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for NativeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeContext")
            .field("pid", &self.process.pid())
            .finish()
    }
}

impl NativeContext {
    /// This process's pid.
    pub fn pid(&self) -> Pid {
        self.process.pid()
    }

    /// Takes the oldest message (with tag `tag`, if given), waiting at most `timeout`
    /// (`None`: forever). `None` when the wait timed out.
    pub async fn receive(&self, tag: Option<u64>, timeout: Option<Duration>) -> Option<Message> {
        let timeout_ns = timeout.map(crate::clock::duration_ns);
        wait_for_message(&self.process, &self.shared, tag, timeout_ns)
            .await
            .0
    }

    /// Takes the oldest message (with tag `tag`, if given) without waiting.
    pub fn try_receive(&self, tag: Option<u64>) -> Option<Message> {
        self.process.core.mailbox.try_receive(tag)
    }

    /// Sends `data` with `tag` to `to`, from this process. FIFO per sender.
    pub fn send(&self, to: Pid, tag: u64, data: impl Into<Vec<u8>>) -> Result<(), SendError> {
        self.shared.send(
            to,
            Message {
                from: Some(self.pid()),
                tag,
                data: data.into(),
            },
        )
    }

    /// Spawns a guest process running `export` of `module` with `arg`, with the
    /// runtime's default limits.
    pub fn spawn(
        &self,
        module: &Module,
        export: &str,
        arg: i64,
    ) -> Result<ProcessHandle, SpawnError> {
        let limits = crate::config::Limits::default();
        let process = self
            .shared
            .spawn_process(module, export, arg, &limits, Some(self.pid()))?;
        Ok(ProcessHandle { process })
    }

    /// The runtime's clock: time since it started (virtual in deterministic mode).
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.shared.clock.now_ns())
    }

    /// Waits at least `duration`, holding no worker.
    pub async fn sleep(&self, duration: Duration) {
        let when = self
            .shared
            .clock
            .now_ns()
            .saturating_add(crate::clock::duration_ns(duration));
        sleep_until(&self.process, &self.shared, when).await;
    }

    /// Ends this quantum: the process goes behind the other runnable ones.
    pub async fn yield_now(&self) {
        self.process.set_yield_cause(YieldCause::Voluntary);
        YieldNow(false).await;
    }
}

/// The run of a native process: polls the user's future, and marks the process
/// `Waiting(HostCall)` when it is pending on something other than its context.
pub(crate) fn run<Fut>(shared: Arc<Shared>, process: Arc<Process>, future: Fut) -> GuestRun
where
    Fut: Future<Output = i32> + Send + 'static,
{
    let mut future = Box::pin(future);
    Box::pin(std::future::poll_fn(move |cx: &mut Context<'_>| {
        match future.as_mut().poll(cx) {
            Poll::Ready(code) => Poll::Ready(shoal_proc::ExitReason::Normal { code }),
            Poll::Pending => {
                let state = &process.core.state;
                // Still Running: pending on a foreign future, unless it woke itself
                // (a yield), which the schedule function sees as Running and queues.
                if state.get() == shoal_proc::State::Running && !process.yield_pending() {
                    crate::process::expect_transition(
                        state.transition_to_waiting(
                            WaitReason::HostCall,
                            shared.quantum_end_now(&process),
                        ),
                        "a polled process is Running",
                    );
                }
                Poll::Pending
            }
        }
    }))
}

/// The context a new native process gets.
pub(crate) fn context(shared: Arc<Shared>, process: Arc<Process>) -> NativeContext {
    NativeContext { process, shared }
}
