//! The wrapper around a WASI guest's run: every poll enters the WASI I/O runtime, and a
//! poll that is pending without having woken itself is a WASI call waiting for I/O.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use shoal_executor::{Executor, Process, Run};

/// A waker that notes whether it was woken during the poll it was made for.
struct NotingWaker {
    woken: AtomicBool,
    inner: Waker,
}

impl Wake for NotingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.inner.wake_by_ref();
    }
}

/// Wraps a WASI guest's run: every poll enters the WASI I/O runtime, and a poll that is
/// pending without having woken itself (not a fuel or epoch yield, which wake the task
/// before returning) is a WASI call waiting for I/O or a timer, so the process is marked
/// `Waiting(HostCall)` (the executor's `note_pending`).
pub(crate) fn run_wasi(
    run: impl Run,
    process: Arc<Process>,
    executor: Arc<Executor>,
    io: tokio::runtime::Handle,
) -> impl Run {
    async move {
        let mut run = std::pin::pin!(run);
        std::future::poll_fn(move |cx: &mut Context<'_>| {
            let _entered = io.enter();
            let noting = Arc::new(NotingWaker {
                woken: AtomicBool::new(false),
                inner: cx.waker().clone(),
            });
            let waker = Waker::from(noting.clone());
            match run.as_mut().poll(&mut Context::from_waker(&waker)) {
                Poll::Ready(reason) => Poll::Ready(reason),
                Poll::Pending => {
                    if !noting.woken.load(Ordering::Acquire) {
                        shoal_executor::note_pending(&process, &executor);
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }
}
