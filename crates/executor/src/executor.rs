//! [`Executor`]: the state every worker, process and handle of one runtime shares, and
//! its life from launch to stop.
//!
//! # Threads
//! [`Executor::launch`] starts `workers` worker threads and, on a real clock, a timer
//! thread. They wait for [`start`](Executor::start) if the config says `paused`.
//!
//! # Stopping
//! The layers above decide when processes must end (a runtime's shutdown kills what is
//! still alive and waits for every exit); the executor then stops in this order:
//! [`begin_shutdown`](Executor::begin_shutdown) refuses new spawns (never undone) and
//! releases paused workers; [`stop`](Executor::stop), once no process is left, tells the
//! workers and the timer thread to exit, joins them, and drops whatever is still queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};
use shoal_abi::MAX_MESSAGE_BYTES;
use shoal_proc::{ExitReason, MailboxError, Message, Pid, ProcessTable, Severed};

use crate::SendError;
use crate::clock::Clock;
use crate::config::Config;
use crate::hash::ScheduleHash;
use crate::process::Process;
use crate::queue::{Queues, Task};
use crate::timer::Timers;
use crate::trace::{Recorder, Trace};

/// Distinguishes executors in one host process (for the workers' thread-locals).
static NEXT_EXECUTOR_ID: AtomicUsize = AtomicUsize::new(1);

/// A hook run on a worker thread as it starts or stops, with its index.
pub type WorkerHook = Box<dyn Fn(usize) + Send + Sync>;

/// A hook run in the exit sequence with what an ended process left: its links, monitors
/// and name. The process has left the table; the hook must not block.
pub type SeveredHook = Box<dyn Fn(&Executor, Pid, &ExitReason, Severed) + Send + Sync>;

/// What the layers above install (crate docs): called off the hot path only.
#[derive(Default)]
pub struct Hooks {
    /// On each worker thread before it runs anything.
    pub worker_start: Option<WorkerHook>,
    /// On each worker thread after it ran its last quantum.
    pub worker_stop: Option<WorkerHook>,
    /// In the exit sequence, when the ended process had relations (step 5 of the crate
    /// docs): release its name, send its exit signals and `DOWN`s.
    pub severed: Option<SeveredHook>,
}

/// Counters for [`Executor::stats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub spawned: CachePadded<AtomicU64>,
    pub exited: CachePadded<AtomicU64>,
    /// Quanta run, per worker (each worker writes only its own).
    pub quanta: Vec<CachePadded<AtomicU64>>,
    /// Processes taken from another worker's deque, per worker.
    pub steals: Vec<CachePadded<AtomicU64>>,
}

/// Executor-wide counters at one instant.
#[derive(Clone, Debug, Default)]
pub struct ExecutorStats {
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
    /// The memory budget in bytes, if there is one.
    pub memory_budget: Option<usize>,
    /// Bytes charged to it now: process records, linear memory, queued messages.
    pub memory_used: usize,
    /// The most ever charged to it at once.
    pub memory_peak: usize,
}

