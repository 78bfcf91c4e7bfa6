//! The state every worker, process and handle of one runtime shares.
//!
//! # Spawn
//! `spawn_process` checks the entry, merges and validates limits, takes a table slot
//! (a capacity error if there is none), creates the process's task and schedules it.
//! It holds no lock across any of this: the table takes a per-slot lock, the task is
//! created outside it, and instantiation happens later, on a worker, in the process's
//! first quantum (so the spawner pays only for bookkeeping, and a start function is
//! preempted like any other code).
//!
//! # Fair share: virtual time
//! Each process has a virtual runtime `v`: what it has consumed, in fuel when fuel is
//! metered and in nanoseconds otherwise. The runtime keeps a virtual clock `V` that
//! advances, after each quantum, by the quantum's cost divided by the number of processes
//! competing for the workers: the pace at which a process that always runs would
//! accumulate `v` if the CPU were shared equally (weighted fair queueing's system virtual
//! time). A new process starts at `v = V`. A woken process is clamped to
//! `v ≥ V - credit` (a long sleep earns at most one quantum of credit, as in CFS) and
//! joins the wake class if `v ≤ V + slack`: it has had no more than its share.
//!
//! With thousands of CPU-bound processes a share is tiny (2 workers and 10,000 spinners
//! leave each 0.2 µs per millisecond), less than one wake-up's own cost, so the share
//! rule alone would turn every interactive process into a CPU-bound one and its wake-up
//! latency would grow with their number. A woken process therefore also joins the wake
//! class while it has run less than `WAKE_BUDGET_NS` (10 ms) in the current 100 ms
//! period (see `process`): interactive processes stay interactive at any scale, and a
//! process that computes between messages loses its priority once it has used the
//! budget, until the CPU-bound processes have caught up.
//!
//! # Exit
//! `complete` runs on the worker that polled the process to its end, after the store was
//! dropped: state `Exiting`, relations closed (no link, monitor or name is added any
//! more), mailbox closed (later sends get `NoProc`), table slot freed, name released and
//! exit signals and `DOWN`s sent (`actor`), state `Exited`, exit published to joiners. A message to the old pid can never reach a
//! later process in the same slot: the table compares generations.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use async_task::ScheduleInfo;
use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};
use shoal_proc::{
    Exit, ExitReason, MailboxError, Message, Pid, ProcessTable, References, Registry, State,
};
use wasmtime::{Engine, Linker};

use crate::actor::Bind;
use crate::arena::{MAPPINGS_PER_GUEST, MappingBudget, StackArena};
use crate::clock::Clock;
use crate::config::{Config, Limits, validate_limits};
use crate::error::{SendError, SpawnError};
use crate::hash::ScheduleHash;
use crate::host::{HostState, MAX_MESSAGE_BYTES, status};
use crate::module::Module;
use crate::process::{GuestRun, Process, ProcessFuture, YieldCause};
use crate::queue::{Class, Queues, Task};
use crate::timer::Timers;
use crate::trace::{Recorder, TraceKind};

/// Counters for `Runtime::stats`.
#[derive(Default)]
pub(crate) struct Counters {
    pub spawned: CachePadded<AtomicU64>,
    pub exited: CachePadded<AtomicU64>,
    /// Quanta run, per worker (each worker writes only its own).
    pub quanta: Vec<CachePadded<AtomicU64>>,
    /// Processes taken from another worker's deque, per worker.
    pub steals: Vec<CachePadded<AtomicU64>>,
}

