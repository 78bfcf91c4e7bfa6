//! Timers: sleeps, receive timeouts and deadlines.
//!
//! One min-heap of `(when, seq, waker)` entries serves both clocks. With a real clock a
//! dedicated timer thread waits on a condition variable until the earliest entry is due,
//! then wakes it; with a virtual clock the single worker fires due entries itself between
//! quanta, and when nothing is runnable it advances the clock to the earliest entry.
//! Entries with equal times fire in registration order (`seq`), which keeps the virtual
//! schedule deterministic.
//!
//! A [`Sleep`] that is dropped before it fires (a message arrived before the receive
//! timeout) marks its entry cancelled and counts it; the entry is discarded without
//! waking anyone when its time comes, or earlier, when cancelled entries make up more
//! than half of a large heap and a registration compacts it. A loop that receives with
//! a long timeout therefore holds a bounded number of dead entries, not one per message.
//!
//! With a real clock the workers fire due entries too, at every quantum boundary and
//! epoch tick: on a machine with as many workers as cores the timer thread competes with
//! CPU-bound workers for a core, and the operating system may let it wait a millisecond
//! or more. `next_due` caches the earliest time in an atomic, so the check costs a worker
//! one load per quantum.
//!
//! Shutdown: [`Timers::stop`] wakes the timer thread, which exits without firing the
//! rest; the processes still waiting are killed by the runtime, not by their timers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use parking_lot::{Condvar, Mutex};

use crate::clock::Clock;

/// One pending wake-up.
struct Entry {
    /// Clock reading (ns) at which it fires.
    when: u64,
    /// Registration order, to break ties deterministically.
    seq: u64,
    /// What to wake.
    waker: Waker,
    /// Set when the waiting future is dropped: fire silently.
    cancelled: Arc<AtomicBool>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.when, self.seq) == (other.when, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.when, self.seq).cmp(&(other.when, other.seq))
    }
}

#[derive(Default)]
struct Heap {
    entries: BinaryHeap<Reverse<Entry>>,
    next_seq: u64,
    stopped: bool,
}

/// What the timer heap holds ([`Executor::timers`](crate::Executor::timers)).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TimerCounts {
    /// Entries in the heap: live ones, and cancelled ones not yet discarded (bounded:
    /// a heap of at least 1,024 entries is compacted once more than half are cancelled).
    pub entries: usize,
    /// Entries whose waiter still waits: a sleep, a receive timeout, a deadline.
    pub live: usize,
}

/// The runtime's timers.
pub(crate) struct Timers {
    heap: Mutex<Heap>,
    /// Signalled when an earlier entry arrives or on stop.
    changed: Condvar,
    /// The earliest entry's time (`u64::MAX` if none), readable without the lock. It may
    /// name a cancelled entry; firing that is harmless.
    next_due: AtomicU64,
    /// Entries cancelled since the last compaction (an upper bound on dead entries).
    cancelled: AtomicUsize,
}

/// Heaps smaller than this are never compacted: dead entries cost little there.
const COMPACT_MIN_ENTRIES: usize = 1024;

impl Default for Timers {
    fn default() -> Self {
        Timers {
            heap: Mutex::default(),
            changed: Condvar::new(),
            next_due: AtomicU64::new(u64::MAX),
            cancelled: AtomicUsize::new(0),
        }
    }
}

impl Timers {
    /// Registers `waker` to be woken at clock reading `when`.
    pub(crate) fn register(&self, when: u64, waker: Waker, cancelled: Arc<AtomicBool>) {
        let mut heap = self.heap.lock();
        if heap.entries.len() >= COMPACT_MIN_ENTRIES
            && self.cancelled.load(Ordering::Relaxed) > heap.entries.len() / 2
        {
            self.cancelled.store(0, Ordering::Relaxed);
            heap.entries
                .retain(|Reverse(e)| !e.cancelled.load(Ordering::Acquire));
        }
        let seq = heap.next_seq;
        heap.next_seq += 1;
        let earliest = heap.entries.peek().is_none_or(|Reverse(e)| when < e.when);
        heap.entries.push(Reverse(Entry {
            when,
            seq,
            waker,
            cancelled,
        }));
        if earliest {
            self.next_due.store(when, Ordering::Release);
        }
        drop(heap);
        if earliest {
            self.changed.notify_one();
        }
    }