/// One executor's shared state (module docs). Every field is read by workers, spawners
/// and the process tasks at once; none is owned by one thread.
pub struct Executor {
    /// Identifies this executor's workers in thread-local storage.
    pub(crate) id: usize,
    /// Validated settings.
    pub(crate) config: Config,
    /// Live processes by pid.
    pub(crate) table: ProcessTable<Process>,
    /// Run queues and parked workers.
    pub(crate) queues: Queues<Task>,
    /// Real or virtual.
    pub(crate) clock: Clock,
    /// Sleeps, timeouts and deadlines.
    pub(crate) timers: Timers,
    /// The fair-share virtual clock `V` (see `schedule`).
    pub(crate) virtual_time: AtomicU64,
    /// Set once by shutdown: spawns are refused from then on. Never unset.
    pub(crate) shutting_down: AtomicBool,
    /// Set once when the workers must exit. Never unset.
    pub(crate) stopping: AtomicBool,
    /// False while a paused executor waits for `start`.
    pub(crate) started: Mutex<bool>,
    /// Signalled by `start`.
    pub(crate) started_cv: Condvar,
    /// Stats.
    pub(crate) counters: Counters,
    /// Hash of every scheduling decision, in deterministic mode.
    pub(crate) schedule_hash: Option<Mutex<ScheduleHash>>,
    /// The schedule trace, when one was asked for.
    pub(crate) trace: Option<Recorder>,
    /// What the layers above installed.
    pub(crate) hooks: Hooks,
    /// Worker and timer threads, joined by `stop`.
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Executor {
    /// Builds the executor for a validated `config` and starts its threads.
    pub fn launch(config: Config, hooks: Hooks) -> std::io::Result<Arc<Executor>> {
        debug_assert_eq!(config.validate(), Ok(()));
        let (queues, locals) = Queues::new(config.workers);
        let per_worker = || {
            (0..config.workers)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect()
        };
        let executor = Arc::new(Executor {
            id: NEXT_EXECUTOR_ID.fetch_add(1, Ordering::Relaxed),
            table: ProcessTable::for_node(config.node, config.capacity),
            queues,
            clock: if config.deterministic {
                Clock::virtual_at_zero()
            } else {
                Clock::real()
            },
            timers: Timers::default(),
            virtual_time: AtomicU64::new(0),
            shutting_down: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            started: Mutex::new(false),
            started_cv: Condvar::new(),
            counters: Counters {
                quanta: per_worker(),
                steals: per_worker(),
                ..Counters::default()
            },
            schedule_hash: config
                .deterministic
                .then(|| Mutex::new(ScheduleHash::default())),
            trace: config
                .trace_events
                .map(|n| Recorder::new(config.workers, n)),
            hooks,
            threads: Mutex::new(Vec::new()),
            config,
        });
        let mut threads = Vec::new();
        let mut spawned = Ok(());
        for (index, (local, parker)) in locals.into_iter().enumerate() {
            let worker = executor.clone();
            match std::thread::Builder::new()
                .name(format!("shoal-worker-{index}"))
                .spawn(move || crate::worker::run(worker, index, local, parker))
            {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    spawned = Err(e);
                    break;
                }
            }
        }
        if spawned.is_ok() && !executor.clock.is_virtual() {
            let timer = executor.clone();
            match std::thread::Builder::new()
                .name("shoal-timer".into())
                .spawn(move || timer.timers.run(&timer.clock))
            {
                Ok(thread) => threads.push(thread),
                Err(e) => spawned = Err(e),
            }
        }
        *executor.threads.lock() = threads;
        if let Err(e) = spawned {
            // The threads that did start must not wait for a start that never comes.
            executor.begin_shutdown();
            executor.stop();
            return Err(e);
        }
        if !executor.config.paused {
            executor.start();
        }
        Ok(executor)
    }

