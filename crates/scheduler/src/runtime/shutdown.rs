//! The shutdown sequence of a runtime.
//!
//! 1. Refuse new spawns (the executor's `begin_shutdown`, never undone); a paused runtime
//!    is started, since its processes must run to finish or die.
//! 2. Give live processes up to the grace period to finish on their own.
//! 3. Kill the rest (and anything they spawned meanwhile) and wait for their exits: a
//!    kill ends a running process within one quantum or tick and a waiting one at once.
//! 4. Stop the epoch ticker, then the executor: its workers find no work and see
//!    `stopping`, its timer thread stops, and all are joined.
//! 5. Drop whatever is left in the queues and timers.
//!
//! Dropping the last clone of a `Runtime` runs the same shutdown with no grace.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use shoal_executor::Process;
use shoal_proc::{Exit, Pid};

use super::RuntimeInner;

/// How often shutdown checks whether the grace period can end early.
const GRACE_POLL: Duration = Duration::from_millis(1);

/// Runs the sequence (module docs) and returns the exits of every process that was alive
/// when it began or was spawned during it. A second call returns nothing.
pub(super) fn shutdown(inner: &RuntimeInner, grace: Duration) -> Vec<Exit> {
    if inner.shut_down.swap(true, Ordering::AcqRel) {
        return Vec::new();
    }
    let executor = &inner.executor;
    executor.begin_shutdown();
    tracing::debug!(live = executor.live(), ?grace, "shutdown");

    let mut ended: Vec<Arc<Process>> = executor.processes();
    let mut seen: HashSet<Pid> = ended.iter().map(|p| p.pid()).collect();
    let grace_end = Instant::now() + grace;
    while executor.live() > 0 && Instant::now() < grace_end {
        std::thread::sleep(GRACE_POLL.min(grace_end.saturating_duration_since(Instant::now())));
    }
    loop {
        let live = executor.processes();
        if live.is_empty() {
            break;
        }
        for process in &live {
            process.kill();
        }
        for process in live {
            process.core.exit.wait_blocking();
            if seen.insert(process.pid()) {
                ended.push(process);
            }
        }
    }

    inner.ticker_stop.stop();
    if let Some(ticker) = inner.ticker.lock().take() {
        let _ = ticker.join();
    }
    executor.stop();

    ended
        .iter()
        .filter_map(|p| p.core.exit.get().cloned())
        .collect()
}
