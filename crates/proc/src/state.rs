//! The process lifecycle as a state machine.
//!
//! ```text
//! Spawning ──► Runnable ◄──► Running ──► Waiting(reason) ──► Runnable
//!    │            │             │              │
//!    └────────────┴─────────────┴──────────────┴──► Exiting ──► Exited
//! ```
//!
//! [`State::transition`] is the whole machine: the legal edges are listed there and
//! everything else, self-loops included, is an [`IllegalTransition`]. [`StateCell`] holds
//! a process's state in one atomic byte, changes it only along legal edges (a CAS loop),
//! and accounts the time spent runnable, running and waiting. Once `Exited`, never
//! anything else.

use crate::sync::{AtomicU8, AtomicU64, Ordering};

/// Why a process waits.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum WaitReason {
    /// In a receive, for a message.
    Receive,
    /// In a sleep, for a timer.
    Sleep,
    /// In an async host call.
    HostCall,
}

/// Where a process is in its life.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum State {
    /// Created, not yet scheduled.
    Spawning,
    /// Queued for a worker.
    Runnable,
    /// On a worker.
    Running,
    /// Blocked, holding no worker.
    Waiting(WaitReason),
    /// Ended; its exit is being recorded.
    Exiting,
    /// Ended; its exit is published.
    Exited,
}

/// A legal change of state.
#[must_use = "a transition outcome says whether the state actually changed"]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
}

/// An edge the lifecycle does not have.
#[derive(Copy, Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("illegal process state transition {from:?} -> {to:?}")]
pub struct IllegalTransition {
    /// The state it was in.
    pub from: State,
    /// The state asked for.
    pub to: State,
}

impl State {
    /// Lower-case name, as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            State::Spawning => "spawning",
            State::Runnable => "runnable",
            State::Running => "running",
            State::Waiting(_) => "waiting",
            State::Exiting => "exiting",
            State::Exited => "exited",
        }
    }

    /// False once the process has ended.
    pub fn is_alive(self) -> bool {
        !matches!(self, State::Exiting | State::Exited)
    }

    /// The transition function. Legal edges, and only these:
    /// `Spawning → Runnable | Exiting`, `Runnable → Running | Exiting`,
    /// `Running → Runnable | Waiting(_) | Exiting`, `Waiting(_) → Runnable | Exiting`,
    /// `Exiting → Exited`.
    pub fn transition(self, to: State) -> Result<Transition, IllegalTransition> {
        use State::*;
        let legal = matches!(
            (self, to),
            (Spawning, Runnable)
                | (Spawning, Exiting)
                | (Runnable, Running)
                | (Runnable, Exiting)
                | (Running, Runnable)
                | (Running, Waiting(_))
                | (Running, Exiting)
                | (Waiting(_), Runnable)
                | (Waiting(_), Exiting)
                | (Exiting, Exited)
        );
        if legal {
            Ok(Transition { from: self, to })
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }

    fn encode(self) -> u8 {
        match self {
            State::Spawning => 0,
            State::Runnable => 1,
            State::Running => 2,
            State::Waiting(WaitReason::Receive) => 3,
            State::Waiting(WaitReason::Sleep) => 4,
            State::Waiting(WaitReason::HostCall) => 5,
            State::Exiting => 6,
            State::Exited => 7,
        }
    }

    fn decode(byte: u8) -> State {
        match byte {
            0 => State::Spawning,
            1 => State::Runnable,
            2 => State::Running,
            3 => State::Waiting(WaitReason::Receive),
            4 => State::Waiting(WaitReason::Sleep),
            5 => State::Waiting(WaitReason::HostCall),
            6 => State::Exiting,
            7 => State::Exited,
            _ => unreachable!("state byte {byte} was never encoded"),
        }
    }
}

/// Time spent in each accounted state, in nanoseconds.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct StateTimes {
    /// Queued for a worker.
    pub runnable_ns: u64,
    /// On a worker.
    pub running_ns: u64,
    /// Blocked.
    pub waiting_ns: u64,
}

