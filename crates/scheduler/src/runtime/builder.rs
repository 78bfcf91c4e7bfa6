//! [`RuntimeBuilder`]: the settings a user fills in, checked once and mapped into the
//! executor's [`Config`] and the wasm layer's settings.
//!
//! Every setting is checked in [`RuntimeBuilder::build`], and a bad one is refused with a
//! [`ConfigError`] that names it, before any thread starts. After that the settings never
//! change: the engine, the arenas and the workers are all sized from them.

use std::sync::Arc;
use std::time::Duration;

use shoal_proc::{MemoryBudget, NodeId};

use shoal_executor::{Config, DEFAULT_CAPACITY, DEFAULT_FUEL_QUANTUM, Preemption, ProcessOptions};

use crate::error::ConfigError;
use crate::wasm::arena::MemoryLayout;
use crate::wasm::{GuestLimits, GuestSettings, WASM_PAGE};

/// Default cap on one process's linear memory: 16 MiB, enough for the guests Shoal ships
/// and small enough that a million arena slots (16 TiB) fit in a 47-bit address space.
pub const DEFAULT_MAX_MEMORY: usize = 16 << 20;

/// Default cap on the elements of one process's table: enough for the function tables of
/// modules compiled from C or Rust with a few thousand address-taken functions, and a
/// bound on the heap one instance's table can take (8 bytes an element, so 80 KB). GCC's
/// `cc1` needs 10,433: raise it for such programs.
pub const DEFAULT_MAX_TABLE_ELEMENTS: u32 = 10_000;

/// The share of the machine's physical memory the default memory budget takes: three
/// quarters, leaving the rest to the host, the compiled code and the kernel.
const DEFAULT_BUDGET_SHARE: (usize, usize) = (3, 4);

/// The default memory budget: [`DEFAULT_BUDGET_SHARE`] of the machine's physical memory
/// (18 GiB on a 24 GiB machine), or no budget where the machine does not say.
pub fn default_memory_budget() -> usize {
    // SAFETY: sysconf has no preconditions; it returns -1 for a name it does not know.
    #[allow(unsafe_code)]
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    match (usize::try_from(pages), usize::try_from(page)) {
        (Ok(pages), Ok(page)) if pages > 0 && page > 0 => {
            pages.saturating_mul(page) / DEFAULT_BUDGET_SHARE.1 * DEFAULT_BUDGET_SHARE.0
        }
        _ => usize::MAX,
    }
}

/// The largest slot the memory arena will reserve per process: 4 GiB, a 32-bit memory's
/// maximum.
const MAX_MEMORY: usize = 4 << 30;

/// Builds a [`Runtime`](crate::Runtime). Every setting is validated by [`build`](Self::build).
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RuntimeBuilder {
    workers: Option<usize>,
    preemption: Option<Preemption>,
    fuel_metering: Option<bool>,
    capacity: Option<usize>,
    mapping_budget: Option<usize>,
    max_memory: Option<usize>,
    memory_layout: Option<MemoryLayout>,
    max_table_elements: Option<u32>,
    memory_budget: Option<usize>,
    process_defaults: ProcessOptions,
    guest_defaults: GuestLimits,
    deterministic: bool,
    paused: bool,
    trace_events: Option<usize>,
    node: NodeId,
}

/// The validated settings of every layer.
pub(crate) struct Settings {
    /// The executor's.
    pub executor: Config,
    /// The wasm layer's.
    pub guests: GuestSettings,
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

    /// The node this runtime is in a cluster: every pid it makes carries it (docs/ABI.md,
    /// "Pids"). Default: [`NodeId::LOCAL`], a runtime outside any cluster. A cluster
    /// draws a fresh id for every start of a node, so that pids of a node's earlier
    /// incarnations never reach the new one.
    pub fn node(mut self, node: NodeId) -> Self {
        self.node = node;
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
        self.guest_defaults.fuel_limit = Some(fuel);
        self
    }

