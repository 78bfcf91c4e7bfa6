//! Shoal's process model: pids, the lifecycle state machine, exits, the process table,
//! mailboxes and accounting. It knows nothing of wasm: the scheduler runs wasmtime guests
//! on top of it, and later native host processes too. The numbers and encodings guests
//! see (exit reasons on the wire, trap codes, message kinds, the reference range, the
//! name limit) are `shoal-abi`'s, re-exported here so that the host imports them from
//! one place.
//!
//! | file | holds |
//! |---|---|
//! | `pid` | generational pids: a dead pid never aliases a later process |
//! | `state` | the lifecycle machine and the atomic cell that enforces it |
//! | `exit` | a process's end; its structured reason is `shoal-abi`'s |
//! | `accounting` | per-process counters |
//! | `table` | the concurrent generational slab of processes |
//! | `mailbox` | MPSC mailboxes with tags, selective receive and bounds |
//! | `aliases` | a mailbox's open aliases: a vector for a few, a hash set for many |
//! | `budget` | the runtime's memory budget: one count of what its processes hold, against one limit |
//! | `exit_slot` | an exit, awaited by any number of joiners |
//! | `process` | what every process has |
//! | `reference` | unique references for monitors and reply aliases |
//! | `signal` | exit signals and Erlang's rule for what a receiver does with one |
//! | `relations` | links, monitors, trap-exits, the name: atomic pairwise changes, charged to the budget |
//! | `registry` | names of live processes, released when they end |
//!
//! | `sync` | the loom shim: std/parking_lot primitives, or loom's under `shoal_loom` |
//!
//! # Concurrency
//! A process is touched by many threads at once: the worker running it, senders, the
//! host killing it, joiners. The state cell is one atomic word changed by CAS along legal
//! edges only, so racing transitions have exactly the legal winners; the mailbox is one
//! short lock that is never held while a waker runs; the table locks one slot at a time
//! and never while a value is built; the exit slot is set once and wakes every joiner.
//!
//! The state cell, the mailbox and the table are model-checked with loom under a
//! crate-specific cfg (`--cfg loom` would also switch event-listener into a loom mode
//! that does not build here):
//! `RUSTFLAGS="--cfg shoal_loom" cargo test -p shoal-proc --release --lib loom`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accounting;
mod aliases;
mod budget;
mod exit;
mod exit_slot;
mod mailbox;
mod pid;
mod process;
mod reference;
mod registry;
mod relations;
mod signal;
mod state;
mod sync;
mod table;

#[cfg(all(test, shoal_loom))]
mod loom_tests;

pub use accounting::{Accounting, AccountingSnapshot};
pub use budget::{Charge, MemoryBudget, OverBudget};
pub use exit::{CapturedOutput, Exit, ExitKind, ExitReason, TrapCode, WIRE_HEADER, WireError};
pub use exit_slot::ExitSlot;
pub use mailbox::{
    ALIAS_BYTES, Bound, Limit, MAILBOX_CHUNK, MAILBOX_FREE_BYTES, MESSAGE_OVERHEAD, Mailbox,
    MailboxError, Message, MessageKind, SAVED_POSITIONS,
};
pub use pid::{MAX_INDEX, MAX_PID_GENERATION, NodeId, Pid};
pub use process::ProcessCore;
pub use reference::{REFERENCE_BASE, Reference, References, is_reference};
pub use registry::{MAX_NAME_BYTES, RegisterError, Registry, check_name};
pub use relations::{
    Demonitored, LINK_BYTES, LinkOutcome, MONITOR_BYTES, MonitorOutcome, NodeRelations,
    RELATIONS_CHUNK, RELATIONS_FREE_BYTES, RelationCounts, Relations, Severed,
};
pub use signal::{SignalOutcome, SignalReason, Via, on_exit_signal};
pub use state::{IllegalTransition, State, StateCell, StateTimes, Transition, WaitReason};
pub use table::{CapacityError, MAX_GENERATION, PAGE_SLOTS, ProcessTable};
