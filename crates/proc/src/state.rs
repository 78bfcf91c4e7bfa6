//! The process lifecycle as a state machine.
//!
//! ```text
//! Spawning ──► Runnable ◄──► Running ──► Waiting(reason) ──► Runnable
//!    │            │             │              │
//!    └────────────┴─────────────┴──────────────┴──► Exiting ──► Exited
//! ```
//!
//! [`State::transition`] is the whole machine: the legal edges are listed there and
//! everything else, self-loops and `Waiting(a) → Waiting(b)` included, is an
//! [`IllegalTransition`]. Nothing leaves `Exited`.
//!
//! # The cell
//! [`StateCell`] holds a process's state and changes it only along legal edges, with one
//! compare-and-swap. Many threads may race on one cell: a worker finishing a quantum, a
//! sender waking the process, the host killing it. Each attempt validates the edge from
//! the state it actually saw, so exactly the legal interleavings win. A wake racing a
//! kill, for instance: the kill is legal from `Waiting` and from `Runnable`, so it always
//! wins; the wake wins only if it came first, and then the kill takes `Runnable →
//! Exiting`.
//!
//! # Time per state
//! The cell also accounts the time spent runnable, running and waiting (time spawning or
//! exiting is not accounted). The state and the clock reading of its last change share
//! one 64-bit word (state in the low [`STATE_BITS`] bits, the reading above them), so the
//! winner of a transition knows exactly when the state it left began: every interval is
//! attributed once, to the right state, however transitions race. The per-state totals
//! are then bumped with a plain load and store rather than a locked add, keeping the
//! CAS the only locked instruction on the once-a-quantum path. That add is exact unless
//! a thread stalls between winning its CAS and its add while the process goes round to
//! the same state and leaves it again; a few nanoseconds of accounting are then lost,
//! never a state. Clock readings are on a monotonic clock the caller chooses, in
//! nanoseconds, saturated at [`MAX_CLOCK_NS`].

use std::fmt;

use crate::sync::{AtomicU64, Ordering};

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

    /// The state's number in [`StateCell`]'s word (fits [`STATE_BITS`]).
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

    /// The inverse of [`encode`](Self::encode).
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

/// Low bits of the cell's word that hold the encoded state: 3 bits for 8 states.
const STATE_BITS: u32 = 3;

/// Mask of [`STATE_BITS`].
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;

/// Highest clock reading the cell's word can hold: 2^61 ns, about 73 years of a monotonic
/// clock. Later readings saturate.
pub(crate) const MAX_CLOCK_NS: u64 = u64::MAX >> STATE_BITS;

/// Packs a state and the clock reading of its start into one word.
fn pack(state: State, now_ns: u64) -> u64 {
    (now_ns.min(MAX_CLOCK_NS) << STATE_BITS) | u64::from(state.encode())
}

/// The state of a packed word.
fn state_of(word: u64) -> State {
    State::decode((word & STATE_MASK) as u8)
}

/// The clock reading of a packed word.
fn since_of(word: u64) -> u64 {
    word >> STATE_BITS
}

/// A process's state in one atomic word, with time accounting per state.
pub struct StateCell {
    /// The encoded [`State`] (low [`STATE_BITS`] bits) and the clock reading at which it
    /// was entered (the rest), changed together by one CAS.
    word: AtomicU64,
    /// Accumulated time in `Runnable`, up to the last change out of it.
    runnable_ns: AtomicU64,
    /// Accumulated time in `Running`, up to the last change out of it.
    running_ns: AtomicU64,
    /// Accumulated time in `Waiting(_)`, up to the last change out of it.
    waiting_ns: AtomicU64,
}

impl fmt::Debug for StateCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = self.word.load(Ordering::Acquire);
        f.debug_struct("StateCell")
            .field("state", &state_of(word))
            .field("since_ns", &since_of(word))
            .finish_non_exhaustive()
    }
}

impl StateCell {
    /// A cell in `Spawning`; `now_ns` is on a monotonic clock the caller chooses.
    pub fn new(now_ns: u64) -> StateCell {
        StateCell {
            word: AtomicU64::new(pack(State::Spawning, now_ns)),
            runnable_ns: AtomicU64::new(0),
            running_ns: AtomicU64::new(0),
            waiting_ns: AtomicU64::new(0),
        }
    }

    /// The current state.
    pub fn get(&self) -> State {
        state_of(self.word.load(Ordering::Acquire))
    }

    /// The total of an accounted state.
    fn bucket(&self, state: State) -> Option<&AtomicU64> {
        match state {
            State::Runnable => Some(&self.runnable_ns),
            State::Running => Some(&self.running_ns),
            State::Waiting(_) => Some(&self.waiting_ns),
            State::Spawning | State::Exiting | State::Exited => None,
        }
    }

    /// Adds the interval of the state just left (read from the word the winning CAS
    /// replaced) to that state's total. See the module notes for why a load and store.
    fn account(&self, left_word: u64, now_ns: u64) {
        if let Some(bucket) = self.bucket(state_of(left_word)) {
            let spent = now_ns.min(MAX_CLOCK_NS).saturating_sub(since_of(left_word));
            bucket.store(
                bucket.load(Ordering::Relaxed).saturating_add(spent),
                Ordering::Relaxed,
            );
        }
    }

