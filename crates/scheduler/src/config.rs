//! Runtime settings: the builder a user fills in, and the validated `Config` the runtime
//! runs on.
//!
//! Every setting is checked once, in [`RuntimeBuilder::build`], and a bad one is refused
//! with a [`ConfigError`] that names it. After that the `Config` is immutable: the engine,
//! the arenas and the workers are all sized from it.

use std::time::Duration;

use crate::error::ConfigError;

/// Default number of live processes. The issue that introduced the runtime asked for 10k
/// live processes.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Default cap on one process's linear memory: 16 MiB, enough for the guests Shoal ships
/// and small enough that a million arena slots (16 TiB) fit in a 47-bit address space.
pub const DEFAULT_MAX_MEMORY: usize = 16 << 20;

/// Default fuel quantum. One unit of fuel is roughly one wasm operator; 100,000 of them is
/// 30–100 µs of guest work on current cores, the same order as BEAM's 4,000 reductions
/// a slice, and keeps the ~150 ns cost of a fuel yield below 0.5% of a quantum.
pub const DEFAULT_FUEL_QUANTUM: u64 = 100_000;

/// Default epoch tick. The ticker thread wakes this often; a woken process waits at most
/// one tick behind a CPU-bound one, and the tick thread costs well under 1% of a core.
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_micros(500);

/// Default slice length in ticks: a CPU-bound process runs 2 ticks (about 1 ms) before it
/// yields to another runnable one.
pub const DEFAULT_SLICE_TICKS: u64 = 2;

/// Largest quantum or slice we accept. Beyond a second a quantum stops being preemption.
const MAX_EPOCH_TICK: Duration = Duration::from_secs(1);

/// Ticks shorter than this would make the ticker thread a busy loop.
const MIN_EPOCH_TICK: Duration = Duration::from_micros(10);

/// The arenas reserve address space for every slot up front; past this many processes
/// the reservation of even small slots exceeds what a 47-bit address space holds.
pub const MAX_CAPACITY: usize = 4_000_000;

/// How processes are interrupted so that others get a turn.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Preemption {
    /// Deterministic quanta: a process yields after consuming `quantum` units of fuel
    /// (wasmtime's `fuel_async_yield_interval`). The same program with the same inputs is
    /// interrupted at the same places every run.
    Fuel {
        /// Fuel units per quantum.
        quantum: u64,
    },
    /// Wall-clock slices: a ticker thread bumps the engine epoch every `tick`; a process
    /// that has run `slice_ticks` ticks yields if another process is waiting, and a lone
    /// process runs on. A woken process preempts a CPU-bound one at the next tick.
    Epoch {
        /// Period of the ticker thread.
        tick: Duration,
        /// Ticks a process may run before it yields to a waiting one.
        slice_ticks: u64,
    },
    /// Both: fuel quanta for determinism of the common case, epochs as a wall-clock
    /// backstop and for wake-up preemption.
    Hybrid {
        /// Fuel units per quantum.
        quantum: u64,
        /// Period of the ticker thread.
        tick: Duration,
        /// Ticks a process may run before it yields to a waiting one.
        slice_ticks: u64,
    },
}

impl Default for Preemption {
    fn default() -> Self {
        Preemption::Epoch {
            tick: DEFAULT_EPOCH_TICK,
            slice_ticks: DEFAULT_SLICE_TICKS,
        }
    }
}

impl Preemption {
    /// `"fuel"`, `"epoch"` or `"hybrid"`, as the CLI spells them.
    pub fn name(&self) -> &'static str {
        match self {
            Preemption::Fuel { .. } => "fuel",
            Preemption::Epoch { .. } => "epoch",
            Preemption::Hybrid { .. } => "hybrid",
        }
    }

    /// The fuel quantum, if this mode yields on fuel.
    pub fn fuel_quantum(&self) -> Option<u64> {
        match *self {
            Preemption::Fuel { quantum } | Preemption::Hybrid { quantum, .. } => Some(quantum),
            Preemption::Epoch { .. } => None,
        }
    }

    /// The tick and slice, if this mode uses epochs.
    pub fn epoch(&self) -> Option<(Duration, u64)> {
        match *self {
            Preemption::Epoch { tick, slice_ticks }
            | Preemption::Hybrid {
                tick, slice_ticks, ..
            } => Some((tick, slice_ticks)),
            Preemption::Fuel { .. } => None,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(quantum) = self.fuel_quantum()
            && quantum == 0
        {
            return Err(ConfigError::invalid(
                "preemption.quantum",
                "the fuel quantum (fuel_async_yield_interval) must not be 0",
            ));
        }
        if let Some((tick, slice_ticks)) = self.epoch() {
            if !(MIN_EPOCH_TICK..=MAX_EPOCH_TICK).contains(&tick) {
                return Err(ConfigError::invalid(
                    "preemption.tick",
                    format!(
                        "the epoch tick must be between {MIN_EPOCH_TICK:?} and {MAX_EPOCH_TICK:?}, got {tick:?}"
                    ),
                ));
            }
            if slice_ticks == 0 {
                return Err(ConfigError::invalid(
                    "preemption.slice_ticks",
                    "a slice must be at least 1 tick",
                ));
            }
        }
        Ok(())
    }
}

