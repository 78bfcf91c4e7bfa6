//! What every process has, whatever runs it: a wasm guest now, a native host process
//! later.

use std::time::Instant;

use crate::{Accounting, ExitSlot, Mailbox, Pid, StateCell};

/// The core of a process.
pub struct ProcessCore {
    /// Its pid.
    pub pid: Pid,
    /// Its lifecycle state, with time accounting.
    pub state: StateCell,
    /// Fuel, quanta, yields, preemptions.
    pub accounting: Accounting,
    /// Its mailbox.
    pub mailbox: Mailbox,
    /// Its exit, once it has one.
    pub exit: ExitSlot,
}

impl ProcessCore {
    /// A process in `Spawning`.
    pub fn new(pid: Pid, mailbox_bound: Option<usize>, now_ns: u64, spawned_at: Instant) -> Self {
        ProcessCore {
            pid,
            state: StateCell::new(now_ns),
            accounting: Accounting::new(spawned_at),
            mailbox: Mailbox::new(mailbox_bound),
            exit: ExitSlot::new(),
        }
    }
}
