//! The runtime's clock: real (monotonic, from the runtime's start) or virtual.
//!
//! Every time a guest can see (`now`, `sleep`, receive timeouts, deadlines) is read from
//! here, in nanoseconds since the runtime started. In deterministic mode the clock is
//! virtual: it advances by the fuel each quantum consumed ([`NS_PER_FUEL`]) and, when
//! every process is blocked, jumps to the next timer. Nothing real leaks in, so the same
//! program gives the same schedule on every run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Virtual nanoseconds per unit of fuel: one wasm operator is about a nanosecond of work
/// on current cores, so virtual time runs at roughly the speed of real time.
pub const NS_PER_FUEL: u64 = 1;

/// A monotonic clock in nanoseconds since the runtime started.
pub(crate) enum Clock {
    /// Wall-clock time.
    Real {
        /// The runtime's start; time 0.
        start: Instant,
    },
    /// Time that moves only when the scheduler moves it.
    Virtual {
        /// Current virtual time.
        now: AtomicU64,
    },
}

impl Clock {
    pub(crate) fn real() -> Self {
        Clock::Real {
            start: Instant::now(),
        }
    }

    pub(crate) fn virtual_at_zero() -> Self {
        Clock::Virtual {
            now: AtomicU64::new(0),
        }
    }

    /// Nanoseconds since the runtime started.
    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        match self {
            Clock::Real { start } => duration_ns(start.elapsed()),
            Clock::Virtual { now } => now.load(Ordering::Acquire),
        }
    }

    pub(crate) fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual { .. })
    }

    /// Moves virtual time forward to `to` (never backwards). A no-op on a real clock.
    pub(crate) fn advance_to(&self, to: u64) {
        if let Clock::Virtual { now } = self {
            now.fetch_max(to, Ordering::AcqRel);
        }
    }

    /// The instant at which the real clock reads `ns`; `None` for a virtual clock.
    pub(crate) fn instant_at(&self, ns: u64) -> Option<Instant> {
        match self {
            Clock::Real { start } => Some(*start + std::time::Duration::from_nanos(ns)),
            Clock::Virtual { .. } => None,
        }
    }
}

/// A duration in nanoseconds, saturating at `u64::MAX` (584 years).
pub fn duration_ns(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// CPU time the calling thread has run, in nanoseconds: unlike the clock, it does not
/// advance while the kernel has taken the thread's core away.
pub(crate) fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    (t.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(t.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_moves_only_when_told_and_never_backwards() {
        let c = Clock::virtual_at_zero();
        assert_eq!(c.now_ns(), 0);
        c.advance_to(5);
        c.advance_to(3);
        assert_eq!(c.now_ns(), 5);
        c.advance_to(9);
        assert_eq!(c.now_ns(), 9);
        assert!(c.instant_at(1).is_none());
    }

    #[test]
    fn real_clock_is_monotonic() {
        let c = Clock::real();
        let a = c.now_ns();
        let b = c.now_ns();
        assert!(b >= a);
    }
}
