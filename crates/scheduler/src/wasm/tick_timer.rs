//! Per-worker tick timers: adaptive preemption's epoch ticks, delivered by the kernel to
//! the worker threads themselves.
//!
//! # Why not the ticker thread
//! A ticker thread must be scheduled to tick, and on a machine whose cores the workers
//! keep busy, the kernel does not always preempt a worker for it: measured on 2 cores
//! with 10,000 CPU-bound guests and a 20 µs period, 0.1% of its wake-ups came 3.8 ms or
//! more late (5.6 ms at worst). Each late tick gives the two running guests a slice of
//! milliseconds, several times their share of a 3-second window, and Jain's index over
//! the window fell to 0.17. Short ticks are only worth having if they are punctual.
//!
//! # How
//! Each worker thread owns a POSIX timer (`timer_create` on `CLOCK_MONOTONIC`, notifying
//! this thread only: `SIGEV_THREAD_ID`) that raises [`tick_signal`] periodically. The
//! handler bumps the engine's epoch: `Engine::increment_epoch` is documented as
//! signal-safe (one atomic add, no system call). A timer interrupt reaches the thread on
//! whatever core it runs, with no scheduling decision in between. The epoch is the
//! engine's, so every worker's timer ticks every guest: a worker's timer period is the
//! tick period times the number of workers.
//!
//! The ticker thread still ticks at the fixed tick, and the timers are armed only when
//! the executor's [`tick_period`](shoal_executor::Executor::tick_period) is shorter: with
//! a few processes the ticker costs nothing on the workers' cores, while a timer signal
//! interrupts the worker itself (measured: adaptive ticks from timers alone cost the
//! one-guest loop of `shoal bench overhead` 5–7% against the ticker, which then ran on
//! the idle second core). Each epoch callback compares the wanted period with the armed
//! one and re-arms (one system call) when they differ by more than a quarter.
//!
//! # Invariants
//! - The handler touches nothing but a `const`-initialised thread-local pointer and the
//!   epoch counter behind it. The pointer is set before the timer exists and cleared
//!   after it is deleted; the engine it points to outlives both (the hooks own a clone).
//! - `SA_RESTART`: an interrupted system call of the worker restarts where the kernel
//!   allows it; the few that cannot (a futex wait in parking) wake spuriously, which
//!   their callers handle. `SA_ONSTACK`: the handler runs on the alternate signal stack
//!   wasmtime installs, not on a guest's nearly full stack.

#![allow(unsafe_code)]

use std::cell::Cell;
use std::sync::Once;
use std::time::Duration;

use wasmtime::Engine;

/// Offset of the tick signal above `SIGRTMIN`. glibc keeps the real-time signals below
/// `SIGRTMIN()` for itself; applications that use real-time signals usually take the
/// first ones, so Shoal takes one further up.
const TICK_SIGNAL_OFFSET: libc::c_int = 6;

/// The signal the per-worker timers raise: `SIGRTMIN() + 6`.
pub fn tick_signal() -> libc::c_int {
    libc::SIGRTMIN() + TICK_SIGNAL_OFFSET
}

/// Re-arm when the wanted period differs from the armed one by more than 1/4 of it: the
/// period follows the runnable count without a system call at every tick.
const REARM_FRACTION: u32 = 4;

thread_local! {
    /// The engine whose epoch this thread's timer bumps; null when it has none.
    static ENGINE: Cell<*const Engine> = const { Cell::new(std::ptr::null()) };
    /// This thread's timer and its armed period.
    static TIMER: Cell<Option<(libc::timer_t, Duration)>> = const { Cell::new(None) };
}

extern "C" fn on_tick_signal(_: libc::c_int) {
    let engine = ENGINE.with(Cell::get);
    if !engine.is_null() {
        // SAFETY: the pointer is set by `start` to an engine its caller keeps alive until
        // after `stop` has cleared it (module invariants), and `increment_epoch` is
        // signal-safe.
        unsafe { (*engine).increment_epoch() };
    }
}

/// Installs the process-wide handler once.
fn install_handler() -> std::io::Result<()> {
    static INSTALL: Once = Once::new();
    let mut result = Ok(());
    INSTALL.call_once(|| {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler
        // is an `extern "C" fn(c_int)`, as `sa_sigaction` without SA_SIGINFO expects.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_tick_signal as *const () as usize;
        action.sa_flags = libc::SA_RESTART | libc::SA_ONSTACK;
        // SAFETY: `action` is initialised; the old action is not asked for.
        if unsafe { libc::sigaction(tick_signal(), &action, std::ptr::null_mut()) } != 0 {
            result = Err(std::io::Error::last_os_error());
        }
    });
    result
}

/// Gives the calling worker thread a timer that bumps `engine`'s epoch, disarmed until
/// [`adapt`] arms it. The caller keeps `engine` alive until after [`stop`] on this
/// thread.
pub(crate) fn start(engine: &Engine) -> std::io::Result<()> {
    install_handler()?;
    ENGINE.with(|e| e.set(engine));
    // SAFETY: zeroed is a valid sigevent; the fields that matter are set below.
    let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
    event.sigev_notify = libc::SIGEV_THREAD_ID;
    event.sigev_signo = tick_signal();
    // SAFETY: gettid has no preconditions.
    event.sigev_notify_thread_id = unsafe { libc::gettid() };
    let mut timer: libc::timer_t = std::ptr::null_mut();
    // SAFETY: `event` and `timer` are valid for the call; the kernel writes `timer`.
    if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut timer) } != 0 {
        ENGINE.with(|e| e.set(std::ptr::null()));
        return Err(std::io::Error::last_os_error());
    }
    TIMER.with(|t| t.set(Some((timer, Duration::ZERO))));
    Ok(())
}

/// Re-arms this thread's timer to `period` if it differs enough from the armed one, or
/// disarms it (`None`: the ticker thread's fixed tick is short enough).
pub(crate) fn adapt(period: Option<Duration>) {
    let Some((timer, armed)) = TIMER.with(Cell::get) else {
        return;
    };
    let period = period.unwrap_or(Duration::ZERO);
    let close = period.abs_diff(armed) <= armed / REARM_FRACTION;
    if period == armed || (close && period != Duration::ZERO && armed != Duration::ZERO) {
        return;
    }
    // A zero `it_value` disarms the timer.
    let spec = libc::itimerspec {
        it_interval: timespec(period),
        it_value: timespec(period),
    };
    // SAFETY: `timer` was created by `start` on this thread and not yet deleted.
    if unsafe { libc::timer_settime(timer, 0, &spec, std::ptr::null_mut()) } == 0 {
        TIMER.with(|t| t.set(Some((timer, period))));
    }
}

/// Deletes this thread's timer, then forgets the engine.
pub(crate) fn stop() {
    if let Some((timer, _)) = TIMER.with(|t| t.take()) {
        // SAFETY: created by `start` on this thread; deleted once (taken above).
        unsafe { libc::timer_delete(timer) };
    }
    ENGINE.with(|e| e.set(std::ptr::null()));
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
    }
}