    /// Entries in the heap, live or cancelled.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap.lock().entries.len()
    }

    /// Entries in the heap, and how many of them are live (their waiter has not given
    /// up): a visit of every entry, for leak checks.
    pub(crate) fn counts(&self) -> TimerCounts {
        let heap = self.heap.lock();
        TimerCounts {
            entries: heap.entries.len(),
            live: heap
                .entries
                .iter()
                .filter(|Reverse(e)| !e.cancelled.load(Ordering::Acquire))
                .count(),
        }
    }

    /// The earliest live entry's time.
    pub(crate) fn next_due(&self) -> Option<u64> {
        let mut heap = self.heap.lock();
        while let Some(Reverse(e)) = heap.entries.peek() {
            if e.cancelled.load(Ordering::Acquire) {
                heap.entries.pop();
            } else {
                return Some(e.when);
            }
        }
        None
    }

    /// Wakes every entry due at `now`, in `(when, seq)` order. Returns how many woke.
    pub(crate) fn fire_due(&self, now: u64) -> usize {
        let mut due = Vec::new();
        {
            let mut heap = self.heap.lock();
            while heap.entries.peek().is_some_and(|Reverse(e)| e.when <= now) {
                let Reverse(e) = heap.entries.pop().expect("peeked");
                if !e.cancelled.load(Ordering::Acquire) {
                    due.push(e.waker);
                }
            }
            let next = heap.entries.peek().map_or(u64::MAX, |Reverse(e)| e.when);
            self.next_due.store(next, Ordering::Release);
        }
        let n = due.len();
        for waker in due {
            waker.wake();
        }
        n
    }

    /// Fires due entries if the cached earliest time has passed: the cheap check a worker
    /// makes between quanta.
    #[inline]
    pub(crate) fn fire_if_due(&self, now: u64) {
        if now >= self.next_due.load(Ordering::Acquire) {
            self.fire_due(now);
        }
    }

    /// The timer thread's loop, for a real clock. Returns after [`stop`](Self::stop).
    pub(crate) fn run(&self, clock: &Clock) {
        let mut heap = self.heap.lock();
        loop {
            if heap.stopped {
                return;
            }
            let next = heap.entries.peek().map(|Reverse(e)| e.when);
            match next {
                None => {
                    self.changed.wait(&mut heap);
                }
                Some(when) if when <= clock.now_ns() => {
                    drop(heap);
                    self.fire_due(clock.now_ns());
                    heap = self.heap.lock();
                }
                Some(when) => {
                    let until = clock
                        .instant_at(when)
                        .expect("the timer thread runs on a real clock");
                    self.changed.wait_until(&mut heap, until);
                }
            }
        }
    }

    /// Stops the timer thread.
    pub(crate) fn stop(&self) {
        self.heap.lock().stopped = true;
        self.changed.notify_all();
    }

    /// Drops every entry (at shutdown, after all processes have exited).
    pub(crate) fn clear(&self) {
        self.heap.lock().entries.clear();
        self.next_due.store(u64::MAX, Ordering::Release);
    }
}

/// A future that completes when the clock reads `when` or later.
pub(crate) struct Sleep<'a> {
    clock: &'a Clock,
    timers: &'a Timers,
    when: u64,
    /// Present once registered; set on drop so the entry fires silently.
    registration: Option<Arc<AtomicBool>>,
}

impl<'a> Sleep<'a> {
    pub(crate) fn until(clock: &'a Clock, timers: &'a Timers, when: u64) -> Self {
        Sleep {
            clock,
            timers,
            when,
            registration: None,
        }
    }
}