    /// This executor's id, unique in the host process.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The validated settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The executor's clock: nanoseconds since it started (virtual in deterministic mode).
    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }

    /// Whether the clock is virtual (deterministic mode).
    pub fn is_virtual_clock(&self) -> bool {
        self.clock.is_virtual()
    }

    /// Makes a group of processes of `weight` (1 to `MAX_WEIGHT`), which shares CPU
    /// with the other groups by weight (see `groups`).
    pub fn new_group(&self, weight: u32) -> Result<crate::GroupId, crate::InvalidSetting> {
        crate::check_weight(weight)?;
        self.queues.run.add(weight).ok_or_else(|| {
            crate::InvalidSetting::new(
                "group",
                format!("a runtime has at most {} groups", crate::MAX_GROUPS),
            )
        })
    }

    /// Changes the weight of `group`; false if this executor did not make it. The
    /// caller checks the weight.
    pub fn set_group_weight(&self, group: crate::GroupId, weight: u32) -> bool {
        self.queues.run.set_weight(group, weight)
    }

    /// The node every pid of this executor carries.
    pub fn node(&self) -> shoal_proc::NodeId {
        self.table.node()
    }

    /// The live process `pid`, if it is one of this executor's.
    #[inline]
    pub fn process(&self, pid: Pid) -> Option<Arc<Process>> {
        self.table.get(pid)
    }

    /// Every live process, in table order.
    pub fn processes(&self) -> Vec<Arc<Process>> {
        self.table.entries().into_iter().map(|(_, p)| p).collect()
    }

    /// Queues `message` for the live process `to`: FIFO per sender; never delivered to a
    /// later process that reuses a dead pid's table slot.
    pub fn send(&self, to: Pid, message: Message) -> Result<(), SendError> {
        if message.data.len() > MAX_MESSAGE_BYTES {
            return Err(SendError::TooLarge {
                len: message.data.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        let process = self.table.get(to).ok_or(SendError::NoProc(to))?;
        match process.core.mailbox.push(message) {
            Ok(()) => Ok(()),
            // The receiver chose to end rather than refuse its senders: the send is
            // carried out, as a send to a process that dies just after is.
            Err(MailboxError::Full { .. }) if process.kill_on_full_mailbox => {
                process.kill_with(ExitReason::MailboxOverflow);
                Ok(())
            }
            Err(MailboxError::Full { limit }) => Err(SendError::MailboxFull { pid: to, limit }),
            Err(MailboxError::OverBudget(over)) => Err(SendError::MemoryBudget(over)),
            Err(MailboxError::Closed) => Err(SendError::NoProc(to)),
        }
    }

    /// How many processes are live.
    pub fn live(&self) -> usize {
        self.table.len()
    }

    /// Counters at this instant.
    pub fn stats(&self) -> ExecutorStats {
        let sum = |v: &[CachePadded<AtomicU64>]| v.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        ExecutorStats {
            workers: self.config.workers,
            capacity: self.config.capacity,
            live: self.table.len(),
            spawned: self.counters.spawned.load(Ordering::Relaxed),
            exited: self.counters.exited.load(Ordering::Relaxed),
            quanta: sum(&self.counters.quanta),
            steals: sum(&self.counters.steals),
            queued: self.queues.len(),
            memory_budget: self.config.memory_budget.as_ref().map(|b| b.limit()),
            memory_used: self.config.memory_budget.as_ref().map_or(0, |b| b.used()),
            memory_peak: self.config.memory_budget.as_ref().map_or(0, |b| b.peak()),
        }
    }

    /// What the timer heap holds now (a visit of every entry, for leak checks).
    pub fn timers(&self) -> crate::TimerCounts {
        self.timers.counts()
    }

    /// The runtime's memory budget, for the layers above that charge it.
    pub fn memory_budget(&self) -> Option<&Arc<shoal_proc::MemoryBudget>> {
        self.config.memory_budget.as_ref()
    }

    /// Releases the workers of an executor launched paused (deterministic mode is). Spawn
    /// everything first, then start: the schedule is then a function of the program
    /// alone. A no-op if already started.
    pub fn start(&self) {
        let mut started = self.started.lock();
        if !*started {
            *started = true;
            self.started_cv.notify_all();
        }
    }

    /// The hash of every scheduling decision so far (deterministic mode only).
    pub fn schedule_hash(&self) -> Option<u64> {
        self.schedule_hash.as_ref().map(|h| h.lock().value())
    }

    /// Takes the schedule trace recorded so far (emptying the recorder), if one was
    /// asked for.
    pub fn take_trace(&self) -> Option<Trace> {
        self.trace.as_ref().map(Recorder::take)
    }

    /// Whether spawns are refused because the executor is shutting down.
    #[inline]
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Refuses every later spawn (never undone) and releases paused workers, which must
    /// run for the live processes to finish or die.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.start();
    }

    /// Stops the workers and the timer thread and joins them (a no-op for a thread that
    /// is the caller), then drops whatever is left in the queues and timers. Call it when
    /// no process is live: a process still queued is dropped, and so ends as `killed`.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Workers of an executor never started wait at the start gate, not in a park.
        self.start();
        self.queues.notify_all();
        self.timers.stop();
        let current = std::thread::current().id();
        let threads = std::mem::take(&mut *self.threads.lock());
        for thread in threads {
            if thread.thread().id() != current {
                let _ = thread.join();
            }
        }
        drop(self.queues.drain());
        self.timers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Preemption, ProcessHandle, ProcessOptions};

    #[test]
    fn a_task_dropped_before_it_ran_still_records_an_exit() {
        let config = Config {
            workers: 1,
            capacity: 4,
            preemption: Preemption::Fuel { quantum: 1_000 },
            fuel_metering: true,
            deterministic: false,
            paused: true,
            trace_events: None,
            defaults: ProcessOptions::default(),
            memory_budget: Some(Arc::new(shoal_proc::MemoryBudget::new(1 << 20))),
            node: shoal_proc::NodeId::LOCAL,
        };
        let executor = Executor::launch(config, Hooks::default()).unwrap();
        let process = executor
            .spawn(&ProcessOptions::default(), None, |_| async {
                ExitReason::Normal { code: 0 }
            })
            .unwrap();
        let handle = ProcessHandle::new(process);
        let queued = executor.queues.drain();
        assert_eq!(queued.len(), 1);
        drop(queued);
        assert_eq!(
            handle.try_exit().map(|e| e.reason),
            Some(ExitReason::Killed)
        );
        assert_eq!(executor.live(), 0, "its table slot was freed");
        assert_eq!(
            executor.stats().memory_used,
            0,
            "its record's charge was given back"
        );
        assert_eq!(
            executor.send(handle.pid(), Message::data(None, 0, [])),
            Err(SendError::NoProc(handle.pid()))
        );
        executor.begin_shutdown();
        executor.stop();
    }
}