/// Per-process limits. The runtime holds defaults; [`SpawnOptions`] overrides them for
/// one process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Lifetime fuel budget; `None` is unlimited.
    pub fuel_limit: Option<u64>,
    /// Wall-clock time from spawn after which the process ends as `deadline`.
    pub deadline: Option<Duration>,
    /// Cap on linear memory, in bytes.
    pub max_memory: Option<usize>,
    /// Cap on queued messages; `None` is unbounded.
    pub mailbox_bound: Option<usize>,
    /// What a WASI process sees; `None`: an empty config.
    pub wasi: Option<crate::wasi::WasiConfig>,
}

/// Options for one spawn, each overriding the runtime's default for that process only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpawnOptions {
    pub(crate) limits: Limits,
}

impl SpawnOptions {
    /// Options that change nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lifetime fuel budget for this process.
    pub fn fuel_limit(mut self, fuel: u64) -> Self {
        self.limits.fuel_limit = Some(fuel);
        self
    }

    /// Wall-clock deadline, counted from the spawn.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.limits.deadline = Some(deadline);
        self
    }

    /// Cap on this process's linear memory, in bytes. It cannot exceed the runtime's
    /// `max_memory`, which sizes the arena's slots.
    pub fn max_memory(mut self, bytes: usize) -> Self {
        self.limits.max_memory = Some(bytes);
        self
    }

    /// Cap on this process's queued messages.
    pub fn mailbox_bound(mut self, messages: usize) -> Self {
        self.limits.mailbox_bound = Some(messages);
        self
    }

    /// What this process sees if its module imports WASI: arguments, environment,
    /// stdio, directories (see [`WasiConfig`](crate::WasiConfig)).
    pub fn wasi(mut self, config: crate::wasi::WasiConfig) -> Self {
        self.limits.wasi = Some(config);
        self
    }
}

/// The validated settings a runtime runs on.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Worker threads.
    pub workers: usize,
    /// How processes are interrupted.
    pub preemption: Preemption,
    /// Whether the engine counts fuel (always with fuel preemption; optional with epochs).
    pub fuel_metering: bool,
    /// Live processes at most.
    pub capacity: usize,
    /// Memory mappings the runtime may use for its guests, if the builder set it;
    /// otherwise what `vm.max_map_count` leaves (see `arena::MappingBudget`).
    pub mapping_budget: Option<usize>,
    /// Defaults for every process.
    pub limits: Limits,
    /// Size of the arena's memory slots: the largest memory any process may have.
    pub max_memory: usize,
    /// One worker, fuel only, virtual clock, started paused, schedule hashed.
    pub deterministic: bool,
    /// Workers wait for `Runtime::start`.
    pub paused: bool,
    /// Record a schedule trace of at most this many events.
    pub trace_events: Option<usize>,
}

/// Builds a [`Runtime`](crate::Runtime). Every setting is validated by [`build`](Self::build).
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RuntimeBuilder {
    workers: Option<usize>,
    preemption: Option<Preemption>,
    fuel_metering: Option<bool>,
    capacity: Option<usize>,
    mapping_budget: Option<usize>,
    limits: Limits,
    deterministic: bool,
    paused: bool,
    trace_events: Option<usize>,
}

