//! A new process: into the table, then its first quantum onto the queues.
//!
//! [`Executor::spawn`] holds no lock across any of it: the table takes a per-slot lock,
//! the task is created outside it, and whatever the run does first (a guest's
//! instantiation) happens later, on a worker, in the process's first quantum. So the
//! spawner pays only for bookkeeping, and a wasm start function is preempted like any
//! other code.
//!
//! The caller's `prepare` closure runs between the two: the process exists (state
//! `Spawning`, with its pid) but has not run, so a link or monitor made there exists
//! before the child's first instruction, as `spawn_link` and `spawn_monitor` promise.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_task::ScheduleInfo;
use shoal_proc::{OverBudget, Pid};

use crate::config::{PROCESS_RECORD_BYTES, ProcessOptions};
use crate::executor::Executor;
use crate::process::Process;
use crate::queue::Task;
use crate::task::{ProcessFuture, Run};
use crate::trace::TraceKind;

/// Why the executor refused a spawn.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpawnRefused {
    /// Every table slot holds a live process.
    #[error("at capacity: {capacity} live processes")]
    Capacity {
        /// The configured capacity.
        capacity: usize,
    },
    /// The executor is shutting down and takes no new processes.
    #[error("the runtime is shutting down")]
    ShuttingDown,
    /// The runtime's memory budget cannot take another process.
    #[error(transparent)]
    MemoryBudget(OverBudget),
    /// The group named in the options was not made by this executor.
    #[error("no such group: {0:?}")]
    UnknownGroup(crate::GroupId),
}

impl Executor {
    /// Starts a process: takes a table slot (state `Spawning`, `options` over the
    /// defaults), calls `prepare` with it to make its run (module docs), and queues its
    /// first quantum. The options must have been validated.
    pub fn spawn<R: Run>(
        self: &Arc<Self>,
        options: &ProcessOptions,
        parent: Option<Pid>,
        prepare: impl FnOnce(&Arc<Process>) -> R,
    ) -> Result<Arc<Process>, SpawnRefused> {
        if self.is_shutting_down() {
            return Err(SpawnRefused::ShuttingDown);
        }
        let mut options = options.or(&self.config.defaults);
        match options.group {
            Some(group) if !self.queues.run.exists(group) => {
                return Err(SpawnRefused::UnknownGroup(group));
            }
            // A child shares CPU in its parent's group unless told otherwise.
            None if self.queues.run.several() => {
                options.group = parent.and_then(|p| self.process(p)).map(|p| p.group());
            }
            _ => {}
        }
        let budget = self.config.memory_budget.as_ref();
        if let Some(budget) = budget {
            budget
                .try_charge(PROCESS_RECORD_BYTES)
                .map_err(SpawnRefused::MemoryBudget)?;
        }
        let now = self.clock.now_ns();
        let v = self.virtual_time.load(Ordering::Relaxed);
        let (_, process) = self
            .table
            .insert_with(|pid| Process::new(pid, parent, &options, budget, now, v))
            .map_err(|_| {
                if let Some(budget) = budget {
                    budget.release(PROCESS_RECORD_BYTES);
                }
                SpawnRefused::Capacity {
                    capacity: self.config.capacity,
                }
            })?;
        let run = prepare(&process);
        self.start_task(&process, run);
        Ok(process)
    }

    /// Creates the process's task around `run` and queues its first quantum.
    fn start_task<R: Run>(self: &Arc<Self>, process: &Arc<Process>, run: R) {
        let future = ProcessFuture::new(self.clone(), process.clone(), run);
        let executor = self.clone();
        let (runnable, task) = async_task::Builder::new().metadata(process.clone()).spawn(
            move |_| future,
            async_task::WithInfo(move |task: Task, info: ScheduleInfo| {
                executor.schedule(task, info)
            }),
        );
        process.task_waker.register(&runnable.waker());
        task.detach();
        if let Some(deadline) = process.deadline_ns {
            self.timers
                .register(deadline, runnable.waker(), process.deadline_timer.clone());
        }
        self.counters.spawned.fetch_add(1, Ordering::Relaxed);
        self.trace_instant(TraceKind::Spawn, process);
        runnable.schedule();
    }
}
