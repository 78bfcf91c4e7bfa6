//! The host API: [`Runtime`].
//!
//! # Threads
//! A runtime owns `workers` worker threads, a timer thread (real clock only) and an epoch
//! ticker thread (epoch and hybrid preemption only). Nothing else: the host API never
//! blocks a worker, and its async methods are plain futures that work under tokio or any
//! other executor.
//!
//! # Shutdown order
//! 1. Refuse new spawns (`shutting_down`, never unset).
//! 2. Give live processes up to the grace period to finish on their own.
//! 3. Kill the rest (and anything they spawned meanwhile) and wait for their exits: a
//!    kill ends a running process within one quantum or tick and a waiting one at once.
//! 4. Stop the workers (they find no work and see `stopping`), then the ticker and the
//!    timer thread, and join them all.
//! 5. Drop whatever is left in the queues and timers.
//!
//! Dropping the last clone of a `Runtime` runs the same shutdown with no grace.

use std::collections::HashSet;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use parking_lot::{Condvar, Mutex};
use shoal_proc::{
    Exit, Message, Pid, ProcessTable, References, RegisterError, Registry, SignalReason,
};
use wasmtime::Linker;

use crate::actor::Bind;
use crate::arena::{MAPPINGS_PER_GUEST, MappingBudget};
use crate::cache::CacheOutcome;
use crate::clock::Clock;
use crate::config::{Config, Preemption, RuntimeBuilder, SpawnOptions};
use crate::error::{CompileError, ConfigError, NoProc, SendError, SpawnError};
use crate::handle::{ProcessHandle, ProcessInfo, RuntimeStats};
use crate::hash::ScheduleHash;
use crate::module::Module;
use crate::native::NativeContext;
use crate::process::Process;
use crate::queue::Queues;
use crate::shared::{Counters, Shared};
use crate::ticker::TickerStop;
use crate::timer::Timers;

/// Distinguishes runtimes in one host process (for the workers' thread-locals).
static NEXT_RUNTIME_ID: AtomicUsize = AtomicUsize::new(1);

/// How often shutdown checks whether the grace period can end early.
const GRACE_POLL: Duration = Duration::from_millis(1);