impl RuntimeBuilder {
    /// Number of worker threads. Default: the available cores.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = Some(n);
        self
    }

    /// How processes are preempted. Default: [`Preemption::default`].
    pub fn preemption(mut self, preemption: Preemption) -> Self {
        self.preemption = Some(preemption);
        self
    }

    /// Count fuel even when preempting by epochs, so that fuel limits and fuel accounting
    /// work in `Epoch` mode. Costs 20–40% on tight loops.
    pub fn fuel_metering(mut self, on: bool) -> Self {
        self.fuel_metering = Some(on);
        self
    }

    /// Maximum number of live processes. Default: [`DEFAULT_CAPACITY`].
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = Some(n);
        self
    }

    /// Memory mappings the runtime may use for guests' fiber stacks, two per live guest.
    /// Default: what `vm.max_map_count` leaves after the host's current mappings and
    /// [`MAPPING_HEADROOM`](crate::MAPPING_HEADROOM). Lower it to keep more mappings for
    /// the embedding application; a spawn past it is [`SpawnError::MappingSetting`](crate::SpawnError::MappingSetting).
    pub fn mapping_budget(mut self, mappings: usize) -> Self {
        self.mapping_budget = Some(mappings);
        self
    }

    /// Default lifetime fuel budget of every process.
    pub fn fuel_limit(mut self, fuel: u64) -> Self {
        self.limits.fuel_limit = Some(fuel);
        self
    }

    /// Default wall-clock deadline of every process, counted from its spawn.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.limits.deadline = Some(deadline);
        self
    }

    /// Largest linear memory of any process, in bytes. Default: [`DEFAULT_MAX_MEMORY`].
    pub fn max_memory(mut self, bytes: usize) -> Self {
        self.limits.max_memory = Some(bytes);
        self
    }

    /// Default cap on queued messages per process. Default: unbounded.
    pub fn mailbox_bound(mut self, messages: usize) -> Self {
        self.limits.mailbox_bound = Some(messages);
        self
    }

    /// Deterministic mode: one worker, fuel quanta only, a virtual clock for sleeps and
    /// timeouts, started paused (spawn everything, then [`Runtime::start`](crate::Runtime::start)),
    /// and a hash of every scheduling decision in
    /// [`Runtime::schedule_hash`](crate::Runtime::schedule_hash).
    pub fn deterministic(mut self, on: bool) -> Self {
        self.deterministic = on;
        self
    }

    /// Start with workers paused until [`Runtime::start`](crate::Runtime::start).
    pub fn paused(mut self, on: bool) -> Self {
        self.paused = on;
        self
    }

    /// Record a schedule trace (quanta, spawns, exits, wake-ups) of at most `max_events`
    /// events, the most recent kept; read it with
    /// [`Runtime::take_trace`](crate::Runtime::take_trace). Default: off.
    pub fn trace(mut self, max_events: usize) -> Self {
        self.trace_events = Some(max_events);
        self
    }

    /// Validates the settings and starts the runtime.
    pub fn build(self) -> Result<crate::Runtime, ConfigError> {
        crate::Runtime::from_config(self.into_config()?)
    }

    pub(crate) fn into_config(self) -> Result<Config, ConfigError> {
        let deterministic = self.deterministic;
        let preemption = match (self.preemption, deterministic) {
            (Some(p @ Preemption::Fuel { .. }), true) => p,
            (Some(p), true) => {
                return Err(ConfigError::invalid(
                    "preemption",
                    format!(
                        "deterministic mode preempts by fuel only, but {} preemption was requested",
                        p.name()
                    ),
                ));
            }
            (None, true) => Preemption::Fuel {
                quantum: DEFAULT_FUEL_QUANTUM,
            },
            (Some(p), false) => p,
            (None, false) => Preemption::default(),
        };
        preemption.validate()?;

        let workers = match (self.workers, deterministic) {
            (Some(0), _) => {
                return Err(ConfigError::invalid(
                    "workers",
                    "at least 1 worker is needed",
                ));
            }
            (Some(n), true) if n != 1 => {
                return Err(ConfigError::invalid(
                    "workers",
                    format!("deterministic mode runs exactly 1 worker, got {n}"),
                ));
            }
            (Some(n), _) => n,
            (None, true) => 1,
            (None, false) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if workers > MAX_WORKERS {
            return Err(ConfigError::invalid(
                "workers",
                format!("at most {MAX_WORKERS} workers, got {workers}"),
            ));
        }

        let capacity = self.capacity.unwrap_or(DEFAULT_CAPACITY);
        if capacity == 0 || capacity > MAX_CAPACITY {
            return Err(ConfigError::invalid(
                "capacity",
                format!("must be between 1 and {MAX_CAPACITY} processes, got {capacity}"),
            ));
        }

        let fuel_metering = preemption.fuel_quantum().is_some() || self.fuel_metering == Some(true);
        if self.fuel_metering == Some(false) && preemption.fuel_quantum().is_some() {
            return Err(ConfigError::invalid(
                "fuel_metering",
                format!("{} preemption needs fuel metering", preemption.name()),
            ));
        }
        let mut limits = self.limits;
        let max_memory = limits.max_memory.unwrap_or(DEFAULT_MAX_MEMORY);
        limits.max_memory = None;
        validate_limits(&limits, fuel_metering, max_memory)?;
        if !(WASM_PAGE..=MAX_MEMORY).contains(&max_memory) {
            return Err(ConfigError::invalid(
                "max_memory",
                format!(
                    "must be between one wasm page ({WASM_PAGE} bytes) and {MAX_MEMORY} bytes, got {max_memory}"
                ),
            ));
        }

        Ok(Config {
            workers,
            preemption,
            fuel_metering,
            capacity,
            mapping_budget: self.mapping_budget,
            limits,
            max_memory,
            deterministic,
            paused: self.paused || deterministic,
            trace_events: self.trace_events,
        })
    }
}