impl Future for Sleep<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.clock.now_ns() >= self.when {
            // Done: the entry, if still queued, fires silently and is not counted as
            // cancelled (it leaves the heap when its time comes, which is now).
            if let Some(cancelled) = self.registration.take() {
                cancelled.store(true, Ordering::Release);
            }
            return Poll::Ready(());
        }
        // A process is one task with one waker for its whole life, so one registration
        // is enough: a later poll of the same sleep would register the same waker.
        if self.registration.is_none() {
            let cancelled = Arc::new(AtomicBool::new(false));
            self.timers
                .register(self.when, cx.waker().clone(), cancelled.clone());
            self.registration = Some(cancelled);
        }
        Poll::Pending
    }
}

impl Drop for Sleep<'_> {
    fn drop(&mut self) {
        if let Some(cancelled) = &self.registration {
            cancelled.store(true, Ordering::Release);
            self.timers.cancelled.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn entries_fire_in_time_then_registration_order() {
        let t = Timers::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        struct Push(u32, Arc<Mutex<Vec<u32>>>);
        impl Wake for Push {
            fn wake(self: Arc<Self>) {
                self.1.lock().push(self.0);
            }
        }
        for (id, when) in [(1, 20), (2, 10), (3, 20), (4, 10)] {
            let w = Waker::from(Arc::new(Push(id, order.clone())));
            t.register(when, w, Arc::new(AtomicBool::new(false)));
        }
        assert_eq!(t.next_due(), Some(10));
        assert_eq!(t.fire_due(15), 2);
        assert_eq!(t.fire_due(20), 2);
        assert_eq!(*order.lock(), vec![2, 4, 1, 3]);
    }

    #[test]
    fn a_cancelled_entry_fires_silently() {
        let t = Timers::default();
        let (count, w) = waker();
        let cancel = Arc::new(AtomicBool::new(false));
        t.register(5, w, cancel.clone());
        cancel.store(true, Ordering::SeqCst);
        assert_eq!(t.next_due(), None);
        assert_eq!(t.fire_due(10), 0);
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn cancelled_sleeps_do_not_pile_up_in_the_heap() {
        let clock = Clock::virtual_at_zero();
        let timers = Timers::default();
        let (_count, w) = waker();
        let mut cx = Context::from_waker(&w);
        // A receive loop with a long timeout: every message cancels the timeout.
        for i in 0..100_000u64 {
            let mut s = std::pin::pin!(Sleep::until(&clock, &timers, 1_000_000 + i));
            assert!(s.as_mut().poll(&mut cx).is_pending());
        }
        assert!(
            timers.len() <= 2 * COMPACT_MIN_ENTRIES,
            "{} entries",
            timers.len()
        );
        assert_eq!(timers.next_due(), None, "every entry was cancelled");
    }

    #[test]
    fn sleep_on_a_virtual_clock_completes_when_time_is_advanced() {
        let clock = Clock::virtual_at_zero();
        let timers = Timers::default();
        let (count, w) = waker();
        let mut cx = Context::from_waker(&w);
        let mut s = std::pin::pin!(Sleep::until(&clock, &timers, 100));
        assert!(s.as_mut().poll(&mut cx).is_pending());
        clock.advance_to(timers.next_due().unwrap());
        assert_eq!(timers.fire_due(clock.now_ns()), 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(s.as_mut().poll(&mut cx).is_ready());
    }

    #[test]
    fn the_timer_thread_wakes_a_real_sleep() {
        let clock = Arc::new(Clock::real());
        let timers = Arc::new(Timers::default());
        let thread = {
            let (clock, timers) = (clock.clone(), timers.clone());
            std::thread::spawn(move || timers.run(&clock))
        };
        let when = clock.now_ns() + 2_000_000;
        futures::executor::block_on(Sleep::until(&clock, &timers, when));
        assert!(clock.now_ns() >= when);
        timers.stop();
        thread.join().unwrap();
    }
}