/// A process's state in one atomic byte, with time accounting per state.
pub struct StateCell {
    /// The encoded [`State`].
    state: AtomicU8,
    /// Clock reading of the last change.
    last_change_ns: AtomicU64,
    /// Accumulated time in `Runnable`.
    runnable_ns: AtomicU64,
    /// Accumulated time in `Running`.
    running_ns: AtomicU64,
    /// Accumulated time in `Waiting`.
    waiting_ns: AtomicU64,
}

impl StateCell {
    /// A cell in `Spawning`; `now_ns` is on a monotonic clock the caller chooses.
    pub fn new(now_ns: u64) -> StateCell {
        StateCell {
            state: AtomicU8::new(State::Spawning.encode()),
            last_change_ns: AtomicU64::new(now_ns),
            runnable_ns: AtomicU64::new(0),
            running_ns: AtomicU64::new(0),
            waiting_ns: AtomicU64::new(0),
        }
    }

    /// The current state.
    pub fn get(&self) -> State {
        State::decode(self.state.load(Ordering::Acquire))
    }

    fn bucket(&self, state: State) -> Option<&AtomicU64> {
        match state {
            State::Runnable => Some(&self.runnable_ns),
            State::Running => Some(&self.running_ns),
            State::Waiting(_) => Some(&self.waiting_ns),
            _ => None,
        }
    }

    /// Adds the time since the last change to the bucket of the state left. Transitions
    /// of one process are serialised by the scheduler (one CAS winner at a time, and the
    /// task runs on one worker at a time), so the accounting uses plain loads and stores:
    /// no locked instruction beyond the CAS on the hot path.
    fn account(&self, left: State, now_ns: u64) {
        let last = self.last_change_ns.load(Ordering::Relaxed);
        self.last_change_ns.store(now_ns, Ordering::Relaxed);
        if let Some(bucket) = self.bucket(left) {
            let spent = now_ns.saturating_sub(last);
            bucket.store(bucket.load(Ordering::Relaxed) + spent, Ordering::Relaxed);
        }
    }

