//! Shoal's executor: processes run fairly on a fixed pool of worker threads.
//!
//! # What it owns
//! The process record ([`Process`]: the `proc` core plus what scheduling needs), the
//! task that runs it ([`Run`], polled once per quantum), the run queues, the workers and
//! their parking, the clock (real or virtual), timers, fair-share accounting, the exit
//! sequence, the schedule hash of deterministic mode and the schedule trace.
//!
//! # What it may import
//! `shoal-proc` (pids, states, mailboxes, relations, the table) and general-purpose crates
//! (async-task, crossbeam, parking_lot, futures). Never wasmtime, and never the layers
//! above it: it is a crate of its own so that the compiler says so. A wasm guest and a
//! native process are both just a [`Run`] here; the layers above install their hooks
//! ([`Hooks`]) at build: what a worker thread does as it starts and stops (the wasm layer
//! points it at its arena's hot slots), and what becomes of an ended process's links,
//! monitors and name (the actor layer's exit signals).
//!
//! | file | holds |
//! |---|---|
//! | `config` | the executor's settings: workers, capacity, preemption, process options |
//! | `executor` | [`Executor`], the state every worker, process and handle shares; start and stop |
//! | `process` | the process record: kill, deadline, fuel accounting, wake budget |
//! | `handle` | [`ProcessHandle`]: join, wait, kill; a process's info |
//! | `task` | the [`Run`] interface and the future a worker polls |
//! | `spawn` | a process into the table and its first quantum onto the queues |
//! | `schedule` | the schedule function: classes, fair-share virtual time, where to queue |
//! | `queue`, `idle` | the run queues (generic over the task) and parked workers |
//! | `worker` | the loop each worker thread runs, per-quantum bookkeeping |
//! | `wait` | receive, sleep and yield without holding a worker |
//! | `preempt` | a running process's slice at an epoch tick |
//! | `exit` | the exit sequence |
//! | `clock`, `timer` | time, real or virtual; sleeps, timeouts and deadlines |
//! | `hash`, `trace` | the deterministic schedule hash and the bounded schedule trace |
//!
//! # The hot path
//! Per quantum a worker pops a task, moves its process to `Running`, polls it (through
//! async-task's own vtable into the [`Run`] it was spawned with: generic, never boxed
//! behind `dyn`), does the quantum's accounting, and the schedule function pushes it back.
//! No lock, no allocation, no logging and no `dyn` call on that path; hooks run only when
//! a worker thread starts or stops and when a process with relations ends.
//!
//! # The exit sequence
//! When a process's run ends (or it is killed, or its task is dropped), in this order:
//! 1. the run is dropped: a guest's store, memory and stack go back first;
//! 2. state `Exiting` (one winner: a kill racing a trap ends the process once);
//! 3. its relations close (no link, monitor or name is added from now on) and its mailbox
//!    closes (later sends get `NoProc`); the mailbox's and the record's charges go back to
//!    the memory budget (a guest's memory went back with its store in step 1);
//! 4. its table slot is freed (its pid is dead; the slot's next occupant has a new
//!    generation, so a message to the old pid can never reach it);
//! 5. the [`Hooks::severed`] hook releases its name and sends its exit signals and `DOWN`s;
//! 6. state `Exited`, and the exit is published to every joiner.
//!
//! A joiner that sees the exit therefore sees every signal already delivered, and a spawn
//! that takes the freed table slot always finds the arena slots of the run it replaced,
//! and the memory budget without the ended process's charges.
//!
//! # The memory budget
//! [`Config::memory_budget`] is the runtime's one count of what its processes hold
//! (`shoal_proc::MemoryBudget`). The executor charges each process's record,
//! [`PROCESS_RECORD_BYTES`], at spawn (refusing the spawn past the budget) and gives it
//! back at exit; mailboxes charge their queued bytes themselves; the wasm layer charges
//! linear memory. None of it is on the per-quantum path.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod clock;
mod config;
mod executor;
mod exit;
mod groups;
mod handle;
mod hash;
mod idle;
mod preempt;
mod process;
mod queue;
mod schedule;
mod spawn;
mod task;
mod timer;
mod trace;
mod wait;
mod worker;

pub use clock::{NS_PER_FUEL, duration_ns};
pub use config::{
    Config, DEFAULT_CAPACITY, DEFAULT_EPOCH_TICK, DEFAULT_FUEL_QUANTUM, DEFAULT_MAILBOX_BYTES,
    DEFAULT_MIN_TICK, DEFAULT_SLICE_TICKS, InvalidSetting, MAX_CAPACITY, MAX_WEIGHT, MAX_WORKERS,
    PROCESS_RECORD_BYTES, Preemption, ProcessOptions, check_weight,
};
pub use executor::{Executor, ExecutorStats, Hooks, SeveredHook, WorkerHook};
pub use groups::{GroupId, MAX_GROUPS};
pub use handle::{ProcessHandle, ProcessInfo};
pub use preempt::{Interrupt, TARGET_ROUND, Tick};
pub use process::{Process, WAKE_BUDGET_NS, WAKE_PERIOD_NS};
pub use spawn::SpawnRefused;
pub use task::{Run, note_pending};
pub use timer::TimerCounts;
pub use trace::{Trace, TraceEvent, TraceKind, Track};
pub use wait::{receive, sleep_until, yield_now};
pub use worker::STEAL_DELAY;

/// A message could not be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The pid is dead (or never existed). A message to a dead pid is never delivered to
    /// a later process in the same slot.
    #[error("no such process {0}")]
    NoProc(shoal_proc::Pid),
    /// The receiver's mailbox is at its bound.
    #[error("mailbox of {pid} is full (bound of {limit})")]
    MailboxFull {
        /// The receiver.
        pid: shoal_proc::Pid,
        /// The bound the message would have passed.
        limit: shoal_proc::Limit,
    },
    /// The runtime's memory budget cannot hold the message; nothing was queued.
    #[error(transparent)]
    MemoryBudget(shoal_proc::OverBudget),
    /// The message is larger than the runtime accepts.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No live process is registered under the name (a send by name, resolved by the
    /// actor layer; the executor itself sends by pid only).
    #[error("no process is registered as `{0}`")]
    NoName(String),
    /// The queue of signals to the receiver's node is at its bound: that node, or the
    /// way to it, is slower than the senders. Nothing was queued; try again later.
    #[error("the queue to node {node} is full (bound of {limit} bytes)")]
    NodeBacklog {
        /// The receiver's node.
        node: shoal_proc::NodeId,
        /// The bound, in bytes of queued signals.
        limit: usize,
    },
}

/// The pid names no live process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no such process {0}")]
pub struct NoProc(pub shoal_proc::Pid);