/// More workers than this is a typo, not a machine.
const MAX_WORKERS: usize = 1024;

/// The wasm page size: the unit of `memory.grow`.
pub(crate) const WASM_PAGE: usize = 64 << 10;

/// The largest slot the memory arena will reserve per process: 4 GiB, a 32-bit memory's maximum.
const MAX_MEMORY: usize = 4 << 30;

/// Checks per-process limits, from the builder or from [`SpawnOptions`].
pub(crate) fn validate_limits(
    limits: &Limits,
    fuel_metering: bool,
    arena_max_memory: usize,
) -> Result<(), ConfigError> {
    if let Some(fuel) = limits.fuel_limit {
        if fuel == 0 {
            return Err(ConfigError::invalid(
                "fuel_limit",
                "a fuel budget of 0 would trap at once",
            ));
        }
        if !fuel_metering {
            return Err(ConfigError::invalid(
                "fuel_limit",
                "needs fuel metering: use Fuel or Hybrid preemption, or fuel_metering(true)",
            ));
        }
    }
    if limits.deadline == Some(Duration::ZERO) {
        return Err(ConfigError::invalid("deadline", "must be longer than 0"));
    }
    if let Some(bytes) = limits.max_memory
        && bytes > arena_max_memory
    {
        return Err(ConfigError::invalid(
            "max_memory",
            format!(
                "{bytes} bytes exceeds the runtime's max_memory of {arena_max_memory} bytes, which sizes the arena's slots"
            ),
        ));
    }
    if limits.mailbox_bound == Some(0) {
        return Err(ConfigError::invalid(
            "mailbox_bound",
            "a bound of 0 would refuse every message",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting_of(builder: RuntimeBuilder) -> &'static str {
        match builder.into_config() {
            Err(ConfigError::Invalid { setting, .. }) => setting,
            other => panic!("expected an invalid setting, got {other:?}"),
        }
    }

    #[test]
    fn zero_workers_is_refused_by_name() {
        assert_eq!(setting_of(RuntimeBuilder::default().workers(0)), "workers");
    }

    #[test]
    fn zero_quantum_is_refused_by_name() {
        let b = RuntimeBuilder::default().preemption(Preemption::Fuel { quantum: 0 });
        assert_eq!(setting_of(b), "preemption.quantum");
    }

    #[test]
    fn bad_tick_and_slice_are_refused_by_name() {
        let b = RuntimeBuilder::default().preemption(Preemption::Epoch {
            tick: Duration::from_nanos(1),
            slice_ticks: 1,
        });
        assert_eq!(setting_of(b), "preemption.tick");
        let b = RuntimeBuilder::default().preemption(Preemption::Epoch {
            tick: Duration::from_millis(1),
            slice_ticks: 0,
        });
        assert_eq!(setting_of(b), "preemption.slice_ticks");
    }

    #[test]
    fn capacity_bounds_are_refused_by_name() {
        assert_eq!(
            setting_of(RuntimeBuilder::default().capacity(0)),
            "capacity"
        );
        assert_eq!(
            setting_of(RuntimeBuilder::default().capacity(MAX_CAPACITY + 1)),
            "capacity"
        );
    }

    #[test]
    fn fuel_limit_without_metering_is_refused_by_name() {
        let b = RuntimeBuilder::default()
            .preemption(Preemption::Epoch {
                tick: Duration::from_millis(1),
                slice_ticks: 1,
            })
            .fuel_limit(10);
        assert_eq!(setting_of(b), "fuel_limit");
    }

    #[test]
    fn deterministic_mode_refuses_epochs_and_many_workers() {
        let b = RuntimeBuilder::default().deterministic(true).workers(2);
        assert_eq!(setting_of(b), "workers");
        let b = RuntimeBuilder::default()
            .deterministic(true)
            .preemption(Preemption::default());
        assert_eq!(setting_of(b), "preemption");
    }

    #[test]
    fn deterministic_mode_defaults_to_one_fuel_worker_paused() {
        let c = RuntimeBuilder::default()
            .deterministic(true)
            .into_config()
            .unwrap();
        assert_eq!(c.workers, 1);
        assert!(c.paused);
        assert_eq!(c.preemption.fuel_quantum(), Some(DEFAULT_FUEL_QUANTUM));
    }

    #[test]
    fn memory_and_mailbox_limits_are_refused_by_name() {
        assert_eq!(
            setting_of(RuntimeBuilder::default().max_memory(1)),
            "max_memory"
        );
        assert_eq!(
            setting_of(RuntimeBuilder::default().mailbox_bound(0)),
            "mailbox_bound"
        );
        assert_eq!(
            setting_of(RuntimeBuilder::default().deadline(Duration::ZERO)),
            "deadline"
        );
    }
}