    /// Moves to `to` along a legal edge from whatever the state is (CAS loop).
    pub fn transition(&self, to: State, now_ns: u64) -> Result<Transition, IllegalTransition> {
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let t = State::decode(current).transition(to)?;
            match self.state.compare_exchange_weak(
                current,
                to.encode(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.account(t.from, now_ns);
                    return Ok(t);
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Moves `from → to` only if the state is `from` now.
    pub fn transition_from(
        &self,
        from: State,
        to: State,
        now_ns: u64,
    ) -> Result<Transition, IllegalTransition> {
        let t = from.transition(to)?;
        match self.state.compare_exchange(
            from.encode(),
            to.encode(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                self.account(from, now_ns);
                Ok(t)
            }
            Err(actual) => Err(IllegalTransition {
                from: State::decode(actual),
                to,
            }),
        }
    }

    /// `→ Runnable`.
    pub fn transition_to_runnable(&self, now_ns: u64) -> Result<Transition, IllegalTransition> {
        self.transition(State::Runnable, now_ns)
    }

    /// `→ Running`.
    pub fn transition_to_running(&self, now_ns: u64) -> Result<Transition, IllegalTransition> {
        self.transition(State::Running, now_ns)
    }

    /// `→ Waiting(reason)`.
    pub fn transition_to_waiting(
        &self,
        reason: WaitReason,
        now_ns: u64,
    ) -> Result<Transition, IllegalTransition> {
        self.transition(State::Waiting(reason), now_ns)
    }

    /// `→ Exiting`.
    pub fn transition_to_exiting(&self, now_ns: u64) -> Result<Transition, IllegalTransition> {
        self.transition(State::Exiting, now_ns)
    }

    /// `→ Exited`.
    pub fn transition_to_exited(&self, now_ns: u64) -> Result<Transition, IllegalTransition> {
        self.transition(State::Exited, now_ns)
    }

    /// Accumulated times, including the current state's time up to `now_ns`.
    pub fn times(&self, now_ns: u64) -> StateTimes {
        let mut t = StateTimes {
            runnable_ns: self.runnable_ns.load(Ordering::Relaxed),
            running_ns: self.running_ns.load(Ordering::Relaxed),
            waiting_ns: self.waiting_ns.load(Ordering::Relaxed),
        };
        let since = now_ns.saturating_sub(self.last_change_ns.load(Ordering::Relaxed));
        match self.get() {
            State::Runnable => t.runnable_ns += since,
            State::Running => t.running_ns += since,
            State::Waiting(_) => t.waiting_ns += since,
            _ => {}
        }
        t
    }
}

#[cfg(all(test, not(shoal_loom)))]
mod tests {
    use super::*;
    use State::*;
    use WaitReason::*;

    const ALL: [State; 8] = [
        Spawning,
        Runnable,
        Running,
        Waiting(Receive),
        Waiting(Sleep),
        Waiting(HostCall),
        Exiting,
        Exited,
    ];

    #[test]
    fn the_legal_edges_are_exactly_the_documented_ten_kinds() {
        let legal: Vec<(State, State)> = ALL
            .iter()
            .flat_map(|&a| ALL.iter().map(move |&b| (a, b)))
            .filter(|&(a, b)| a.transition(b).is_ok())
            .collect();
        // 2 from Spawning, 2 from Runnable, 2 + 3 waits from Running,
        // 2 from each of 3 waits, 1 from Exiting.
        assert_eq!(legal.len(), 2 + 2 + 5 + 6 + 1);
        for (a, b) in legal {
            assert!(
                matches!(
                    (a, b),
                    (Spawning, Runnable | Exiting)
                        | (Runnable, Running | Exiting)
                        | (Running, Runnable | Waiting(_) | Exiting)
                        | (Waiting(_), Runnable | Exiting)
                        | (Exiting, Exited)
                ),
                "{a:?} -> {b:?}"
            );
        }
    }

    macro_rules! illegal {
        ($($name:ident: $from:expr => $to:expr;)*) => {$(
            #[test]
            fn $name() {
                let cell = StateCell::new(0);
                let err = $from.transition($to).expect_err("edge must be illegal");
                assert_eq!(err, IllegalTransition { from: $from, to: $to });
                // The cell refuses it too, and stays where it was.
                force(&cell, $from);
                assert!(cell.transition($to, 1).is_err());
                assert_eq!(cell.get(), $from);
            }
        )*};
    }

    /// Drives a cell to `target` along legal edges.
    fn force(cell: &StateCell, target: State) {
        let path: &[State] = match target {
            Spawning => &[],
            Runnable => &[Runnable],
            Running => &[Runnable, Running],
            Waiting(r) => &[Runnable, Running, Waiting(r)],
            Exiting => &[Exiting],
            Exited => &[Exiting, Exited],
        };
        for &s in path {
            let _ = cell.transition(s, 0).unwrap();
        }
        assert_eq!(cell.get(), target);
    }

    illegal! {
        spawning_to_spawning_is_illegal: Spawning => Spawning;
        spawning_to_running_is_illegal: Spawning => Running;
        spawning_to_waiting_receive_is_illegal: Spawning => Waiting(Receive);
        spawning_to_waiting_sleep_is_illegal: Spawning => Waiting(Sleep);
        spawning_to_waiting_host_call_is_illegal: Spawning => Waiting(HostCall);
        spawning_to_exited_is_illegal: Spawning => Exited;
        runnable_to_spawning_is_illegal: Runnable => Spawning;
        runnable_to_runnable_is_illegal: Runnable => Runnable;
        runnable_to_waiting_receive_is_illegal: Runnable => Waiting(Receive);
        runnable_to_waiting_sleep_is_illegal: Runnable => Waiting(Sleep);
        runnable_to_waiting_host_call_is_illegal: Runnable => Waiting(HostCall);
        runnable_to_exited_is_illegal: Runnable => Exited;
        running_to_spawning_is_illegal: Running => Spawning;
        running_to_running_is_illegal: Running => Running;
        running_to_exited_is_illegal: Running => Exited;
        waiting_receive_to_spawning_is_illegal: Waiting(Receive) => Spawning;
        waiting_receive_to_running_is_illegal: Waiting(Receive) => Running;
        waiting_receive_to_waiting_receive_is_illegal: Waiting(Receive) => Waiting(Receive);
        waiting_receive_to_waiting_sleep_is_illegal: Waiting(Receive) => Waiting(Sleep);
        waiting_receive_to_waiting_host_call_is_illegal: Waiting(Receive) => Waiting(HostCall);
        waiting_receive_to_exited_is_illegal: Waiting(Receive) => Exited;
        waiting_sleep_to_spawning_is_illegal: Waiting(Sleep) => Spawning;
        waiting_sleep_to_running_is_illegal: Waiting(Sleep) => Running;
        waiting_sleep_to_waiting_receive_is_illegal: Waiting(Sleep) => Waiting(Receive);
        waiting_sleep_to_waiting_sleep_is_illegal: Waiting(Sleep) => Waiting(Sleep);
        waiting_sleep_to_waiting_host_call_is_illegal: Waiting(Sleep) => Waiting(HostCall);
        waiting_sleep_to_exited_is_illegal: Waiting(Sleep) => Exited;
        waiting_host_call_to_spawning_is_illegal: Waiting(HostCall) => Spawning;
        waiting_host_call_to_running_is_illegal: Waiting(HostCall) => Running;
        waiting_host_call_to_waiting_receive_is_illegal: Waiting(HostCall) => Waiting(Receive);
        waiting_host_call_to_waiting_sleep_is_illegal: Waiting(HostCall) => Waiting(Sleep);
        waiting_host_call_to_waiting_host_call_is_illegal: Waiting(HostCall) => Waiting(HostCall);
        waiting_host_call_to_exited_is_illegal: Waiting(HostCall) => Exited;
        exiting_to_spawning_is_illegal: Exiting => Spawning;
        exiting_to_runnable_is_illegal: Exiting => Runnable;
        exiting_to_running_is_illegal: Exiting => Running;
        exiting_to_waiting_receive_is_illegal: Exiting => Waiting(Receive);
        exiting_to_waiting_sleep_is_illegal: Exiting => Waiting(Sleep);
        exiting_to_waiting_host_call_is_illegal: Exiting => Waiting(HostCall);
        exiting_to_exiting_is_illegal: Exiting => Exiting;
        exited_to_spawning_is_illegal: Exited => Spawning;
        exited_to_runnable_is_illegal: Exited => Runnable;
        exited_to_running_is_illegal: Exited => Running;
        exited_to_waiting_receive_is_illegal: Exited => Waiting(Receive);
        exited_to_waiting_sleep_is_illegal: Exited => Waiting(Sleep);
        exited_to_waiting_host_call_is_illegal: Exited => Waiting(HostCall);
        exited_to_exiting_is_illegal: Exited => Exiting;
        exited_to_exited_is_illegal: Exited => Exited;
    }

    #[test]
    fn every_illegal_edge_has_its_own_test() {
        let illegal = ALL
            .iter()
            .flat_map(|&a| ALL.iter().map(move |&b| (a, b)))
            .filter(|&(a, b)| a.transition(b).is_err())
            .count();
        assert_eq!(illegal, 64 - 16);
        assert_eq!(illegal, 48, "the illegal! list above names 48 edges");
    }

    #[test]
    fn the_cell_accounts_time_in_each_state() {
        let c = StateCell::new(0);
        let _ = c.transition_to_runnable(10).unwrap();
        let _ = c.transition_to_running(15).unwrap();
        let _ = c.transition_to_waiting(Receive, 45).unwrap();
        let _ = c.transition_to_runnable(145).unwrap();
        let t = c.times(150);
        assert_eq!(
            t,
            StateTimes {
                runnable_ns: 5 + 5,
                running_ns: 30,
                waiting_ns: 100
            }
        );
    }

    #[test]
    fn transition_from_fails_when_the_state_differs() {
        let c = StateCell::new(0);
        let err = c.transition_from(Running, Runnable, 1).unwrap_err();
        assert_eq!(err.from, Spawning);
        assert_eq!(c.get(), Spawning);
        assert!(c.transition_from(Spawning, Runnable, 1).is_ok());
    }
}
