//! The public surface: [`Runtime`], its builder, and what it reports.
//!
//! # What it owns
//! One runtime is one executor (workers, queues, timers), one actor state (names,
//! references), one wasm layer (engine, arenas, the host module) and the epoch ticker
//! thread. The builder maps the user's settings into each layer's; the runtime's methods
//! are thin: each resolves to one operation of the layer it belongs to.
//!
//! # What it may import
//! Every layer below: the executor, `actor`, `wasm`, `native`. Nothing imports it but
//! the crate root, which re-exports it.
//!
//! | file | holds |
//! |---|---|
//! | `mod` | [`Runtime`]: compile, spawn, send, signals, names, joins, info |
//! | `builder` | [`RuntimeBuilder`]: settings, checked and mapped into each layer's |
//! | `shutdown` | the shutdown sequence |
//! | `stats` | [`RuntimeStats`], [`Held`] |
//! | `supervisor` | starting supervisors and asking for their children from the host |
//!
//! # Threads
//! A runtime owns `workers` worker threads, a timer thread (real clock only) and an epoch
//! ticker thread (epoch and hybrid preemption only). Nothing else: the host API never
//! blocks a worker, and its async methods are plain futures that work under tokio or any
//! other executor.

mod builder;
mod shutdown;
mod stats;
mod supervisor;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use parking_lot::Mutex;
use shoal_executor::{
    Executor, GroupId, Hooks, NoProc, Preemption, Process, ProcessHandle, ProcessInfo, SendError,
};
use shoal_proc::{Exit, Message, NodeId, Pid, RegisterError, SignalReason};

use crate::actor::{self, Actors, Remote, RemotePort, SpawnRelation};
use crate::error::{CompileError, ConfigError, SpawnError, WeightError};
use crate::native::NativeContext;
use crate::wasm::ticker::TickerStop;
use crate::wasm::{CacheOutcome, Guests, Module, SpawnOptions, SpawnSite, spawn_guest};

pub use builder::{
    DEFAULT_MAX_MEMORY, DEFAULT_MAX_TABLE_ELEMENTS, RuntimeBuilder, default_memory_budget,
};
pub use stats::{Held, RuntimeStats};

/// A Shoal runtime: a pool of workers running wasm processes. Cheap to clone; every
/// clone is the same runtime.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    /// Workers, queues, timers, the process table.
    executor: Arc<Executor>,
    /// Names and references.
    actors: Arc<Actors>,
    /// Engine, arenas, the host module.
    guests: Arc<Guests>,
    /// The epoch ticker thread, joined at shutdown.
    ticker: Mutex<Option<std::thread::JoinHandle<()>>>,
    ticker_stop: Arc<TickerStop>,
    /// Set by the first shutdown; later ones return nothing.
    shut_down: AtomicBool,
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        shutdown::shutdown(self, Duration::ZERO);
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.workers())
            .field("preemption", &self.preemption())
            .finish()
    }
}

impl Runtime {
    /// A builder with every setting at its default.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// A runtime with every setting at its default.
    pub fn new() -> Result<Runtime, ConfigError> {
        Self::builder().build()
    }

    /// Starts the layers from validated settings: the wasm layer's engine and arenas, the
    /// actor state, the executor's threads with both layers' hooks, the ticker.
    fn from_settings(settings: builder::Settings) -> Result<Runtime, ConfigError> {
        let mut guests = Guests::new(&settings.executor, settings.guests)?;
        let actors = Arc::new(Actors::default());
        // Adaptive ticks shorter than the fixed one come from per-worker timers.
        let adaptive = settings.executor.preemption.min_tick().is_some();
        let (worker_start, worker_stop) =
            crate::wasm::worker_hooks(adaptive.then(|| guests.engine.clone()));
        let hooks = Hooks {
            worker_start: Some(worker_start),
            worker_stop: Some(worker_stop),
            severed: Some(actor::severed_hook(actors.clone())),
        };
        let thread_error = |e: std::io::Error| ConfigError::Engine {
            message: format!("cannot start a runtime thread: {e}"),
        };
        let paused = settings.executor.paused;
        let epoch = settings.executor.preemption.epoch();
        // Launched paused: nothing runs before the wasm layer knows its owner.
        let executor = Executor::launch(
            shoal_executor::Config {
                paused: true,
                ..settings.executor
            },
            hooks,
        )
        .map_err(thread_error)?;
        guests.owner = executor.id();
        let ticker_stop = Arc::new(TickerStop::default());
        let ticker = match epoch {
            Some((tick, _)) => {
                match crate::wasm::ticker::spawn(guests.engine.clone(), tick, ticker_stop.clone()) {
                    Ok(thread) => Some(thread),
                    Err(e) => {
                        executor.begin_shutdown();
                        executor.stop();
                        return Err(thread_error(e));
                    }
                }
            }
            None => None,
        };
        let runtime = Runtime {
            inner: Arc::new(RuntimeInner {
                executor,
                actors,
                guests: Arc::new(guests),
                ticker: Mutex::new(ticker),
                ticker_stop,
                shut_down: AtomicBool::new(false),
            }),
        };
        if !paused {
            runtime.start();
        }
        Ok(runtime)
    }

