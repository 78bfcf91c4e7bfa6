//! The schedule trace: what ran where and when, for a person to look at.
//!
//! When the config asks for one (`Config::trace_events`, set by the runtime builder's
//! `trace`), every quantum (worker, pid, start, end and how it ended) and every spawn,
//! exit and wake-up is recorded. [`Executor::take_trace`](crate::Executor::take_trace)
//! returns the record; `shoal bench --trace` writes it as Chrome Trace Event JSON for
//! Perfetto.
//!
//! # Bounded
//! Each worker, and the other threads together (host threads, the timer thread), record
//! into their own ring of at most `max_events / (workers + 1)` events. A full ring drops
//! its *oldest* event, so a long run keeps its most recent stretch, on every track over
//! the same span of time, and says how many events it dropped. A ten-second run of
//! thousands of processes thus stays a file a browser opens.
//!
//! # Cost
//! Off (the default), the hot path pays one branch on an `Option`. On, each event takes
//! the recording thread's own uncontended lock and writes 40 bytes into a preallocated
//! ring: no allocation, no I/O while the runtime runs.

use std::collections::VecDeque;

use parking_lot::Mutex;
use shoal_proc::{Pid, State};

/// What a trace event records.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceKind {
    /// A quantum: the process ran from `start_ns` to `end_ns`, then was in state `after`.
    Quantum {
        /// The process's state when the quantum ended: `Runnable` (preempted or yielded),
        /// `Waiting` (blocked), or `Exited`.
        after: State,
    },
    /// The process was spawned.
    Spawn,
    /// The process exited.
    Exit,
    /// The process was woken from a wait (message, timer, kill).
    Wake,
}

/// Where an event happened.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Track {
    /// On worker thread `index`.
    Worker(usize),
    /// On a thread that is not a worker: host code, the timer thread.
    Other,
}

/// One recorded event. Times are on the runtime's clock (nanoseconds since it started;
/// virtual in deterministic mode). Instants have `end_ns == start_ns`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// What happened.
    pub kind: TraceKind,
    /// To which process.
    pub pid: Pid,
    /// On which thread.
    pub track: Track,
    /// When it began.
    pub start_ns: u64,
    /// When it ended.
    pub end_ns: u64,
}

/// A trace taken from a runtime: events ordered by start time.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// The recorded events, oldest first.
    pub events: Vec<TraceEvent>,
    /// Events dropped because a ring was full (the oldest ones).
    pub dropped: u64,
    /// Worker threads of the runtime.
    pub workers: usize,
}

/// Smallest ring per track: below this a trace says too little to be worth taking.
const MIN_RING: usize = 1024;

struct Ring {
    events: VecDeque<TraceEvent>,
    cap: usize,
    dropped: u64,
}

/// The runtime's recorder: one ring per worker, and one for every other thread.
pub(crate) struct Recorder {
    rings: Box<[Mutex<Ring>]>,
    workers: usize,
}

impl Recorder {
    pub(crate) fn new(workers: usize, max_events: usize) -> Self {
        let cap = (max_events / (workers + 1)).max(MIN_RING);
        Recorder {
            rings: (0..=workers)
                .map(|_| {
                    Mutex::new(Ring {
                        events: VecDeque::with_capacity(cap),
                        cap,
                        dropped: 0,
                    })
                })
                .collect(),
            workers,
        }
    }

    fn record(&self, event: TraceEvent) {
        let index = match event.track {
            Track::Worker(i) => i.min(self.workers),
            Track::Other => self.workers,
        };
        let mut ring = self.rings[index].lock();
        if ring.events.len() == ring.cap {
            ring.events.pop_front();
            ring.dropped += 1;
        }
        ring.events.push_back(event);
    }

    /// A quantum that ran on worker `worker`.
    pub(crate) fn quantum(
        &self,
        worker: usize,
        pid: Pid,
        start_ns: u64,
        end_ns: u64,
        after: State,
    ) {
        self.record(TraceEvent {
            kind: TraceKind::Quantum { after },
            pid,
            track: Track::Worker(worker),
            start_ns,
            end_ns,
        });
    }

    /// An instant on the calling thread's track.
    pub(crate) fn instant(&self, kind: TraceKind, pid: Pid, track: Track, now_ns: u64) {
        self.record(TraceEvent {
            kind,
            pid,
            track,
            start_ns: now_ns,
            end_ns: now_ns,
        });
    }

    /// Drains every ring into one trace, ordered by start time.
    pub(crate) fn take(&self) -> Trace {
        let mut trace = Trace {
            workers: self.workers,
            ..Trace::default()
        };
        for ring in self.rings.iter() {
            let mut ring = ring.lock();
            trace.events.extend(ring.events.drain(..));
            trace.dropped += std::mem::take(&mut ring.dropped);
        }
        trace.events.sort_by_key(|e| (e.start_ns, e.end_ns));
        trace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(i: u32) -> Pid {
        Pid::new(i, 0)
    }

    #[test]
    fn a_full_ring_drops_its_oldest_events_and_counts_them() {
        let recorder = Recorder::new(1, 2 * MIN_RING);
        for i in 0..(MIN_RING as u64 + 10) {
            recorder.quantum(0, pid(1), i, i + 1, State::Runnable);
        }
        let trace = recorder.take();
        assert_eq!(trace.events.len(), MIN_RING);
        assert_eq!(trace.dropped, 10);
        assert_eq!(trace.events[0].start_ns, 10, "the oldest ten went");
    }

    #[test]
    fn take_merges_tracks_in_time_order_and_empties_the_rings() {
        let recorder = Recorder::new(2, 0);
        recorder.quantum(1, pid(1), 30, 40, State::Runnable);
        recorder.quantum(0, pid(2), 10, 20, State::Runnable);
        recorder.instant(TraceKind::Spawn, pid(3), Track::Other, 5);
        let trace = recorder.take();
        let starts: Vec<u64> = trace.events.iter().map(|e| e.start_ns).collect();
        assert_eq!(starts, [5, 10, 30]);
        assert_eq!(trace.events[0].track, Track::Other);
        assert!(recorder.take().events.is_empty());
    }
}