/// A Shoal runtime: a pool of workers running wasm processes. Cheap to clone; every
/// clone is the same runtime.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    shared: Arc<Shared>,
    /// Worker, timer and ticker threads, joined at shutdown.
    threads: Mutex<Vec<JoinHandle<()>>>,
    ticker_stop: Arc<TickerStop>,
    /// Set by the first shutdown; later ones return nothing.
    shut_down: AtomicBool,
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        shutdown(self, Duration::ZERO);
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

    pub(crate) fn from_config(config: Config) -> Result<Runtime, ConfigError> {
        let mapping = MappingBudget::of_host();
        let guest_limit = match config.mapping_budget {
            Some(mappings) if mappings / MAPPINGS_PER_GUEST > mapping.guests => {
                return Err(ConfigError::invalid(
                    "mapping_budget",
                    format!(
                        "{mappings} mappings asked for, but vm.max_map_count = {} leaves {} for guests on this host",
                        mapping.max_map_count,
                        mapping.guests * MAPPINGS_PER_GUEST
                    ),
                ));
            }
            Some(mappings) => mappings / MAPPINGS_PER_GUEST,
            None => mapping.guests,
        }
        .min(config.capacity);
        if guest_limit < config.capacity {
            tracing::warn!(
                capacity = config.capacity,
                guest_limit,
                max_map_count = mapping.max_map_count,
                "the memory-mapping budget admits fewer live wasm processes than the capacity"
            );
        }
        let crate::engine::Allocation { engine, stacks } =
            crate::engine::build(&config, guest_limit)?;
        let mut linker = Linker::new(&engine);
        crate::host::add_to_linker(&mut linker).map_err(|e| ConfigError::Engine {
            message: format!("{e:#}"),
        })?;
        let (queues, locals) = Queues::new(config.workers);
        let per_worker = || {
            (0..config.workers)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect()
        };
        let shared = Arc::new(Shared {
            id: NEXT_RUNTIME_ID.fetch_add(1, Ordering::Relaxed),
            engine: engine.clone(),
            stacks,
            mapping,
            guest_limit,
            guests_live: CachePadded::new(AtomicUsize::new(0)),
            linker,
            table: ProcessTable::with_capacity(config.capacity),
            registry: Registry::default(),
            references: References::default(),
            wasi_io: crate::wasi::WasiIo::default(),
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
            hint_clock: !config.deterministic,
            trace: config
                .trace_events
                .map(|n| crate::trace::Recorder::new(config.workers, n)),
            config,
        });

        let spawn_error = |e: std::io::Error| ConfigError::Engine {
            message: format!("cannot start a runtime thread: {e}"),
        };
        let mut threads = Vec::new();
        for (index, (local, parker)) in locals.into_iter().enumerate() {
            let shared = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("shoal-worker-{index}"))
                    .spawn(move || crate::worker::run(shared, index, local, parker))
                    .map_err(spawn_error)?,
            );
        }
        if !shared.clock.is_virtual() {
            let shared = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("shoal-timer".into())
                    .spawn(move || shared.timers.run(&shared.clock))
                    .map_err(spawn_error)?,
            );
        }
        let ticker_stop = Arc::new(TickerStop::default());
        if let Some((tick, _)) = shared.config.preemption.epoch() {
            threads.push(
                crate::ticker::spawn(engine, tick, ticker_stop.clone()).map_err(spawn_error)?,
            );
        }
        let runtime = Runtime {
            inner: Arc::new(RuntimeInner {
                shared,
                threads: Mutex::new(threads),
                ticker_stop,
                shut_down: AtomicBool::new(false),
            }),
        };
        if !runtime.inner.shared.config.paused {
            runtime.start();
        }
        Ok(runtime)
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// Compiles a module from wasm bytes or WAT text. Compile once; spawn many.
    pub fn compile(&self, bytes: &[u8]) -> Result<Module, CompileError> {
        let shared = self.shared();
        Module::compile(&shared.engine, &shared.linker, bytes)
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
        let shared = self.shared();
        let (module, outcome) =
            crate::cache::load_or_compile(&shared.engine, cache_dir.as_ref(), bytes)?;
        Ok((Module::link(&shared.linker, module)?, outcome))
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

    /// Spawns a process with per-process limits.
    pub fn spawn_with(
        &self,
        module: &Module,
        export: &str,
        arg: i64,
        options: SpawnOptions,
    ) -> Result<ProcessHandle, SpawnError> {
        let process =
            self.shared()
                .spawn_process(module, export, arg, &options.limits, None, Bind::None)?;
        Ok(ProcessHandle { process })
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
        let shared = self.shared();
        let process = crate::native::spawn(shared, &options, None, Bind::None, f)?;
        Ok(ProcessHandle { process })
    }

    /// Sends a message from the host. FIFO per sender; never delivered to a later
    /// process that reuses a dead pid's slot.
    pub fn send(&self, to: Pid, tag: u64, data: impl Into<Vec<u8>>) -> Result<(), SendError> {
        self.shared().send(to, Message::data(None, tag, data))
    }

    /// Sends a message from the host to the process registered as `name`.
    pub fn send_name(
        &self,
        name: &str,
        tag: u64,
        data: impl Into<Vec<u8>>,
    ) -> Result<(), SendError> {
        self.shared()
            .send_name(name, Message::data(None, tag, data))
    }

    /// Sends an exit signal from the host to `pid` (docs/ABI.md has the table of what the
    /// receiver does): [`SignalReason::Kill`] kills it whether or not it traps exits;
    /// another reason kills it unless it traps exits or the reason is normal.
    pub fn exit(&self, pid: Pid, reason: SignalReason) -> Result<(), NoProc> {
        self.shared().exit_signal(None, pid, reason)
    }

    /// Registers the live process `pid` as `name`. A name is released when its process
    /// ends.
    pub fn register(&self, name: &str, pid: Pid) -> Result<(), RegisterError> {
        self.shared().register(name, pid)
    }

    /// Removes a name; the pid it named, or `None` if no live process had it.
    pub fn unregister(&self, name: &str) -> Option<Pid> {
        self.shared().unregister(name)
    }

    /// The live process registered as `name`.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.shared().whereis(name)
    }

    /// How many names are registered.
    pub fn registered(&self) -> usize {
        self.shared().registry.len()
    }

    fn lookup(&self, pid: Pid) -> Result<Arc<Process>, NoProc> {
        self.shared().table.get(pid).ok_or(NoProc(pid))
    }

    /// Kills a live process (see [`ProcessHandle::kill`]).
    pub fn kill(&self, pid: Pid) -> Result<(), NoProc> {
        self.lookup(pid)?.kill();
        tracing::debug!(%pid, "kill");
        Ok(())
    }

    /// A handle to a live process.
    pub fn handle(&self, pid: Pid) -> Result<ProcessHandle, NoProc> {
        Ok(ProcessHandle {
            process: self.lookup(pid)?,
        })
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
        let shared = self.shared();
        let process = shared.table.get(pid)?;
        let state = process.core.state.get();
        let times = process.core.state.times(shared.clock.now_ns());
        Some(ProcessInfo {
            pid,
            state,
            accounting: process.core.accounting.snapshot(times),
            mailbox_len: process.core.mailbox.len(),
        })
    }

    /// Runtime-wide counters.
    pub fn stats(&self) -> RuntimeStats {
        let shared = self.shared();
        let sum = |v: &[CachePadded<AtomicU64>]| v.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        RuntimeStats {
            workers: shared.config.workers,
            capacity: shared.config.capacity,
            live: shared.table.len(),
            spawned: shared.counters.spawned.load(Ordering::Relaxed),
            exited: shared.counters.exited.load(Ordering::Relaxed),
            quanta: sum(&shared.counters.quanta),
            steals: sum(&shared.counters.steals),
            queued: shared.queues.len(),
            guest_limit: shared.guest_limit,
            stack_slots: shared.stacks.ever_used(),
            max_map_count: shared.mapping.max_map_count,
        }
    }

    /// Releases the workers of a runtime built paused (deterministic mode is). Spawn
    /// everything first, then start: the schedule is then a function of the program
    /// alone. A no-op if already started.
    pub fn start(&self) {
        let shared = self.shared();
        let mut started = shared.started.lock();
        if !*started {
            *started = true;
            shared.started_cv.notify_all();
        }
    }

    /// The hash of every scheduling decision so far (deterministic mode only).
    pub fn schedule_hash(&self) -> Option<u64> {
        self.shared()
            .schedule_hash
            .as_ref()
            .map(|h| h.lock().value())
    }

    /// Takes the schedule trace recorded so far (emptying the recorder), if the runtime
    /// was built with [`RuntimeBuilder::trace`](crate::RuntimeBuilder::trace).
    pub fn take_trace(&self) -> Option<crate::Trace> {
        self.shared().trace.as_ref().map(|t| t.take())
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.shared().config.workers
    }

    /// The preemption mode.
    pub fn preemption(&self) -> Preemption {
        self.shared().config.preemption
    }

    /// Whether fuel is metered (always with fuel or hybrid preemption).
    pub fn fuel_metering(&self) -> bool {
        self.shared().config.fuel_metering
    }

    /// Shuts down gracefully (see the module docs) and returns the exits of every process
    /// that was alive when it was called or spawned during it. Blocks; a second call
    /// returns nothing.
    pub fn shutdown(&self, grace: Duration) -> Vec<Exit> {
        shutdown(&self.inner, grace)
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

fn shutdown(inner: &RuntimeInner, grace: Duration) -> Vec<Exit> {
    if inner.shut_down.swap(true, Ordering::AcqRel) {
        return Vec::new();
    }
    let shared = &inner.shared;
    shared.shutting_down.store(true, Ordering::SeqCst);
    {
        // A paused runtime must run for its processes to finish or die.
        let mut started = shared.started.lock();
        *started = true;
        shared.started_cv.notify_all();
    }
    tracing::debug!(live = shared.table.len(), ?grace, "shutdown");

    let mut ended: Vec<Arc<Process>> = shared.table.entries().into_iter().map(|(_, p)| p).collect();
    let mut seen: HashSet<Pid> = ended.iter().map(|p| p.pid()).collect();
    let grace_end = Instant::now() + grace;
    while !shared.table.is_empty() && Instant::now() < grace_end {
        std::thread::sleep(GRACE_POLL.min(grace_end.saturating_duration_since(Instant::now())));
    }
    loop {
        let live = shared.table.entries();
        if live.is_empty() {
            break;
        }
        for (_, process) in &live {
            process.kill();
        }
        for (_, process) in live {
            process.core.exit.wait_blocking();
            if seen.insert(process.pid()) {
                ended.push(process);
            }
        }
    }

    shared.stopping.store(true, Ordering::SeqCst);
    shared.queues.notify_all();
    inner.ticker_stop.stop();
    shared.timers.stop();
    let current = std::thread::current().id();
    for thread in inner.threads.lock().drain(..) {
        if thread.thread().id() != current {
            let _ = thread.join();
        }
    }
    drop(shared.queues.drain());
    shared.timers.clear();

    ended
        .iter()
        .filter_map(|p| p.core.exit.get().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_proc::ExitReason;

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
            let weak = Arc::downgrade(&rt.inner.shared);
            drop((h, m, rt));
            assert!(
                weak.upgrade().is_none(),
                "the runtime's shared state outlived it"
            );
        }
    }

    #[test]
    fn a_task_dropped_before_it_ran_still_records_an_exit() {
        let rt = Runtime::builder().workers(1).paused(true).build().unwrap();
        let m = rt.compile_wat(LOOP).unwrap();
        let h = rt.spawn(&m, "main", 10).unwrap();
        let queued = rt.inner.shared.queues.drain();
        assert_eq!(queued.len(), 1);
        drop(queued);
        assert_eq!(h.try_exit().map(|e| e.reason), Some(ExitReason::Killed));
        assert_eq!(rt.stats().live, 0, "its table slot was freed");
        assert!(rt.send(h.pid(), 0, []).is_err());
    }
}