/// One runtime's shared state.
pub(crate) struct Shared {
    /// Identifies this runtime's workers in thread-local storage.
    pub id: usize,
    /// Validated settings.
    pub config: Config,
    /// The engine all stores share.
    pub engine: Engine,
    /// The fiber-stack arena, for the mapping count in stats.
    pub stacks: Arc<StackArena>,
    /// The kernel's mapping limit as it stood when the runtime was built.
    pub mapping: MappingBudget,
    /// Live guests at most: the capacity, or less if the mapping budget is smaller.
    pub guest_limit: usize,
    /// Guests holding a [`GuestSlot`] now.
    pub guests_live: CachePadded<AtomicUsize>,
    /// The `shoal` host module, resolved into each module's `InstancePre` at compile.
    pub linker: Linker<HostState>,
    /// Live processes by pid.
    pub table: ProcessTable<Process>,
    /// Registered names.
    pub registry: Registry,
    /// The source of monitor references and aliases.
    pub references: References,
    /// The tokio runtime of WASI I/O, started by the first WASI process.
    pub wasi_io: crate::wasi::WasiIo,
    /// Run queues and parked workers.
    pub queues: Queues,
    /// Real or virtual.
    pub clock: Clock,
    /// Sleeps, timeouts and deadlines.
    pub timers: Timers,
    /// The fair-share virtual clock `V` (see the module docs).
    pub virtual_time: AtomicU64,
    /// Set once by shutdown: spawns are refused from then on. Never unset.
    pub shutting_down: AtomicBool,
    /// Set once when the workers must exit. Never unset.
    pub stopping: AtomicBool,
    /// False while a paused runtime waits for `start`.
    pub started: Mutex<bool>,
    /// Signalled by `start`.
    pub started_cv: Condvar,
    /// Stats.
    pub counters: Counters,
    /// Hash of every scheduling decision, in deterministic mode.
    pub schedule_hash: Option<Mutex<ScheduleHash>>,
    /// Whether workers may reuse the schedule function's clock reading (real clock only:
    /// a virtual clock moves between the two).
    pub hint_clock: bool,
    /// The schedule trace, when one was asked for.
    pub trace: Option<Recorder>,
}

impl Shared {
    /// Cost units of one quantum: the slack and credit of the fair-share rule.
    pub(crate) fn quantum_cost(&self) -> u64 {
        match (
            self.config.fuel_metering,
            self.config.preemption.fuel_quantum(),
        ) {
            (true, Some(q)) => q,
            // Fuel metered under epochs: fuel has no quantum; a slice's worth of fuel is
            // unknown, so use the default fuel quantum as the unit.
            (true, None) => crate::config::DEFAULT_FUEL_QUANTUM,
            (false, _) => {
                let (tick, slice) = self
                    .config
                    .preemption
                    .epoch()
                    .expect("no fuel means epochs");
                crate::clock::duration_ns(tick).saturating_mul(slice)
            }
        }
    }

    /// Starts a process. Used by the host API and by `shoal.spawn`.
    pub(crate) fn spawn_process(
        self: &Arc<Self>,
        module: &Module,
        export: &str,
        arg: i64,
        options: &Limits,
        parent: Option<&Process>,
        bind: Bind<'_>,
    ) -> Result<Arc<Process>, SpawnError> {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(SpawnError::ShuttingDown);
        }
        let entry = module.entry(export)?;
        let limits = merge(&self.config.limits, options);
        validate_limits(&limits, self.config.fuel_metering, self.config.max_memory)?;

