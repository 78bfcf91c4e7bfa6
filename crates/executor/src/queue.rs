//! Run queues: two classes, local deques, global injectors, stealing, parking.
//!
//! # Classes
//! A runnable process waits in one of two classes, and a worker always takes the *wake*
//! class first:
//!
//! - **wake**: a process that was waiting (receive, sleep) and was woken, and that has
//!   not used more than its fair share of CPU (see `schedule`) or is within its
//!   wake budget (see `process`). It waits behind
//!   other woken processes only, never behind CPU-bound ones, so wake-to-run latency does
//!   not grow with the number of hogs: it is bounded by the quantum (or, with epochs, the
//!   tick) that the workers are currently running.
//! - **run**: everything else: a process preempted at the end of its quantum, one that
//!   yielded, a new one, and a woken one that has had more than its share. This class is
//!   one global FIFO, so a process that yields goes behind *every* other runnable
//!   process of the runtime, on every worker: round-robin over the whole pool. There is
//!   no LIFO slot: a task that woke itself (a wasmtime yield does exactly that, see
//!   wasmtime #10667) never runs again before the others.
//!
//! # Local and global
//! A process woken by something running on a worker goes to that worker's local deque
//! (it is likely to talk to the waker, whose data is warm in that cache). Wakes from
//! outside any worker (the timer thread, the host) go to the global wake injector.
//! Another worker steals from a local deque only once it has held woken processes for
//! `worker::STEAL_DELAY` (counted from when it stopped being empty, `queued_since`),
//! and then before it takes the run FIFO: a waker usually blocks within a microsecond of
//! its send (a send, then a receive) and then runs the woken process itself, on the core
//! whose cache holds the message, where a thief would have moved every hop of a
//! conversation across cores. A waker that runs on instead loses the process to a
//! thief after the delay, or yields it the worker at its next epoch tick (the woken
//! process is wake-pending). A process woken with more than its share, which belongs to
//! the run class, goes to the waker's deque too when nothing at all is queued: it
//! overtakes no one there (`schedule`). The run class is global
//! because fairness across workers needs it: with local run queues, three hogs on two
//! workers would split 2:1 and one of them would get twice the CPU of the others.
//!
//! # Groups
//! The run class is one FIFO per group of processes, with CPU shared between the groups
//! by weight (`groups`); until a second group is made it is a single FIFO.
//!
//! # Generic over the task
//! [`Queues<T>`] never learns what it queues, as tokio's local queue does not: the
//! executor instantiates it with [`Task`], and the tests with whatever is easiest.
//!
//! # Counts and parking
//! `queued_wake` and `queued_run` count what is queued in each class; the epoch check
//! (`preempt`) reads them to decide whether a slice must end (a lone process runs on).
//! A push increments the count before it looks for a parked worker to wake (`idle` has
//! the other half of that handshake), so no wake-up is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use crossbeam_utils::CachePadded;
use crossbeam_utils::sync::Parker;

use crate::groups::{GroupId, Groups};
use crate::idle::Idle;
use crate::process::Process;

/// A scheduled process: async-task's runnable, with its process as metadata.
pub(crate) type Task = async_task::Runnable<Arc<Process>>;

/// Which queue a runnable process joins.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Woken after waiting, within its fair share: runs before CPU-bound work.
    Wake,
    /// Preempted, yielded, new, or over its share: the back of the global FIFO.
    Run,
}

/// A worker's own end of its local deque. Lives on the worker thread.
pub(crate) type LocalQueue<T> = Worker<T>;

/// All queues of an executor.
pub(crate) struct Queues<T> {
    /// Woken processes from outside any worker.
    wake: Injector<T>,
    /// The run class: a FIFO per group (see `groups`).
    pub(crate) run: Groups<T>,
    /// Steal ends of every worker's local deque, by worker index.
    stealers: Vec<Stealer<T>>,
    /// Per worker: when its deque last went from empty to not empty (clock ns), so that
    /// an idle worker can tell how long the oldest woken process there has waited.
    queued_since: Vec<CachePadded<AtomicU64>>,
    /// Processes queued in the wake class (local deques and injector).
    queued_wake: CachePadded<AtomicUsize>,
    /// Processes queued in the run class.
    queued_run: CachePadded<AtomicUsize>,
    /// Parked workers.
    idle: Idle,
}

/// Where a pop came from, for stats.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The worker's own deque or a global injector.
    Own,
    /// Another worker's deque.
    Stolen,
}

