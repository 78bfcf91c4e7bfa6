//! How a process waits without holding a worker: the futures behind `receive`, `sleep`
//! and `yield`, shared by guests (through the host module) and native processes.
//!
//! A wait is wrapped in [`Blocking`], which moves the process to `Waiting(reason)` exactly
//! when the wait returns `Pending`, so the state a joiner sees is always the truth. The
//! wake-up moves it back to `Runnable` in the schedule function (`shared`).

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use shoal_proc::{Message, WaitReason};

use crate::process::Process;
use crate::shared::Shared;
use crate::timer::Sleep;

/// Moves the process to `Waiting(reason)` while `inner` is pending.
pub(crate) struct Blocking<'a, F> {
    pub process: &'a Process,
    pub shared: &'a Shared,
    pub reason: WaitReason,
    pub inner: F,
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
                crate::process::expect_transition(
                    this.process.core.state.transition_to_waiting(
                        this.reason,
                        this.shared.quantum_end_now(this.process),
                    ),
                    "a polled process is Running",
                );
                Poll::Pending
            }
        }
    }
}

/// A future that is pending exactly once, having woken itself: the guest goes to the
/// back of the run queue.
pub(crate) struct YieldNow(pub bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Waits for a message matching `filter`, for at most `timeout_ns` (`None`: forever,
/// `Some(0)`: not at all). The flag says whether it had to wait (and so is owed a fresh
/// quantum).
pub(crate) async fn wait_for_message(
    process: &Process,
    shared: &Shared,
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
        let when = shared.clock.now_ns().saturating_add(ns);
        Box::pin(Sleep::until(&shared.clock, &shared.timers, when))
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
        shared,
        reason: WaitReason::Receive,
        inner: Box::pin(wait),
    }
    .await;
    (message, true)
}

/// Sleeps until the runtime clock reads `when_ns`, in state `Waiting(Sleep)`.
pub(crate) async fn sleep_until(process: &Process, shared: &Shared, when_ns: u64) {
    Blocking {
        process,
        shared,
        reason: WaitReason::Sleep,
        inner: Box::pin(Sleep::until(&shared.clock, &shared.timers, when_ns)),
    }
    .await;
}
