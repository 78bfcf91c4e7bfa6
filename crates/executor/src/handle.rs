//! Handles given to the host: a process handle and a snapshot of a process.

use std::sync::Arc;

use shoal_proc::{AccountingSnapshot, Exit, Pid, State};

use crate::executor::Executor;
use crate::process::Process;

/// A handle to one process. Cheap to clone; dropping it detaches (the process runs on).
/// Unlike a pid, a handle never loses the exit: it can be joined after the process's
/// table slot has been reused.
#[derive(Clone)]
pub struct ProcessHandle {
    process: Arc<Process>,
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
    /// A handle to `process`.
    pub fn new(process: Arc<Process>) -> Self {
        ProcessHandle { process }
    }

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

impl Executor {
    /// State and accounting of the live process `pid`.
    pub fn process_info(&self, pid: Pid) -> Option<ProcessInfo> {
        let process = self.table.get(pid)?;
        let times = process.core.state.times(self.clock.now_ns());
        Some(ProcessInfo {
            pid,
            state: process.core.state.get(),
            accounting: process.core.accounting.snapshot(times),
            mailbox_len: process.core.mailbox.len(),
        })
    }
}
