//! Handles and reports given to the host: a process handle, process info, runtime stats.

use std::sync::Arc;

use shoal_proc::{AccountingSnapshot, Exit, Pid, State};

use crate::process::Process;

/// A handle to one process. Cheap to clone; dropping it detaches (the process runs on).
/// Unlike a pid, a handle never loses the exit: it can be joined after the process's
/// table slot has been reused.
#[derive(Clone)]
pub struct ProcessHandle {
    pub(crate) process: Arc<Process>,
}

impl std::fmt::Debug for ProcessHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessHandle")
            .field("pid", &self.pid())
            .field("state", &self.process.core.state.get())
            .finish()
    }
}

impl ProcessHandle {
    /// The process's pid.
    pub fn pid(&self) -> Pid {
        self.process.pid()
    }

    /// Waits for the exit. A runtime-agnostic future: fine inside tokio or any executor.
    pub async fn join(&self) -> Exit {
        self.process.core.exit.wait().await
    }

    /// Blocks the calling thread until the exit. Do not call it from a worker (a guest
    /// cannot) or from inside an async runtime's task; use [`join`](Self::join) there.
    pub fn wait(&self) -> Exit {
        self.process.core.exit.wait_blocking()
    }

    /// The exit, if the process has exited.
    pub fn try_exit(&self) -> Option<Exit> {
        self.process.core.exit.get().cloned()
    }

    /// Kills the process: it ends as `killed` within one quantum or tick if running, at
    /// once if waiting. Killing an exited process does nothing.
    pub fn kill(&self) {
        self.process.kill();
    }
}

/// A process's state and accounting at one instant.
#[derive(Clone, Debug)]
pub struct ProcessInfo {
    /// Its pid.
    pub pid: Pid,
    /// Its lifecycle state.
    pub state: State,
    /// Fuel, quanta, yields, preemptions, time per state.
    pub accounting: AccountingSnapshot,
    /// Messages queued and not yet received.
    pub mailbox_len: usize,
}

/// Runtime-wide counters.
#[derive(Clone, Debug, Default)]
pub struct RuntimeStats {
    /// Worker threads.
    pub workers: usize,
    /// Maximum live processes.
    pub capacity: usize,
    /// Live processes now.
    pub live: usize,
    /// Processes spawned since start.
    pub spawned: u64,
    /// Processes exited since start.
    pub exited: u64,
    /// Quanta run on all workers.
    pub quanta: u64,
    /// Processes a worker took from another worker's deque.
    pub steals: u64,
    /// Processes queued for a worker now.
    pub queued: usize,
    /// Live wasm processes at most: the capacity, or less if the memory-mapping budget
    /// is smaller (see [`SpawnError::MappingBudget`](crate::SpawnError::MappingBudget)).
    pub guest_limit: usize,
    /// Fiber-stack slots ever used; each costs
    /// [`MAPPINGS_PER_GUEST`](crate::MAPPINGS_PER_GUEST) mappings for the runtime's life.
    pub stack_slots: usize,
    /// `vm.max_map_count` when the runtime was built.
    pub max_map_count: usize,
}