        let slot = self.reserve_guest()?;
        // A WASI process's stdio and the I/O runtime, before it takes a table slot: a
        // file that cannot be opened is this spawn's error (and the guest slot goes back
        // as `slot` drops). After the capacity check, so that a refused spawn creates no
        // output file.
        let wasi = if module.uses_wasi() {
            let io = self.wasi_io.handle().map_err(|e| SpawnError::Wasi {
                message: format!("cannot start the WASI I/O runtime: {e}"),
            })?;
            let context = {
                let _entered = io.enter();
                match &limits.wasi {
                    Some(config) => config.context()?,
                    None => crate::wasi::WasiConfig::default().context()?,
                }
            };
            Some((Box::new(context), io))
        } else {
            None
        };
        let process = self.insert(&limits, parent.map(Process::pid))?;
        self.bind(&process, bind);
        let (context, io) = wasi.unzip();
        let mut run = crate::guest::run(
            slot,
            process.clone(),
            module.clone(),
            crate::guest::Call { entry, arg },
            limits,
            context,
        );
        if let Some(io) = io {
            run = crate::wasi::run_wasi(run, process.clone(), self.clone(), io);
        }
        self.start_task(&process, run);
        tracing::debug!(pid = %process.pid(), export, "spawn");
        Ok(process)
    }

    /// Starts a native process: `make` gets the new process and returns its run.
    pub(crate) fn spawn_native(
        self: &Arc<Self>,
        options: &Limits,
        parent: Option<&Process>,
        bind: Bind<'_>,
        make: impl FnOnce(Arc<Process>) -> GuestRun,
    ) -> Result<Arc<Process>, SpawnError> {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(SpawnError::ShuttingDown);
        }
        let limits = merge(&self.config.limits, options);
        let process = self.insert(&limits, parent.map(Process::pid))?;
        self.bind(&process, bind);
        self.start_task(&process, make(process.clone()));
        tracing::debug!(pid = %process.pid(), "spawn native");
        Ok(process)
    }

    /// Counts a new guest against the mapping budget, or refuses it.
    fn reserve_guest(self: &Arc<Self>) -> Result<GuestSlot, SpawnError> {
        let live = self.guests_live.fetch_add(1, Ordering::AcqRel);
        let slot = GuestSlot(self.clone());
        if live >= self.guest_limit {
            // Dropping the slot undoes the count.
            drop(slot);
            return Err(
                if let Some(setting) = self.config.mapping_budget
                    && self.guest_limit < self.config.capacity
                {
                    SpawnError::MappingSetting {
                        guests: self.guest_limit,
                        per_guest: MAPPINGS_PER_GUEST,
                        setting,
                        capacity: self.config.capacity,
                    }
                } else if self.guest_limit < self.config.capacity {
                    SpawnError::MappingBudget {
                        guests: self.guest_limit,
                        per_guest: MAPPINGS_PER_GUEST,
                        max_map_count: self.mapping.max_map_count,
                        wanted: self.mapping.max_map_count_for(self.config.capacity),
                        capacity: self.config.capacity,
                    }
                } else {
                    SpawnError::Capacity {
                        capacity: self.config.capacity,
                    }
                },
            );
        }
        Ok(slot)
    }

    /// Takes a table slot for a new process (state `Spawning`).
    fn insert(&self, limits: &Limits, parent: Option<Pid>) -> Result<Arc<Process>, SpawnError> {
        let now = self.clock.now_ns();
        let v = self.virtual_time.load(Ordering::Relaxed);
        let (_, process) = self
            .table
            .insert_with(|pid| Process::new(pid, parent, limits, now, v))
            .map_err(|_| SpawnError::Capacity {
                capacity: self.config.capacity,
            })?;
        Ok(process)
    }

    /// Creates the process's task around `run` and queues its first quantum.
    fn start_task(self: &Arc<Self>, process: &Arc<Process>, run: GuestRun) {
        let future = ProcessFuture::new(self.clone(), process.clone(), run);
        let shared = self.clone();
        let (runnable, task) = async_task::Builder::new().metadata(process.clone()).spawn(
            move |_| future,
            async_task::WithInfo(move |task: Task, info: ScheduleInfo| shared.schedule(task, info)),
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

    /// The schedule function of every process task. Called when a process becomes
    /// runnable: first schedule, wake-up, preemption or yield.
    pub(crate) fn schedule(&self, task: Task, info: ScheduleInfo) {
        let (class, now, woken) = {
            let process = task.metadata();
            let state = &process.core.state;
            match state.get() {
                State::Running => {
                    match process.take_yield_cause() {
                        YieldCause::Voluntary => process.core.accounting.add_voluntary_yield(),
                        YieldCause::Epoch => process.core.accounting.add_preemption(),
                        YieldCause::Fuel => {
                            process.core.accounting.add_preemption();
                            if let Some(q) = self.config.preemption.fuel_quantum() {
                                process.on_fuel_preemption(q);
                            }
                        }
                    }
                    // After the fuel accounting: the virtual clock moves by it.
                    let now = self.quantum_end_now(process);
                    crate::process::expect_transition(
                        state.transition_from(State::Running, State::Runnable, now),
                        "only this worker moves a Running process",
                    );
                    (Class::Run, now, false)
                }
                waiting @ State::Waiting(_) => {
                    let now = self.clock.now_ns();
                    crate::process::expect_transition(
                        state.transition_from(waiting, State::Runnable, now),
                        "a waiting process is scheduled once per wake",
                    );
                    self.trace_instant(TraceKind::Wake, process);
                    let class = if process.within_wake_budget(now) || self.eligible(process) {
                        Class::Wake
                    } else {
                        Class::Run
                    };
                    (class, now, true)
                }
                State::Spawning => {
                    let now = self.clock.now_ns();
                    crate::process::expect_transition(
                        state.transition_from(State::Spawning, State::Runnable, now),
                        "a new process is scheduled once",
                    );
                    (Class::Run, now, false)
                }
                other => unreachable!(
                    "{} scheduled in state {other:?} (woken while running: {})",
                    process.pid(),
                    info.woken_while_running
                ),
            }
        };
        // A killed or expired process runs no more guest code; reap it at once rather
        // than after a round of the run FIFO.
        let class = if class == Class::Run && self.must_end(task.metadata()) {
            Class::Wake
        } else {
            class
        };
        crate::worker::with_local(self.id, |local| {
            if let Some(local) = local.filter(|_| self.hint_clock) {
                local.now_hint.set(Some(now));
            }
            self.push(task, class, local, info, now, woken)
        });
    }

    /// Queues a runnable process: the worker's slot, its deque, or a global queue.
    ///
    /// A process woken from a worker goes to that worker's deque: in the wake class
    /// always, and in the run class (it has had more than its share) when nothing else is
    /// queued anywhere, since then it overtakes no one and the waker, usually about to
    /// block, runs it on the same core. Without that, a conversation between two busy
    /// processes would cross cores at every message (an idle worker takes the global
    /// FIFO at once). It can delay a process woken onto the same deque just after it by
    /// one quantum.
    fn push(
        &self,
        task: Task,
        class: Class,
        local: Option<&crate::worker::WorkerLocal>,
        info: ScheduleInfo,
        now: u64,
        woken: bool,
    ) {
        match local {
            // A yield with nothing queued: keep it on this worker (see `worker`).
            Some(local)
                if class == Class::Run && info.woken_while_running && self.queues.len() == 0 =>
            {
                if let Some(previous) = local.next.replace(Some(task)) {
                    self.queues.push(previous, Class::Run);
                }
            }
            Some(local) if class == Class::Wake || (woken && self.queues.len() == 0) => {
                self.queues.push_local(task, local.index, &local.queue, now)
            }
            _ => self.queues.push(task, class),
        }
    }

    fn must_end(&self, process: &Process) -> bool {
        process.is_killed()
            || (process.deadline_ns.is_some() && process.deadline_passed(self.clock.now_ns()))
    }

    /// The fair-share rule for a woken process (see the module docs).
    fn eligible(&self, process: &Process) -> bool {
        let vt = self.virtual_time.load(Ordering::Relaxed);
        let unit = self.quantum_cost();
        let floor = vt.saturating_sub(unit);
        let v = process
            .vruntime
            .fetch_max(floor, Ordering::Relaxed)
            .max(floor);
        v <= vt.saturating_add(unit)
    }

    /// After a quantum that cost `cost` units: advance `V` by the cost shared among
    /// the processes that compete for the workers.
    pub(crate) fn advance_virtual_time(&self, cost: u64) {
        let competing = self.queues.len() as u64 + 1;
        self.virtual_time
            .fetch_add(cost / competing, Ordering::Relaxed);
    }

    /// Queues `message` for `to`.
    pub(crate) fn send(&self, to: Pid, message: Message) -> Result<(), SendError> {
        if message.data.len() > MAX_MESSAGE_BYTES {
            return Err(SendError::TooLarge {
                len: message.data.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        let process = self.table.get(to).ok_or(SendError::NoProc(to))?;
        process.core.mailbox.push(message).map_err(|e| match e {
            MailboxError::Full { bound } => SendError::MailboxFull { pid: to, bound },
            MailboxError::Closed => SendError::NoProc(to),
        })
    }

    /// The clock reading that ends the running quantum of `process`. With a virtual
    /// clock, time moves by the fuel the quantum consumed, at the moment it ends, so the
    /// transition out of `Running` is stamped after the work (and running time counts).
    pub(crate) fn quantum_end_now(&self, process: &Process) -> u64 {
        if self.clock.is_virtual() {
            crate::worker::with_local(self.id, |local| {
                if let Some(local) = local {
                    let (start, fuel_before) = local.quantum_start.get();
                    let spent = process.core.accounting.fuel().saturating_sub(fuel_before);
                    self.clock
                        .advance_to(start + spent.saturating_mul(crate::clock::NS_PER_FUEL));
                }
            });
        }
        self.clock.now_ns()
    }

    /// Records an instant in the trace, on the calling thread's track.
    #[inline]
    fn trace_instant(&self, kind: TraceKind, process: &Process) {
        if let Some(trace) = &self.trace {
            let track = crate::worker::with_local(self.id, |local| {
                local.map_or(crate::trace::Track::Other, |l| {
                    crate::trace::Track::Worker(l.index)
                })
            });
            trace.instant(kind, process.pid(), track, self.clock.now_ns());
        }
    }

    /// Records the end of `process` (see the module docs for the order).
    pub(crate) fn complete(&self, process: &Process, reason: ExitReason) {
        let now = self.quantum_end_now(process);
        let state = &process.core.state;
        crate::process::expect_transition(
            state.transition_to_exiting(now),
            "a finishing process is alive",
        );
        let severed = process.core.close_relations();
        let unread = process.core.mailbox.close();
        drop(process.task_waker.take());
        process.deadline_timer.store(true, Ordering::Release);
        self.table.remove(process.pid());
        if let Some(severed) = severed {
            self.sever(process.pid(), &reason, severed);
        }
        crate::process::expect_transition(
            state.transition_to_exited(now),
            "an exiting process can exit",
        );
        process
            .core
            .accounting
            .mark_exited(std::time::Instant::now());
        let exit = Exit {
            pid: process.pid(),
            reason,
            accounting: process.core.accounting.snapshot(state.times(now)),
            output: process.output.get().cloned(),
        };
        match &exit.reason {
            ExitReason::Normal { .. } => {
                tracing::debug!(pid = %exit.pid, reason = %exit.reason, unread = unread.len(), "exit")
            }
            ExitReason::Killed => {
                tracing::debug!(pid = %exit.pid, unread = unread.len(), "exit: killed")
            }
            ExitReason::Trap { .. } | ExitReason::HostError { .. } => {
                tracing::info!(pid = %exit.pid, reason = %exit.reason, "exit: trap")
            }
            _ => tracing::debug!(pid = %exit.pid, reason = %exit.reason, "exit"),
        }
        self.counters.exited.fetch_add(1, Ordering::Relaxed);
        self.trace_instant(TraceKind::Exit, process);
        if let Some(hash) = &self.schedule_hash {
            // The final quantum, recorded here rather than by the worker after it, so
            // that the hash is complete before the exit is published (see `worker`).
            let on_worker = crate::worker::with_local(self.id, |local| local.is_some());
            if on_worker {
                let accounting = &process.core.accounting;
                hash.lock().record(
                    process.pid().to_bits(),
                    accounting.quanta(),
                    accounting.fuel(),
                );
            }
        }
        let _ = process.core.exit.set(exit);
    }
}

/// A live guest's place in the mapping budget: held by its run, so released when the
/// run ends or is dropped, after its store (and with it its stack and memory slots) is
/// gone and before its exit is published.
pub(crate) struct GuestSlot(Arc<Shared>);

impl GuestSlot {
    /// The runtime the slot belongs to.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.0
    }
}

impl Drop for GuestSlot {
    fn drop(&mut self) {
        self.0.guests_live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Per-process options override the runtime's defaults.
fn merge(defaults: &Limits, options: &Limits) -> Limits {
    Limits {
        fuel_limit: options.fuel_limit.or(defaults.fuel_limit),
        deadline: options.deadline.or(defaults.deadline),
        max_memory: options.max_memory.or(defaults.max_memory),
        mailbox_bound: options.mailbox_bound.or(defaults.mailbox_bound),
        wasi: options.wasi.clone().or_else(|| defaults.wasi.clone()),
    }
}

/// The guest status for a refused spawn (docs/ABI.md).
pub(crate) fn spawn_status(error: &SpawnError) -> i32 {
    match error {
        SpawnError::Capacity { .. }
        | SpawnError::MappingBudget { .. }
        | SpawnError::MappingSetting { .. } => status::CAPACITY,
        SpawnError::MissingExport { .. } | SpawnError::WrongSignature { .. } => status::BAD_EXPORT,
        SpawnError::ShuttingDown => status::SHUTTING_DOWN,
        // Defaults were validated at build; a child takes the defaults. A WASI child's
        // stdio comes from the runtime's default config, which the host chose.
        SpawnError::Config { .. } | SpawnError::Wasi { .. } => status::BAD_EXPORT,
    }
}