    fn executor(&self) -> &Arc<Executor> {
        &self.inner.executor
    }

    /// Compiles a module from wasm bytes or WAT text. Compile once; spawn many.
    pub fn compile(&self, bytes: &[u8]) -> Result<Module, CompileError> {
        Module::compile(&self.inner.guests, bytes)
    }

    /// Compiles a module (wasm or WAT), through the on-disk cache in `cache_dir`: a module
    /// compiled before by an engine with the same settings is loaded instead of compiled.
    /// Loading maps native code from the directory, so it must be as trusted as the
    /// program itself; a file that wasmtime refuses is recompiled and replaced.
    pub fn compile_cached(
        &self,
        bytes: &[u8],
        cache_dir: impl AsRef<Path>,
    ) -> Result<(Module, CacheOutcome), CompileError> {
        Module::compile_cached(&self.inner.guests, bytes, cache_dir.as_ref())
    }

    /// Compiles a module from WAT text.
    pub fn compile_wat(&self, wat: &str) -> Result<Module, CompileError> {
        self.compile(wat.as_bytes())
    }

    /// Compiles a `.wasm` or `.wat` file.
    pub fn compile_file(&self, path: impl AsRef<Path>) -> Result<Module, CompileError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|error| CompileError::Io {
            path: path.to_owned(),
            error,
        })?;
        self.compile(&bytes)
    }

    /// Spawns a process running `export` of `module` with argument `arg` (passed if the
    /// export takes one), with the runtime's default limits.
    pub fn spawn(
        &self,
        module: &Module,
        export: &str,
        arg: i64,
    ) -> Result<ProcessHandle, SpawnError> {
        self.spawn_with(module, export, arg, SpawnOptions::default())
    }

    /// Spawns a process with per-process limits. The module must have been compiled by
    /// this runtime.
    pub fn spawn_with(
        &self,
        module: &Module,
        export: &str,
        arg: i64,
        options: SpawnOptions,
    ) -> Result<ProcessHandle, SpawnError> {
        let site = SpawnSite {
            executor: &self.inner.executor,
            actors: &self.inner.actors,
            parent: None,
            relation: SpawnRelation::None,
        };
        let process = spawn_guest(site, module, export, arg, &options)?;
        Ok(ProcessHandle::new(process))
    }

    /// Spawns a native process: `f` gets the new process's [`NativeContext`] and returns
    /// the future it runs, whose output is its exit code (`normal(code)`). The future runs
    /// on the workers like a guest and must not block the thread. Per-process `options`
    /// apply as far as they can: a deadline and a mailbox bound do; a native process
    /// has no fuel or memory of its own.
    pub fn spawn_native<F, Fut>(
        &self,
        options: SpawnOptions,
        f: F,
    ) -> Result<ProcessHandle, SpawnError>
    where
        F: FnOnce(NativeContext) -> Fut,
        Fut: Future<Output = i32> + Send + 'static,
    {
        let inner = &self.inner;
        let process = crate::native::spawn(
            &inner.executor,
            &inner.actors,
            &options,
            None,
            SpawnRelation::None,
            f,
        )?;
        Ok(ProcessHandle::new(process))
    }

    /// Sends a message from the host. FIFO per sender; never delivered to a later
    /// process that reuses a dead pid's slot.
    pub fn send(&self, to: Pid, tag: u64, data: impl Into<Vec<u8>>) -> Result<(), SendError> {
        actor::send(
            self.executor(),
            &self.inner.actors,
            to,
            Message::data(None, tag, data),
        )
    }

    /// Sends a message from the host to the process registered as `name`.
    pub fn send_name(
        &self,
        name: &str,
        tag: u64,
        data: impl Into<Vec<u8>>,
    ) -> Result<(), SendError> {
        let message = Message::data(None, tag, data);
        actor::send_name(self.executor(), &self.inner.actors, name, message)
    }

    /// Sends a message from the host to the process registered as `name` on the node
    /// `node` of a cluster (Erlang's `{name, node} ! message`); this runtime's own
    /// registry for its own node.
    pub fn send_name_on(
        &self,
        node: NodeId,
        name: &str,
        tag: u64,
        data: impl Into<Vec<u8>>,
    ) -> Result<(), SendError> {
        let message = Message::data(None, tag, data);
        actor::send_name_on(self.executor(), &self.inner.actors, node, name, message)
    }

    /// Sends an exit signal from the host to `pid` (docs/ABI.md has the table of what the
    /// receiver does): [`SignalReason::Kill`] kills it whether or not it traps exits;
    /// another reason kills it unless it traps exits or the reason is normal.
    pub fn exit(&self, pid: Pid, reason: SignalReason) -> Result<(), NoProc> {
        actor::exit_signal(self.executor(), &self.inner.actors, None, pid, reason)
    }

    /// Attaches the transport that carries signals to pids of other nodes (a cluster's,
    /// docs/CLUSTER.md). Once only: `false` if one is attached already. Without one, a
    /// pid of another node names no process.
    pub fn attach_remote(&self, remote: Arc<dyn Remote>) -> bool {
        self.inner.actors.remote.set(remote).is_ok()
    }

    /// What a transport calls on this runtime for signals from other nodes.
    pub fn remote_port(&self) -> RemotePort {
        RemotePort {
            executor: self.executor().clone(),
            actors: self.inner.actors.clone(),
        }
    }

    /// The node every pid of this runtime carries ([`RuntimeBuilder::node`]).
    pub fn node(&self) -> NodeId {
        self.executor().node()
    }

    /// Registers the live process `pid` as `name`. A name is released when its process
    /// ends.
    pub fn register(&self, name: &str, pid: Pid) -> Result<(), RegisterError> {
        actor::register(self.executor(), &self.inner.actors, name, pid)
    }

    /// Removes a name; the pid it named, or `None` if no live process had it.
    pub fn unregister(&self, name: &str) -> Option<Pid> {
        actor::unregister(self.executor(), &self.inner.actors, name)
    }

    /// The live process registered as `name`.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        actor::whereis(&self.inner.actors, name)
    }

    /// How many names are registered.
    pub fn registered(&self) -> usize {
        self.inner.actors.registry.len()
    }

    fn lookup(&self, pid: Pid) -> Result<Arc<Process>, NoProc> {
        self.executor().process(pid).ok_or(NoProc(pid))
    }

    /// Kills a live process (see [`ProcessHandle::kill`]).
    pub fn kill(&self, pid: Pid) -> Result<(), NoProc> {
        self.lookup(pid)?.kill();
        tracing::debug!(%pid, "kill");
        Ok(())
    }

    /// Changes the CPU weight of a live process, from its next quantum on: runnable
    /// processes get CPU in proportion to their weights ([`SpawnOptions::weight`]).
    pub fn set_weight(&self, pid: Pid, weight: u32) -> Result<(), WeightError> {
        check(weight)?;
        self.lookup(pid)?.set_weight(weight);
        Ok(())
    }

    /// Makes a group of processes that shares CPU with the other groups in proportion
    /// to `weight` (1 to [`MAX_WEIGHT`](crate::MAX_WEIGHT)), then among its own
    /// processes: a tenant, an application, a supervision tree. Spawn into it with
    /// [`SpawnOptions::group`]; processes a member spawns join it too. Every process not
    /// spawned into a group is in the default group, of weight 1.
    pub fn new_group(&self, weight: u32) -> Result<GroupId, WeightError> {
        check(weight)?;
        self.executor()
            .new_group(weight)
            .map_err(|_| WeightError::TooManyGroups)
    }

    /// Changes a group's weight.
    pub fn set_group_weight(&self, group: GroupId, weight: u32) -> Result<(), WeightError> {
        check(weight)?;
        if self.executor().set_group_weight(group, weight) {
            Ok(())
        } else {
            Err(WeightError::NoGroup(group))
        }
    }

    /// A handle to a live process.
    pub fn handle(&self, pid: Pid) -> Result<ProcessHandle, NoProc> {
        Ok(ProcessHandle::new(self.lookup(pid)?))
    }

    /// Waits for a live process's exit. `NoProc` if the pid is not live now; keep a
    /// [`ProcessHandle`] to join a process that may already have exited.
    pub async fn join(&self, pid: Pid) -> Result<Exit, NoProc> {
        let process = self.lookup(pid)?;
        Ok(process.core.exit.wait().await)
    }

    /// Blocking [`join`](Self::join).
    pub fn wait(&self, pid: Pid) -> Result<Exit, NoProc> {
        Ok(self.lookup(pid)?.core.exit.wait_blocking())
    }

    /// State and accounting of a live process.
    pub fn process_info(&self, pid: Pid) -> Option<ProcessInfo> {
        self.executor().process_info(pid)
    }

    /// How this runtime lays out its processes' linear memories: as
    /// [`RuntimeBuilder::memory_layout`](crate::RuntimeBuilder::memory_layout) asked, or
    /// as it chose from its capacity.
    pub fn memory_layout(&self) -> crate::MemoryLayout {
        self.inner.guests.layout
    }

    /// Runtime-wide counters.
    pub fn stats(&self) -> RuntimeStats {
        let executor = self.executor().stats();
        let guests = &self.inner.guests;
        RuntimeStats {
            workers: executor.workers,
            capacity: executor.capacity,
            live: executor.live,
            spawned: executor.spawned,
            exited: executor.exited,
            quanta: executor.quanta,
            steals: executor.steals,
            queued: executor.queued,
            guest_limit: guests.guest_limit,
            stack_slots: guests.stacks.ever_used(),
            max_map_count: guests.mapping.max_map_count,
            memory_budget: executor.memory_budget.unwrap_or(usize::MAX),
            memory_used: executor.memory_used,
            memory_peak: executor.memory_peak,
        }
    }

    /// What the live processes hold now: relations, aliases, names, timers, guest permits
    /// and arena slots ([`Held`]).
    /// It visits every live process and timer, so it costs what a scan of them does:
    /// for leak checks and tests, not for a hot loop.
    pub fn held(&self) -> Held {
        let executor = self.executor();
        let mut held = Held {
            names: self.inner.actors.registry.len(),
            ..Held::default()
        };
        for process in executor.processes() {
            let counts = process.core.relation_counts();
            held.processes += 1;
            held.links += counts.links;
            held.monitors += counts.monitoring;
            held.node_monitors += counts.node_monitors;
            held.watchers += counts.watchers;
            held.aliases += process.core.mailbox.aliases_open();
        }
        let timers = executor.timers();
        held.timers = timers.live;
        held.timer_entries = timers.entries;
        let guests = &self.inner.guests;
        held.guests = guests
            .guests_live
            .load(std::sync::atomic::Ordering::Acquire);
        held.memory_slots = guests.memories.in_use();
        held.stack_slots = guests.stacks.in_use();
        held
    }

    /// Releases the workers of a runtime built paused (deterministic mode is). Spawn
    /// everything first, then start: the schedule is then a function of the program
    /// alone. A no-op if already started.
    pub fn start(&self) {
        self.executor().start();
    }

    /// The hash of every scheduling decision so far (deterministic mode only).
    pub fn schedule_hash(&self) -> Option<u64> {
        self.executor().schedule_hash()
    }

    /// Takes the schedule trace recorded so far (emptying the recorder), if the runtime
    /// was built with [`RuntimeBuilder::trace`](crate::RuntimeBuilder::trace).
    pub fn take_trace(&self) -> Option<crate::Trace> {
        self.executor().take_trace()
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.executor().config().workers
    }

    /// The preemption mode.
    pub fn preemption(&self) -> Preemption {
        self.executor().config().preemption
    }

    /// Whether fuel is metered (always with fuel or hybrid preemption).
    pub fn fuel_metering(&self) -> bool {
        self.executor().config().fuel_metering
    }

    /// Shuts down gracefully (see `shutdown`) and returns the exits of every process that
    /// was alive when it was called or spawned during it. Blocks; a second call returns
    /// nothing.
    pub fn shutdown(&self, grace: Duration) -> Vec<Exit> {
        shutdown::shutdown(&self.inner, grace)
    }

    /// [`shutdown`](Self::shutdown) without blocking the calling task: the blocking part
    /// runs on a thread of its own.
    pub async fn shutdown_async(&self, grace: Duration) -> Vec<Exit> {
        let (tx, rx) = futures::channel::oneshot::channel();
        let runtime = self.clone();
        std::thread::Builder::new()
            .name("shoal-shutdown".into())
            .spawn(move || {
                let _ = tx.send(runtime.shutdown(grace));
            })
            .expect("cannot start the shutdown thread");
        rx.await.unwrap_or_default()
    }
}

