//! What every process has, whatever runs it: a wasm guest now, a native host process
//! later.
//!
//! # Lifecycle
//! A core is built by the process table's `insert_with`, in `Spawning`, and shared as an
//! `Arc` by the table, the process's task and anyone holding it. Ending a process takes
//! these steps, each on one part:
//! - `state` → `Exiting`. This comes first: the CAS has exactly one winner, and only the
//!   winner runs the rest, so a kill racing a trap ends the process once;
//! - `close_relations`: no link, monitor or name is added from now on; the links,
//!   monitors and name it had are handed back, to be signalled and released;
//! - `mailbox.close()`: later sends fail with `Closed`, and the unreceived messages are
//!   handed back;
//! - the table's `remove`: the pid is dead, its slot's next occupant gets a new
//!   generation;
//! - `state` → `Exited` and `accounting.mark_exited`;
//! - `exit.set` with a snapshot of the accounting: every joiner wakes.
//!
//! Parts never reset: a closed mailbox stays closed, a set exit stays set, and nothing
//! leaves `Exited`.

use std::time::Instant;

use crate::{Accounting, Bound, ExitSlot, Mailbox, Pid, Relations, StateCell};

/// The core of a process.
#[derive(Debug)]
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
    /// Links, monitors, trap-exits and name (`relations`).
    pub relations: Relations,
}

impl AsRef<ProcessCore> for ProcessCore {
    fn as_ref(&self) -> &ProcessCore {
        self
    }
}

impl ProcessCore {
    /// A process in `Spawning`.
    pub fn new(pid: Pid, mailbox_bound: Bound, now_ns: u64, spawned_at: Instant) -> Self {
        Self::with_budget(pid, mailbox_bound, None, now_ns, spawned_at)
    }

    /// A process in `Spawning` whose mailbox charges `budget` (`Mailbox::with_budget`).
    pub fn with_budget(
        pid: Pid,
        mailbox_bound: Bound,
        budget: Option<std::sync::Arc<crate::MemoryBudget>>,
        now_ns: u64,
        spawned_at: Instant,
    ) -> Self {
        ProcessCore {
            pid,
            state: StateCell::new(now_ns),
            accounting: Accounting::new(spawned_at),
            mailbox: Mailbox::with_budget(mailbox_bound, budget),
            exit: ExitSlot::new(),
            relations: Relations::default(),
        }
    }
}

#[cfg(all(test, not(shoal_loom)))]
mod tests {
    use super::*;
    use crate::State;

    #[test]
    fn a_new_core_is_spawning_with_an_open_mailbox_and_no_exit() {
        let at = Instant::now();
        let core = ProcessCore::new(Pid::new(3, 1), Bound::messages(8), 100, at);
        assert_eq!(core.pid, Pid::new(3, 1));
        assert_eq!(core.state.get(), State::Spawning);
        assert_eq!(core.mailbox.bound(), Bound::messages(8));
        assert!(core.mailbox.is_empty());
        assert!(core.exit.get().is_none());
        let snapshot = core.accounting.snapshot(core.state.times(200));
        assert_eq!(snapshot.spawned_at, Some(at));
        assert_eq!(snapshot.exited_at, None);
    }
}
