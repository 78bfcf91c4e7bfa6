//! How a process waits without holding a worker: the futures behind receive, sleep and
//! yield, shared by guests (through the host module) and native processes.
//!
//! A wait is wrapped in [`Blocking`], which moves the process to `Waiting(reason)` exactly
//! when the wait returns `Pending`, so the state a joiner sees is always the truth. The
//! wake-up moves it back to `Runnable` in the schedule function (`schedule`).
//!
//! Each is called from the process's own run, with its own [`Process`]: a process waits
//! only for itself.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use shoal_proc::{Message, WaitReason};

use crate::executor::Executor;
use crate::process::{Process, YieldCause};
use crate::task::expect_transition;
use crate::timer::Sleep;

/// Moves the process to `Waiting(reason)` while `inner` is pending.
struct Blocking<'a, F> {
    process: &'a Process,
    executor: &'a Executor,
    reason: WaitReason,
    inner: F,
}

impl<F: Future + Unpin> Future for Blocking<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll(cx) {
            Poll::Ready(out) => Poll::Ready(out),
            Poll::Pending => {
                // The worker set Running before this poll; a wake that raced with us is
                // deferred by the task until the poll returns, so this edge is legal.
                expect_transition(
                    this.process.core.state.transition_to_waiting(
                        this.reason,
                        this.executor.quantum_end_now(this.process),
                    ),
                    "a polled process is Running",
                );
                Poll::Pending
            }
        }
    }
}

/// Pending exactly once, having woken its own task first: the process goes to the back
/// of the run queue (its worker's `next` slot if nothing else is queued).
struct YieldOnce {
    /// Whether the one pending poll has happened.
    yielded: bool,
}

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Ends the process's quantum when awaited: it goes behind the other runnable
/// processes, and its accounting counts a voluntary yield. The yield is recorded when
/// this is called; the future borrows nothing, so a host call can await it while it
/// holds its caller mutably.
pub fn yield_now(process: &Process) -> impl Future<Output = ()> + Send + 'static {
    process.set_yield_cause(YieldCause::Voluntary);
    YieldOnce { yielded: false }
}

/// Takes the oldest message matching `filter` (a tag, or any), waiting for one at most
/// `timeout_ns` (`None`: forever, `Some(0)`: not at all) in state `Waiting(Receive)`.
/// Returns the message, if one came, and whether the process had to wait (and so is owed
/// a fresh quantum).
pub async fn receive(
    process: &Process,
    executor: &Executor,
    filter: Option<u64>,
    timeout_ns: Option<u64>,
) -> (Option<Message>, bool) {
    let mailbox = &process.core.mailbox;
    if let Some(msg) = mailbox.try_receive(filter) {
        return (Some(msg), false);
    }
    if timeout_ns == Some(0) {
        return (None, false);
    }
    let mut timeout = timeout_ns.map(|ns| {
        let when = executor.clock.now_ns().saturating_add(ns);
        Box::pin(Sleep::until(&executor.clock, &executor.timers, when))
    });
    let wait = poll_fn(|cx| {
        if let Poll::Ready(msg) = mailbox.poll_receive(filter, cx) {
            return Poll::Ready(Some(msg));
        }
        let timed_out = timeout
            .as_mut()
            .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready());
        if timed_out {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    });
    let message = Blocking {
        process,
        executor,
        reason: WaitReason::Receive,
        inner: Box::pin(wait),
    }
    .await;
    (message, true)
}

/// Sleeps until the executor's clock reads `when_ns`, in state `Waiting(Sleep)`.
pub async fn sleep_until(process: &Process, executor: &Executor, when_ns: u64) {
    Blocking {
        process,
        executor,
        reason: WaitReason::Sleep,
        inner: Box::pin(Sleep::until(&executor.clock, &executor.timers, when_ns)),
    }
    .await;
}