impl<T> Queues<T> {
    /// Queues for `workers` workers, and the local deques to hand to them (with a
    /// parker each).
    pub(crate) fn new(workers: usize) -> (Queues<T>, Vec<(LocalQueue<T>, Parker)>) {
        let mut locals = Vec::with_capacity(workers);
        let mut stealers = Vec::with_capacity(workers);
        let mut unparkers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let local = Worker::new_fifo();
            stealers.push(local.stealer());
            let parker = Parker::new();
            unparkers.push(parker.unparker().clone());
            locals.push((local, parker));
        }
        let queues = Queues {
            wake: Injector::new(),
            run: Groups::new(),
            stealers,
            queued_since: (0..workers)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            queued_wake: CachePadded::new(AtomicUsize::new(0)),
            queued_run: CachePadded::new(AtomicUsize::new(0)),
            idle: Idle::new(unparkers),
        };
        (queues, locals)
    }

    /// Queues `task` in `class` on a global queue (of `group`, for the run class), and
    /// unparks a worker if any is parked.
    pub(crate) fn push(&self, task: T, class: Class, group: GroupId) {
        match class {
            Class::Wake => {
                self.queued_wake.fetch_add(1, Ordering::SeqCst);
                self.wake.push(task);
            }
            Class::Run => {
                self.queued_run.fetch_add(1, Ordering::SeqCst);
                self.run.push(task, group);
            }
        }
        self.idle.notify_one();
    }

    /// Queues the woken `task` on worker `me`'s own deque `local` at clock time `now`, and
    /// unparks a worker if any is parked.
    pub(crate) fn push_local(&self, task: T, me: usize, local: &LocalQueue<T>, now: u64) {
        self.queued_wake.fetch_add(1, Ordering::SeqCst);
        if local.is_empty() {
            // Before the push: a thief that sees the task sees this time or a later one.
            self.queued_since[me].store(now, Ordering::Release);
        }
        local.push(task);
        self.idle.notify_one();
    }

    /// Whether some other worker's deque than `me`'s has held woken processes since
    /// `now - delay_ns` or earlier.
    pub(crate) fn overdue_elsewhere(&self, me: usize, now: u64, delay_ns: u64) -> bool {
        self.stealers.iter().enumerate().any(|(i, stealer)| {
            i != me
                && !stealer.is_empty()
                && now.saturating_sub(self.queued_since[i].load(Ordering::Acquire)) >= delay_ns
        })
    }

    /// The next process for worker `me`: its own deque, the wake injector, the other
    /// workers' deques if `steal`, then the run FIFO.
    pub(crate) fn pop(&self, me: usize, local: &LocalQueue<T>, steal: bool) -> Option<(T, Source)> {
        if let Some(popped) = self.pop_woken(me, local, steal) {
            return Some(popped);
        }
        if let Some(task) = self.run.pop() {
            self.queued_run.fetch_sub(1, Ordering::SeqCst);
            return Some((task, Source::Own));
        }
        None
    }

    /// The next woken process for worker `me`: its own deque, the wake injector, then the
    /// other workers' deques if `steal`.
    pub(crate) fn pop_woken(
        &self,
        me: usize,
        local: &LocalQueue<T>,
        steal: bool,
    ) -> Option<(T, Source)> {
        if let Some(task) = local.pop() {
            self.queued_wake.fetch_sub(1, Ordering::SeqCst);
            return Some((task, Source::Own));
        }
        if let Some(task) = steal_one(|| self.wake.steal()) {
            self.queued_wake.fetch_sub(1, Ordering::SeqCst);
            return Some((task, Source::Own));
        }
        let n = if steal { self.stealers.len() } else { 0 };
        for i in 1..n {
            let victim = &self.stealers[(me + i) % n];
            if let Some(task) = steal_one(|| victim.steal()) {
                self.queued_wake.fetch_sub(1, Ordering::SeqCst);
                return Some((task, Source::Stolen));
            }
        }
        None
    }

    /// A woken process is waiting for a worker.
    #[inline]
    pub(crate) fn wake_pending(&self) -> bool {
        self.queued_wake.load(Ordering::Relaxed) > 0
    }

    /// A process is waiting that a worker may take without stealing it from another's
    /// deque: a new, preempted or yielding one, or one woken from outside the workers.
    #[inline]
    pub(crate) fn unowned_pending(&self) -> bool {
        self.run_pending() || !self.wake.is_empty()
    }

    /// A preempted or new process is waiting for a worker.
    #[inline]
    pub(crate) fn run_pending(&self) -> bool {
        self.queued_run.load(Ordering::Relaxed) > 0
    }

    /// Processes queued in both classes.
    pub(crate) fn len(&self) -> usize {
        self.queued_wake.load(Ordering::SeqCst) + self.queued_run.load(Ordering::SeqCst)
    }

    /// Registers worker `me` as about to park. The caller must check for work again
    /// after this and before it parks.
    pub(crate) fn prepare_park(&self, me: usize) {
        self.idle.prepare_park(me);
    }

    /// Undoes [`prepare_park`](Self::prepare_park) if a notifier has not already.
    pub(crate) fn cancel_park(&self, me: usize) {
        self.idle.cancel_park(me);
    }

    /// Unparks every worker (start, shutdown).
    pub(crate) fn notify_all(&self) {
        self.idle.notify_all();
    }

    /// Drains every queue, returning the tasks (at shutdown, after the workers stopped).
    pub(crate) fn drain(&self) -> Vec<T> {
        let mut tasks = Vec::new();
        while let Some(t) = steal_one(|| self.wake.steal()) {
            tasks.push(t);
        }
        self.run.drain(&mut tasks);
        for stealer in &self.stealers {
            while let Some(t) = steal_one(|| stealer.steal()) {
                tasks.push(t);
            }
        }
        tasks
    }
}

