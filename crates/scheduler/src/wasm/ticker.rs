//! The epoch ticker: a dedicated thread that calls `Engine::increment_epoch` every tick.
//!
//! It is a plain thread, never a task on the executor it preempts: a ticker queued behind
//! the CPU-bound processes it is meant to interrupt would never tick. It keeps an
//! absolute schedule (`next += tick`), so oversleeping once does not slow the clock.
//! It stops when told, within one tick.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// Stop signal for the ticker.
#[derive(Default)]
pub(crate) struct TickerStop {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl TickerStop {
    pub(crate) fn stop(&self) {
        *self.stopped.lock() = true;
        self.cv.notify_all();
    }
}

/// Starts the ticker thread.
pub(crate) fn spawn(
    engine: wasmtime::Engine,
    tick: Duration,
    stop: Arc<TickerStop>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("shoal-epoch".into())
        .spawn(move || {
            let mut next = Instant::now() + tick;
            let mut stopped = stop.stopped.lock();
            while !*stopped {
                if stop.cv.wait_until(&mut stopped, next).timed_out() {
                    engine.increment_epoch();
                    next += tick;
                    let now = Instant::now();
                    if next < now {
                        // Fell behind (the machine was busy): resume from now rather
                        // than firing a burst of ticks.
                        next = now + tick;
                    }
                }
            }
        })
}
