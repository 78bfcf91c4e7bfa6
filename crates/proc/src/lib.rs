//! Shoal's process model: pids, the lifecycle state machine, exits, the process table,
//! mailboxes and accounting. It knows nothing of wasm: the scheduler runs wasmtime guests
//! on top of it, and later native host processes too.
//!
//! | file | holds |
//! |---|---|
//! | `pid` | generational pids: a dead pid never aliases a later process |
//! | `state` | the lifecycle machine and the atomic cell that enforces it |
//! | `exit` | structured exit reasons |
//! | `accounting` | per-process counters |
//! | `table` | the concurrent generational slab of processes |
//! | `mailbox` | MPSC mailboxes with tags, selective receive and bounds |
//! | `exit_slot` | an exit, awaited by any number of joiners |
//! | `process` | what every process has |
//!
//! Concurrency of the state cell and the mailbox is model-checked with loom
//! (`RUSTFLAGS="--cfg shoal_loom" cargo test -p shoal-proc --release --lib loom`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accounting;
mod exit;
mod exit_slot;
mod mailbox;
mod pid;
mod process;
mod state;
mod sync;
mod table;

#[cfg(all(test, shoal_loom))]
mod loom_tests;

pub use accounting::{Accounting, AccountingSnapshot};
pub use exit::{Exit, ExitKind, ExitReason, TrapCode};
pub use exit_slot::ExitSlot;
pub use mailbox::{Mailbox, MailboxError, Message};
pub use pid::Pid;
pub use process::ProcessCore;
pub use state::{IllegalTransition, State, StateCell, StateTimes, Transition, WaitReason};
pub use table::{CapacityError, MAX_GENERATION, PAGE_SLOTS, ProcessTable};