    /// Moves to `to` along a legal edge from whatever the state is (CAS loop).
    #[must_use = "a transition outcome says whether the state actually changed"]
    pub fn transition(&self, to: State, now_ns: u64) -> Result<Transition, IllegalTransition> {
        self.transition_if(|_| true, to, now_ns)
    }

    /// Moves `from → to` only if the state is `from` now; otherwise (or if the edge is
    /// illegal) the error names the state actually found.
    #[must_use = "a transition outcome says whether the state actually changed"]
    pub fn transition_from(
        &self,
        from: State,
        to: State,
        now_ns: u64,
    ) -> Result<Transition, IllegalTransition> {
        self.transition_if(|current| current == from, to, now_ns)
    }

    /// The CAS loop behind both transitions: `expect` vets the state seen, the machine
    /// vets the edge, and the CAS retries only if the word changed in between.
    #[inline]
    fn transition_if(
        &self,
        expect: impl Fn(State) -> bool,
        to: State,
        now_ns: u64,
    ) -> Result<Transition, IllegalTransition> {
        let new = pack(to, now_ns);
        let mut current = self.word.load(Ordering::Acquire);
        loop {
            let from = state_of(current);
            if !expect(from) {
                return Err(IllegalTransition { from, to });
            }
            let t = from.transition(to)?;
            match self
                .word
                .compare_exchange_weak(current, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    self.account(current, now_ns);
                    return Ok(t);
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// `→ Runnable`.
    #[must_use = "a transition outcome says whether the state actually changed"]
    pub fn transition_to_runnable(&self, now_ns: u64) -> Result<Transition, IllegalTransition> {
        self.transition(State::Runnable, now_ns)
    }

    /// `→ Running`.
    #[must_use = "a transition outcome says whether the state actually changed"]
    pub fn transition_to_running(&self, now_ns: u64) -> Result<Transition, IllegalTransition> {
        self.transition(State::Running, now_ns)
    }

    /// `→ Waiting(reason)`.
    #[must_use = "a transition outcome says whether the state actually changed"]
    pub fn transition_to_waiting(
        &self,
        reason: WaitReason,
        now_ns: u64,
    ) -> Result<Transition, IllegalTransition> {
        self.transition(State::Waiting(reason), now_ns)
    }

    /// `→ Exiting`.
    #[must_use = "a transition outcome says whether the state actually changed"]
    pub fn transition_to_exiting(&self, now_ns: u64) -> Result<Transition, IllegalTransition> {
        self.transition(State::Exiting, now_ns)
    }

    /// `→ Exited`.
    #[must_use = "a transition outcome says whether the state actually changed"]
    pub fn transition_to_exited(&self, now_ns: u64) -> Result<Transition, IllegalTransition> {
        self.transition(State::Exited, now_ns)
    }

    /// Accumulated times, plus the current state's time up to `now_ns` if it is
    /// runnable, running or waiting.
    pub fn times(&self, now_ns: u64) -> StateTimes {
        let word = self.word.load(Ordering::Acquire);
        let mut t = StateTimes {
            runnable_ns: self.runnable_ns.load(Ordering::Relaxed),
            running_ns: self.running_ns.load(Ordering::Relaxed),
            waiting_ns: self.waiting_ns.load(Ordering::Relaxed),
        };
        let current = now_ns.min(MAX_CLOCK_NS).saturating_sub(since_of(word));
        match state_of(word) {
            State::Runnable => t.runnable_ns += current,
            State::Running => t.running_ns += current,
            State::Waiting(_) => t.waiting_ns += current,
            State::Spawning | State::Exiting | State::Exited => {}
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

    /// The legal edges as the lifecycle documents them, written out one by one.
    const DOCUMENTED_LEGAL: [(State, State); 16] = [
        (Spawning, Runnable),
        (Spawning, Exiting),
        (Runnable, Running),
        (Runnable, Exiting),
        (Running, Runnable),
        (Running, Waiting(Receive)),
        (Running, Waiting(Sleep)),
        (Running, Waiting(HostCall)),
        (Running, Exiting),
        (Waiting(Receive), Runnable),
        (Waiting(Receive), Exiting),
        (Waiting(Sleep), Runnable),
        (Waiting(Sleep), Exiting),
        (Waiting(HostCall), Runnable),
        (Waiting(HostCall), Exiting),
        (Exiting, Exited),
    ];

    #[test]
    fn the_legal_edges_of_all_64_pairs_are_exactly_the_documented_ones() {
        let mut pairs = 0;
        for a in ALL {
            for b in ALL {
                pairs += 1;
                let documented = DOCUMENTED_LEGAL.contains(&(a, b));
                match a.transition(b) {
                    Ok(t) => {
                        assert!(documented, "{a:?} -> {b:?} is legal but undocumented");
                        assert_eq!(t, Transition { from: a, to: b });
                    }
                    Err(e) => {
                        assert!(!documented, "{a:?} -> {b:?} is documented but illegal");
                        assert_eq!(e, IllegalTransition { from: a, to: b });
                    }
                }
            }
        }
        assert_eq!(pairs, 64);
    }

    #[test]
    fn encoding_round_trips_and_matches_the_documented_numbers() {
        for (n, s) in ALL.into_iter().enumerate() {
            assert_eq!(usize::from(s.encode()), n);
            assert_eq!(State::decode(s.encode()), s);
        }
    }

    #[test]
    fn only_exiting_and_exited_are_dead() {
        let dead: Vec<State> = ALL.into_iter().filter(|s| !s.is_alive()).collect();
        assert_eq!(dead, vec![Exiting, Exited]);
        let names: Vec<&str> = ALL.into_iter().map(State::name).collect();
        assert_eq!(
            names,
            [
                "spawning", "runnable", "running", "waiting", "waiting", "waiting", "exiting",
                "exited"
            ]
        );
    }

    /// One test per illegal edge, plus [`ILLEGAL_EDGES`] listing the edges tested.
    macro_rules! illegal {
        ($($name:ident: $from:expr => $to:expr;)*) => {
        /// Every edge that has an `illegal!` test.
        const ILLEGAL_EDGES: &[(State, State)] = &[$(($from, $to)),*];
        $(
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
            .collect::<Vec<_>>();
        assert_eq!(illegal.len(), 64 - DOCUMENTED_LEGAL.len());
        for edge in &illegal {
            assert!(ILLEGAL_EDGES.contains(edge), "{edge:?} has no test");
        }
        assert_eq!(
            ILLEGAL_EDGES.len(),
            illegal.len(),
            "an edge is tested twice"
        );
    }

    #[test]
    fn the_cell_accounts_time_in_each_state() {
        let c = StateCell::new(0);
        let _ = c.transition_to_runnable(10).unwrap();
        let _ = c.transition_to_running(15).unwrap();
        let _ = c.transition_to_waiting(Receive, 45).unwrap();
        let _ = c.transition_to_runnable(145).unwrap();
        assert_eq!(
            c.times(150),
            StateTimes {
                runnable_ns: 5 + 5,
                running_ns: 30,
                waiting_ns: 100
            }
        );
        let _ = c.transition_to_running(150).unwrap();
        let _ = c.transition_to_waiting(Sleep, 160).unwrap();
        let _ = c.transition_to_waiting(HostCall, 170).unwrap_err();
        let _ = c.transition_to_runnable(200).unwrap();
        let _ = c.transition_to_exiting(201).unwrap();
        let _ = c.transition_to_exited(1_000).unwrap();
        // Spawning (0..10) and Exiting (201..1000) are not accounted; Exited adds nothing.
        assert_eq!(
            c.times(5_000),
            StateTimes {
                runnable_ns: 10 + 1,
                running_ns: 30 + 10,
                waiting_ns: 100 + 40
            }
        );
    }

    #[test]
    fn an_illegal_transition_accounts_nothing() {
        let c = StateCell::new(0);
        let _ = c.transition_to_runnable(10).unwrap();
        let _ = c.transition_to_exited(50).unwrap_err();
        assert_eq!(c.times(60).runnable_ns, 50);
    }

    #[test]
    fn a_clock_past_the_word_saturates_instead_of_wrapping() {
        let c = StateCell::new(MAX_CLOCK_NS - 10);
        let _ = c.transition_to_runnable(MAX_CLOCK_NS - 10).unwrap();
        assert_eq!(c.times(u64::MAX).runnable_ns, 10);
        let _ = c.transition_to_running(u64::MAX).unwrap();
        assert_eq!(c.get(), Running);
        assert_eq!(c.times(u64::MAX).runnable_ns, 10);
    }

    #[test]
    fn transition_from_fails_when_the_state_differs() {
        let c = StateCell::new(0);
        let err = c.transition_from(Running, Runnable, 1).unwrap_err();
        assert_eq!(
            err,
            IllegalTransition {
                from: Spawning,
                to: Runnable
            }
        );
        assert_eq!(c.get(), Spawning);
        assert_eq!(
            c.transition_from(Spawning, Runnable, 1),
            Ok(Transition {
                from: Spawning,
                to: Runnable
            })
        );
        // Right state, illegal edge: refused too.
        let err = c.transition_from(Runnable, Exited, 2).unwrap_err();
        assert_eq!(err.from, Runnable);
        assert_eq!(c.get(), Runnable);
    }

    #[test]
    fn racing_wakes_and_kills_leave_one_legal_history() {
        for _ in 0..200 {
            let c = std::sync::Arc::new(StateCell::new(0));
            force(&c, Waiting(Receive));
            let waker = {
                let c = c.clone();
                std::thread::spawn(move || c.transition_from(Waiting(Receive), Runnable, 1).is_ok())
            };
            let killed = c.transition_to_exiting(1).is_ok();
            let woke = waker.join().unwrap();
            assert!(killed);
            assert_eq!(c.get(), Exiting);
            let t = c.times(10);
            assert_eq!(t.runnable_ns + t.waiting_ns, 1, "woke: {woke}");
        }
    }
}
