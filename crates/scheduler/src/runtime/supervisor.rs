//! Supervisors from the host: starting one with the host as its parent, and asking one
//! for its children from a thread that is not a process. They take a [`Runtime`], so
//! they live in this layer; the supervisor itself is the native layer's.

use std::time::Duration;

use shoal_executor::ProcessHandle;
use shoal_proc::Pid;

use super::Runtime;
use crate::native::supervisor::{ChildInfo, Supervisor, SupervisorBuilder, SupervisorError};

impl SupervisorBuilder {
    /// Spawns the supervisor from the host, with the host as its parent: an exit signal
    /// from the host (`Runtime::exit`) stops it. Returns once the process exists; its
    /// children start in the process. A failing child start shows as the supervisor's
    /// exit, `shutdown`.
    pub fn start(&self, runtime: &Runtime) -> Result<ProcessHandle, SupervisorError> {
        self.start_from_host(&runtime.inner.executor, &runtime.inner.actors)
    }
}

impl Supervisor {
    /// [`which_children`](Self::which_children) from the host: a native process makes the
    /// request and the calling thread blocks until it reports. Do not call it from a worker
    /// or an async task; a runtime built paused must have been started.
    pub fn which_children_wait(
        runtime: &Runtime,
        supervisor: Pid,
        timeout: Duration,
    ) -> Result<Vec<ChildInfo>, SupervisorError> {
        Supervisor::which_children_from_host(
            &runtime.inner.executor,
            &runtime.inner.actors,
            supervisor,
            timeout,
        )
    }
}