fn steal_one<T>(mut steal: impl FnMut() -> Steal<T>) -> Option<T> {
    loop {
        match steal() {
            Steal::Success(task) => return Some(task),
            Steal::Empty => return None,
            Steal::Retry => std::hint::spin_loop(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The queues never look at what they hold: a number will do.
    type Q = Queues<u32>;

    const DELAY: u64 = 3_000;

    #[test]
    fn a_process_woken_onto_a_deque_is_overdue_for_others_only_after_the_delay() {
        let (queues, mut locals): (Q, _) = Queues::new(2);
        let (local0, _) = locals.remove(0);
        queues.push_local(1, 0, &local0, 100);
        assert!(queues.wake_pending());
        assert!(!queues.unowned_pending(), "a local wake needs a steal");
        assert!(!queues.overdue_elsewhere(1, 100 + DELAY - 1, DELAY));
        assert!(queues.overdue_elsewhere(1, 100 + DELAY, DELAY));
        assert!(
            !queues.overdue_elsewhere(0, 100 + DELAY, DELAY),
            "a worker's own deque is never overdue to itself"
        );
    }

    #[test]
    fn the_wait_is_counted_from_when_the_deque_stopped_being_empty() {
        let (queues, mut locals): (Q, _) = Queues::new(2);
        let (local0, _) = locals.remove(0);
        queues.push_local(1, 0, &local0, 100);
        // A second wake onto the non-empty deque does not restart the clock.
        queues.push_local(2, 0, &local0, 2_000);
        assert!(queues.overdue_elsewhere(1, 100 + DELAY, DELAY));
        // Emptied by its owner and woken onto again later: the clock starts again.
        while queues.pop(0, &local0, false).is_some() {}
        assert!(!queues.wake_pending());
        queues.push_local(3, 0, &local0, 10_000);
        assert!(!queues.overdue_elsewhere(1, 10_000 + DELAY - 1, DELAY));
        assert!(queues.overdue_elsewhere(1, 10_000 + DELAY, DELAY));
    }

    #[test]
    fn a_pop_without_stealing_leaves_other_deques_alone_and_takes_the_global_fifo() {
        let (queues, mut locals): (Q, _) = Queues::new(2);
        let (local0, _) = locals.remove(0);
        let (local1, _) = locals.remove(0);
        queues.push_local(1, 0, &local0, 0);
        assert!(queues.pop(1, &local1, false).is_none());
        queues.push(2, Class::Run, GroupId::DEFAULT);
        assert!(queues.unowned_pending());
        assert_eq!(queues.pop(1, &local1, false), Some((2, Source::Own)));
        assert_eq!(queues.pop(1, &local1, true), Some((1, Source::Stolen)));
        assert!(!queues.wake_pending());
    }

    #[test]
    fn the_wake_class_goes_before_the_run_fifo_and_each_is_fifo() {
        let (queues, mut locals): (Q, _) = Queues::new(1);
        let (local, _) = locals.remove(0);
        queues.push(1, Class::Run, GroupId::DEFAULT);
        queues.push(2, Class::Run, GroupId::DEFAULT);
        queues.push(3, Class::Wake, GroupId::DEFAULT);
        queues.push_local(4, 0, &local, 0);
        let order: Vec<u32> =
            std::iter::from_fn(|| queues.pop(0, &local, false).map(|(t, _)| t)).collect();
        assert_eq!(order, [4, 3, 1, 2]);
        assert_eq!(queues.len(), 0);
    }
}