/// A weight of 1 to `MAX_WEIGHT`, or the typed error.
fn check(weight: u32) -> Result<(), WeightError> {
    shoal_executor::check_weight(weight).map_err(|_| WeightError::OutOfRange {
        weight,
        max: shoal_executor::MAX_WEIGHT,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_proc::ExitReason;
    use std::sync::Arc;

    const LOOP: &str = r#"(module
      (func (export "main") (param $n i64) (result i32)
        (loop $l
          (local.set $n (i64.sub (local.get $n) (i64.const 1)))
          (br_if $l (i64.gt_s (local.get $n) (i64.const 0))))
        (i32.const 7)))"#;

    #[test]
    fn a_loop_runs_to_a_normal_exit_under_every_preemption_mode() {
        for preemption in [
            Preemption::Fuel { quantum: 1_000 },
            Preemption::Epoch {
                tick: Duration::from_millis(1),
                slice_ticks: 1,
            },
            Preemption::Hybrid {
                quantum: 1_000,
                tick: Duration::from_millis(1),
                slice_ticks: 1,
            },
        ] {
            let rt = Runtime::builder()
                .workers(2)
                .preemption(preemption)
                .build()
                .unwrap();
            let m = rt.compile_wat(LOOP).unwrap();
            let handles: Vec<_> = (0..8)
                .map(|_| rt.spawn(&m, "main", 100_000).unwrap())
                .collect();
            for h in handles {
                let exit = h.wait();
                assert_eq!(
                    exit.reason,
                    ExitReason::Normal { code: 7 },
                    "{preemption:?}"
                );
                if preemption.fuel_quantum().is_some() {
                    assert!(exit.accounting.preemptions > 10, "{:?}", exit.accounting);
                    assert!(exit.accounting.fuel > 100_000);
                }
            }
            assert!(rt.shutdown(Duration::ZERO).is_empty());
        }
    }

    #[test]
    fn dropping_a_runtime_returns_its_arenas_and_frees_its_processes() {
        // Each runtime reserves 4,000 × 16 MiB of memory slots: 12 that leaked would hold
        // 750 GiB of address space and their mappings.
        for _ in 0..12 {
            let rt = Runtime::builder()
                .workers(1)
                .capacity(4_000)
                .build()
                .unwrap();
            let m = rt.compile_wat(LOOP).unwrap();
            let h = rt.spawn(&m, "main", 10).unwrap();
            assert_eq!(h.wait().reason, ExitReason::Normal { code: 7 });
            let executor = Arc::downgrade(&rt.inner.executor);
            let guests = Arc::downgrade(&rt.inner.guests);
            drop((h, m, rt));
            assert!(
                executor.upgrade().is_none(),
                "the runtime's executor outlived it"
            );
            assert!(
                guests.upgrade().is_none(),
                "the runtime's wasm layer outlived it"
            );
        }
    }
}