    /// Default wall-clock deadline of every process, counted from its spawn.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.process_defaults.deadline = Some(deadline);
        self
    }

    /// How processes' linear memories are laid out: [`MemoryLayout::Guarded`] runs
    /// memory-heavy code at wasmtime's own speed, for up to
    /// [`MAX_GUARDED_PROCESSES`](crate::MAX_GUARDED_PROCESSES) live processes;
    /// [`MemoryLayout::Dense`] fits a million. Default: guarded when the capacity and the
    /// kernel's mapping limit allow it, else dense ([`Runtime::memory_layout`](crate::Runtime::memory_layout)
    /// says which). An explicit `Guarded` with a larger capacity is refused by name.
    pub fn memory_layout(mut self, layout: MemoryLayout) -> Self {
        self.memory_layout = Some(layout);
        self
    }

    /// Largest linear memory of any process, in bytes. Default: [`DEFAULT_MAX_MEMORY`].
    pub fn max_memory(mut self, bytes: usize) -> Self {
        self.max_memory = Some(bytes);
        self
    }

    /// The runtime's memory budget, in bytes: what all its processes may hold at once in
    /// linear memory, queued messages and process records
    /// ([`PROCESS_RECORD_BYTES`](crate::PROCESS_RECORD_BYTES) each). Past it a
    /// `memory.grow` returns -1, a spawn is refused
    /// ([`SpawnError::MemoryBudget`](crate::SpawnError::MemoryBudget); `CAPACITY` to a
    /// guest) and a send gets `OVER_BUDGET`
    /// ([`SendError::MemoryBudget`](crate::SendError::MemoryBudget)); nothing running is
    /// ended for it. Default: [`default_memory_budget`]; `usize::MAX` for none.
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = Some(bytes);
        self
    }

    /// Largest table of any process, in elements. Default:
    /// [`DEFAULT_MAX_TABLE_ELEMENTS`]. A module whose table starts larger is refused at
    /// spawn ([`SpawnError::ExceedsLimit`](crate::SpawnError::ExceedsLimit)); a
    /// `table.grow` past it returns -1.
    pub fn max_table_elements(mut self, elements: u32) -> Self {
        self.max_table_elements = Some(elements);
        self
    }

    /// Default cap on the bytes queued in each process's mailbox (payloads plus
    /// [`MESSAGE_OVERHEAD`](crate::MESSAGE_OVERHEAD) each): past it a send is refused
    /// with `MAILBOX_FULL` ([`SendError::MailboxFull`](crate::SendError::MailboxFull)),
    /// and exit signals and `DOWN`s are still queued. Default:
    /// [`DEFAULT_MAILBOX_BYTES`](crate::DEFAULT_MAILBOX_BYTES); `usize::MAX` for none.
    pub fn mailbox_bytes(mut self, bytes: usize) -> Self {
        self.process_defaults.mailbox_bytes = Some(bytes);
        self
    }

    /// Default cap on queued messages per process. Default: unbounded (the bound in
    /// bytes, [`mailbox_bytes`](Self::mailbox_bytes), still applies).
    pub fn mailbox_bound(mut self, messages: usize) -> Self {
        self.process_defaults.mailbox_bound = Some(messages);
        self
    }

    /// Default for every process: a send that finds its mailbox at its bound ends the
    /// receiver with `mailbox_overflow` instead of being refused (Erlang's
    /// `max_heap_size` with `kill`). Default: `false`, the sender is refused.
    pub fn kill_on_full_mailbox(mut self, on: bool) -> Self {
        self.process_defaults.kill_on_full_mailbox = Some(on);
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
        crate::Runtime::from_settings(self.into_settings()?)
    }

    /// Resolves every default and checks every setting (module docs).
    pub(crate) fn into_settings(self) -> Result<Settings, ConfigError> {
        let deterministic = self.deterministic;
        let preemption = match (self.preemption, deterministic) {
            (Some(p), _) => p,
            (None, true) => Preemption::Fuel {
                quantum: DEFAULT_FUEL_QUANTUM,
            },
            (None, false) => Preemption::default(),
        };
        let workers = match (self.workers, deterministic) {
            (Some(n), _) => n,
            (None, true) => 1,
            (None, false) => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        // Fuel preemption meters fuel; asking for metering off with it is refused by the
        // executor's checks.
        let fuel_metering = self
            .fuel_metering
            .unwrap_or(preemption.fuel_quantum().is_some());
        let budget = self.memory_budget.unwrap_or_else(default_memory_budget);
        let executor = Config {
            workers,
            capacity: self.capacity.unwrap_or(DEFAULT_CAPACITY),
            preemption,
            fuel_metering,
            deterministic,
            paused: self.paused || deterministic,
            trace_events: self.trace_events,
            defaults: self.process_defaults,
            memory_budget: Some(Arc::new(MemoryBudget::new(budget))),
            node: self.node,
        };
        executor.validate()?;

        let max_memory = self.max_memory.unwrap_or(DEFAULT_MAX_MEMORY);
        self.guest_defaults
            .validate(executor.fuel_metering, max_memory)?;
        if !(WASM_PAGE..=MAX_MEMORY).contains(&max_memory) {
            return Err(ConfigError::invalid(
                "max_memory",
                format!(
                    "must be between one wasm page ({WASM_PAGE} bytes) and {MAX_MEMORY} bytes, got {max_memory}"
                ),
            ));
        }
        let guests = GuestSettings {
            capacity: executor.capacity,
            mapping_budget: self.mapping_budget,
            max_memory,
            memory_layout: self.memory_layout,
            max_table_elements: self
                .max_table_elements
                .unwrap_or(DEFAULT_MAX_TABLE_ELEMENTS),
            defaults: self.guest_defaults,
        };
        Ok(Settings { executor, guests })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting_of(builder: RuntimeBuilder) -> &'static str {
        match builder.into_settings() {
            Err(ConfigError::Invalid { setting, .. }) => setting,
            Err(other) => panic!("expected an invalid setting, got {other:?}"),
            Ok(_) => panic!("expected an invalid setting, got a valid one"),
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
            setting_of(RuntimeBuilder::default().capacity(shoal_executor::MAX_CAPACITY + 1)),
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
    fn fuel_preemption_without_fuel_metering_is_refused_by_name() {
        let b = RuntimeBuilder::default()
            .preemption(Preemption::Fuel { quantum: 10 })
            .fuel_metering(false);
        assert_eq!(setting_of(b), "fuel_metering");
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
            .into_settings()
            .unwrap()
            .executor;
        assert_eq!(c.workers, 1);
        assert!(c.paused);
        assert!(c.fuel_metering);
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
        assert_eq!(
            setting_of(RuntimeBuilder::default().memory_budget(1)),
            "memory_budget"
        );
        assert_eq!(
            setting_of(RuntimeBuilder::default().mailbox_bytes(0)),
            "mailbox_bytes"
        );
    }
}
