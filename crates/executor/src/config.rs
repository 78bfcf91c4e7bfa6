//! The executor's settings: how many workers, how many processes, how they are preempted,
//! and the options every process gets unless its spawn overrides them.
//!
//! The public builder (`shoal-scheduler`'s `RuntimeBuilder`) fills a [`Config`] in and
//! checks each setting with the validators here, so a bad one is refused by name before
//! any thread starts. After that a `Config` never changes.

use std::sync::Arc;
use std::time::Duration;

use shoal_proc::{MemoryBudget, NodeId};

/// Default number of live processes. The issue that introduced the runtime asked for 10k
/// live processes.
pub const DEFAULT_CAPACITY: usize = 10_000;

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

/// Default shortest tick of adaptive preemption: 20 µs. A slice of about 1.5 ticks is
/// then some 30 µs, the order of BEAM's 4,000-reduction slice, and a yield and requeue
/// (about 1 µs here) stays near 3% of it; the ticker thread, woken 50,000 times a second,
/// costs a few percent of one core, and only while thousands of processes compete.
pub const DEFAULT_MIN_TICK: Duration = Duration::from_micros(20);

/// Largest epoch tick we accept. Beyond a second a slice stops being preemption.
const MAX_EPOCH_TICK: Duration = Duration::from_secs(1);

/// Ticks shorter than this would make the ticker thread a busy loop.
const MIN_EPOCH_TICK: Duration = Duration::from_micros(10);

/// The arenas reserve address space for every slot up front; past this many processes
/// the reservation of even small slots exceeds what a 47-bit address space holds.
pub const MAX_CAPACITY: usize = 4_000_000;
const _: () = assert!(MAX_CAPACITY <= shoal_proc::MAX_INDEX as usize + 1);

/// More workers than this is a typo, not a machine.
pub const MAX_WORKERS: usize = 1024;

/// A setting that was refused: which one, and why. The public builder turns it into its
/// own error type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSetting {
    /// The builder method or spawn option at fault.
    pub setting: &'static str,
    /// Why it was refused.
    pub reason: String,
}

impl InvalidSetting {
    /// `setting` was refused because of `reason`.
    pub fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        InvalidSetting {
            setting,
            reason: reason.into(),
        }
    }
}

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
    /// The default: epoch slices whose tick shortens as runnable processes multiply, so
    /// that each gets a slice every [`TARGET_ROUND`](crate::TARGET_ROUND) or so, down to
    /// `min_tick` (see `preempt`). With few processes it is `Epoch { tick, slice_ticks }`.
    Adaptive {
        /// Longest period of the ticker thread: with few runnable processes.
        tick: Duration,
        /// Shortest period of the ticker thread: with many.
        min_tick: Duration,
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
        Preemption::Adaptive {
            tick: DEFAULT_EPOCH_TICK,
            min_tick: DEFAULT_MIN_TICK,
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
            Preemption::Adaptive { .. } => "adaptive",
            Preemption::Hybrid { .. } => "hybrid",
        }
    }

    /// The fuel quantum, if this mode yields on fuel.
    pub fn fuel_quantum(&self) -> Option<u64> {
        match *self {
            Preemption::Fuel { quantum } | Preemption::Hybrid { quantum, .. } => Some(quantum),
            Preemption::Epoch { .. } | Preemption::Adaptive { .. } => None,
        }
    }

    /// The shortest tick, if this mode adapts its tick to the runnable processes.
    pub fn min_tick(&self) -> Option<Duration> {
        match *self {
            Preemption::Adaptive { min_tick, .. } => Some(min_tick),
            _ => None,
        }
    }

    /// The tick and slice, if this mode uses epochs.
    pub fn epoch(&self) -> Option<(Duration, u64)> {
        match *self {
            Preemption::Epoch { tick, slice_ticks }
            | Preemption::Adaptive {
                tick, slice_ticks, ..
            }
            | Preemption::Hybrid {
                tick, slice_ticks, ..
            } => Some((tick, slice_ticks)),
            Preemption::Fuel { .. } => None,
        }
    }

    /// Checks the quantum, tick and slice.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if let Some(quantum) = self.fuel_quantum()
            && quantum == 0
        {
            return Err(InvalidSetting::new(
                "preemption.quantum",
                "the fuel quantum (fuel_async_yield_interval) must not be 0",
            ));
        }
        if let Some((tick, slice_ticks)) = self.epoch() {
            if !(MIN_EPOCH_TICK..=MAX_EPOCH_TICK).contains(&tick) {
                return Err(InvalidSetting::new(
                    "preemption.tick",
                    format!(
                        "the epoch tick must be between {MIN_EPOCH_TICK:?} and {MAX_EPOCH_TICK:?}, got {tick:?}"
                    ),
                ));
            }
            if slice_ticks == 0 {
                return Err(InvalidSetting::new(
                    "preemption.slice_ticks",
                    "a slice must be at least 1 tick",
                ));
            }
        }
        if let (Some(min_tick), Some((tick, _))) = (self.min_tick(), self.epoch())
            && !(MIN_EPOCH_TICK..=tick).contains(&min_tick)
        {
            return Err(InvalidSetting::new(
                "preemption.min_tick",
                format!(
                    "the shortest tick must be between {MIN_EPOCH_TICK:?} and the tick ({tick:?}), got {min_tick:?}"
                ),
            ));
        }
        Ok(())
    }
}

/// What a live process is charged in the runtime's memory budget besides its linear
/// memory and its mailbox's queued bytes: 16 KiB. `shoal bench idle` measures about
/// 12 KB resident per idle guest (its record, task, store and instance, and the touched
/// top of its fiber stack); rounded up, this also covers the first
/// [`MAILBOX_FREE_BYTES`](shoal_proc::MAILBOX_FREE_BYTES) its mailbox may hold.
pub const PROCESS_RECORD_BYTES: usize = 16 << 10;

/// Default bound on the bytes queued in one mailbox: 64 MiB, four of the largest
/// messages (`MAX_MESSAGE_BYTES`, 16 MiB). A process that never receives (a flood to
/// itself, a stuck consumer) holds at most this much of the host's memory, and its senders
/// get `MAILBOX_FULL` rather than the host running out.
pub const DEFAULT_MAILBOX_BYTES: usize = 64 << 20;

/// The largest weight a process may have: 100. Linux's CFS spans 88761/1024 ≈ 87 between
/// nice -20 and nice 0, and BEAM's `max` priority is absolute rather than a share; a
/// process of weight `w` holds a worker for `w` quanta in a row (see `schedule`), so the
/// bound also bounds how long one turn keeps the others waiting.
pub const MAX_WEIGHT: u32 = 100;

/// What the executor applies to one process, whatever runs in it: a deadline, a
/// mailbox bound and a CPU weight. The runtime holds defaults; a spawn overrides them field by field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessOptions {
    /// Wall-clock time from spawn after which the process ends as `deadline`.
    pub deadline: Option<Duration>,
    /// Cap on queued messages; `None` is unbounded.
    pub mailbox_bound: Option<usize>,
    /// Cap on queued bytes (payloads plus `MESSAGE_OVERHEAD` each); `None` is
    /// [`DEFAULT_MAILBOX_BYTES`], `usize::MAX` unbounded.
    pub mailbox_bytes: Option<usize>,
    /// On a send that finds the mailbox at its bound, end the process with
    /// `mailbox_overflow` rather than refuse the sender (Erlang's `max_heap_size` with
    /// `kill`); `None` is `false`, refuse. `EXIT` and `DOWN` never trigger it: they are
    /// never refused.
    pub kill_on_full_mailbox: Option<bool>,
    /// Its share of CPU relative to the others, 1 to [`MAX_WEIGHT`]; `None` is 1.
    pub weight: Option<u32>,
    /// The group it shares CPU in (see `groups`); `None`: its parent's, or the default.
    pub group: Option<crate::GroupId>,
}

impl ProcessOptions {
    /// These options, with `defaults` filling in what they leave unset.
    pub fn or(&self, defaults: &ProcessOptions) -> ProcessOptions {
        ProcessOptions {
            deadline: self.deadline.or(defaults.deadline),
            mailbox_bound: self.mailbox_bound.or(defaults.mailbox_bound),
            mailbox_bytes: self.mailbox_bytes.or(defaults.mailbox_bytes),
            kill_on_full_mailbox: self.kill_on_full_mailbox.or(defaults.kill_on_full_mailbox),
            weight: self.weight.or(defaults.weight),
            group: self.group.or(defaults.group),
        }
    }

    /// Checks the deadline and the mailbox bound.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if self.deadline == Some(Duration::ZERO) {
            return Err(InvalidSetting::new("deadline", "must be longer than 0"));
        }
        if self.mailbox_bound == Some(0) {
            return Err(InvalidSetting::new(
                "mailbox_bound",
                "a bound of 0 would refuse every message",
            ));
        }
        if self.mailbox_bytes == Some(0) {
            return Err(InvalidSetting::new(
                "mailbox_bytes",
                "a bound of 0 bytes would take one message at a time",
            ));
        }
        if let Some(weight) = self.weight {
            check_weight(weight)?;
        }
        Ok(())
    }
}

/// Checks a process weight: 1 to [`MAX_WEIGHT`].
pub fn check_weight(weight: u32) -> Result<(), InvalidSetting> {
    if (1..=MAX_WEIGHT).contains(&weight) {
        Ok(())
    } else {
        Err(InvalidSetting::new(
            "weight",
            format!("{weight} is outside 1..={MAX_WEIGHT}"),
        ))
    }
}

/// The validated settings an executor runs on.
#[derive(Clone, Debug)]
pub struct Config {
    /// Worker threads: 1 to [`MAX_WORKERS`].
    pub workers: usize,
    /// Live processes at most: 1 to [`MAX_CAPACITY`].
    pub capacity: usize,
    /// How processes are interrupted.
    pub preemption: Preemption,
    /// Whether processes' fuel is counted (always with fuel preemption; optional with
    /// epochs). With it, a process's fair share is measured in fuel; without, in time.
    pub fuel_metering: bool,
    /// One worker, fuel only, virtual clock, started paused, schedule hashed.
    pub deterministic: bool,
    /// Workers wait for [`Executor::start`](crate::Executor::start).
    pub paused: bool,
    /// Record a schedule trace of at most this many events.
    pub trace_events: Option<usize>,
    /// Options for every process that its spawn does not override.
    pub defaults: ProcessOptions,
    /// The runtime's memory budget, charged by every layer that holds memory for a
    /// process (`shoal_proc::MemoryBudget`); `None` for none.
    pub memory_budget: Option<Arc<MemoryBudget>>,
    /// The node every pid of this executor carries: [`NodeId::LOCAL`] outside a cluster.
    pub node: NodeId,
}

impl Config {
    /// Checks the settings that are the executor's own: workers, capacity, preemption,
    /// fuel metering against preemption and determinism, and the default options.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        self.preemption.validate()?;
        if self.workers == 0 {
            return Err(InvalidSetting::new(
                "workers",
                "at least 1 worker is needed",
            ));
        }
        if self.workers > MAX_WORKERS {
            return Err(InvalidSetting::new(
                "workers",
                format!("at most {MAX_WORKERS} workers, got {}", self.workers),
            ));
        }
        if let Some(budget) = &self.memory_budget
            && budget.limit() < PROCESS_RECORD_BYTES
        {
            return Err(InvalidSetting::new(
                "memory_budget",
                format!(
                    "{} bytes cannot hold one process ({PROCESS_RECORD_BYTES} bytes)",
                    budget.limit()
                ),
            ));
        }
        if self.deterministic && self.workers != 1 {
            return Err(InvalidSetting::new(
                "workers",
                format!(
                    "deterministic mode runs exactly 1 worker, got {}",
                    self.workers
                ),
            ));
        }
        if self.deterministic && self.preemption.epoch().is_some() {
            return Err(InvalidSetting::new(
                "preemption",
                format!(
                    "deterministic mode preempts by fuel only, but {} preemption was requested",
                    self.preemption.name()
                ),
            ));
        }
        if self.capacity == 0 || self.capacity > MAX_CAPACITY {
            return Err(InvalidSetting::new(
                "capacity",
                format!(
                    "must be between 1 and {MAX_CAPACITY} processes, got {}",
                    self.capacity
                ),
            ));
        }
        if !self.fuel_metering && self.preemption.fuel_quantum().is_some() {
            return Err(InvalidSetting::new(
                "fuel_metering",
                format!("{} preemption needs fuel metering", self.preemption.name()),
            ));
        }
        self.defaults.validate()
    }

    /// Nanoseconds of the shortest slice time-based preemption can give: the shortest
    /// tick (adaptive) or the tick, times the slice's ticks.
    pub fn min_slice_cost(&self) -> u64 {
        match self.preemption.epoch() {
            Some((tick, slice_ticks)) => {
                crate::clock::duration_ns(self.preemption.min_tick().unwrap_or(tick))
                    .saturating_mul(slice_ticks)
            }
            None => self.quantum_cost(),
        }
    }

    /// Cost units of one quantum, the unit of the fair-share rule's slack and credit
    /// (`schedule`): the fuel quantum when fuel is metered and preempts; the default fuel
    /// quantum when fuel is metered under epochs (a slice's worth of fuel is unknown);
    /// the slice's nanoseconds when only time is measured.
    pub fn quantum_cost(&self) -> u64 {
        match (self.fuel_metering, self.preemption.fuel_quantum()) {
            (true, Some(quantum)) => quantum,
            (true, None) => DEFAULT_FUEL_QUANTUM,
            (false, _) => match self.preemption.epoch() {
                Some((tick, slice)) => crate::clock::duration_ns(tick).saturating_mul(slice),
                None => DEFAULT_FUEL_QUANTUM,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            workers: 2,
            capacity: 100,
            preemption: Preemption::default(),
            fuel_metering: false,
            deterministic: false,
            paused: false,
            trace_events: None,
            defaults: ProcessOptions::default(),
            memory_budget: None,
            node: NodeId::LOCAL,
        }
    }

    fn refused(config: Config) -> &'static str {
        config.validate().expect_err("refused").setting
    }

    #[test]
    fn a_default_config_is_valid() {
        assert_eq!(config().validate(), Ok(()));
    }

    #[test]
    fn bad_quanta_ticks_and_slices_are_refused_by_name() {
        let fuel = |quantum| Preemption::Fuel { quantum };
        assert_eq!(
            fuel(0).validate().unwrap_err().setting,
            "preemption.quantum"
        );
        let epoch = |tick, slice_ticks| Preemption::Epoch { tick, slice_ticks };
        assert_eq!(
            epoch(Duration::from_nanos(1), 1)
                .validate()
                .unwrap_err()
                .setting,
            "preemption.tick"
        );
        assert_eq!(
            epoch(Duration::from_millis(1), 0)
                .validate()
                .unwrap_err()
                .setting,
            "preemption.slice_ticks"
        );
    }

    #[test]
    fn workers_capacity_and_metering_are_refused_by_name() {
        assert_eq!(
            refused(Config {
                workers: 0,
                ..config()
            }),
            "workers"
        );
        assert_eq!(
            refused(Config {
                workers: MAX_WORKERS + 1,
                ..config()
            }),
            "workers"
        );
        assert_eq!(
            refused(Config {
                capacity: 0,
                ..config()
            }),
            "capacity"
        );
        assert_eq!(
            refused(Config {
                preemption: Preemption::Fuel { quantum: 10 },
                ..config()
            }),
            "fuel_metering"
        );
    }

    #[test]
    fn deterministic_mode_refuses_epochs_and_many_workers() {
        let deterministic = Config {
            deterministic: true,
            fuel_metering: true,
            workers: 1,
            preemption: Preemption::Fuel { quantum: 10 },
            ..config()
        };
        assert_eq!(deterministic.clone().validate(), Ok(()));
        assert_eq!(
            refused(Config {
                workers: 2,
                ..deterministic.clone()
            }),
            "workers"
        );
        assert_eq!(
            refused(Config {
                preemption: Preemption::default(),
                ..deterministic
            }),
            "preemption"
        );
    }

    #[test]
    fn options_override_defaults_field_by_field() {
        let defaults = ProcessOptions {
            deadline: Some(Duration::from_secs(1)),
            mailbox_bound: Some(5),
            mailbox_bytes: Some(1 << 20),
            kill_on_full_mailbox: Some(true),
            weight: Some(3),
            group: None,
        };
        let options = ProcessOptions {
            mailbox_bound: Some(9),
            kill_on_full_mailbox: Some(false),
            ..ProcessOptions::default()
        };
        assert_eq!(
            options.or(&defaults),
            ProcessOptions {
                deadline: Some(Duration::from_secs(1)),
                mailbox_bound: Some(9),
                mailbox_bytes: Some(1 << 20),
                kill_on_full_mailbox: Some(false),
                weight: Some(3),
                group: None,
            }
        );
        let zero = ProcessOptions {
            mailbox_bound: Some(0),
            ..ProcessOptions::default()
        };
        assert_eq!(zero.validate().unwrap_err().setting, "mailbox_bound");
        let zero = ProcessOptions {
            mailbox_bytes: Some(0),
            ..ProcessOptions::default()
        };
        assert_eq!(zero.validate().unwrap_err().setting, "mailbox_bytes");
    }

    #[test]
    fn a_weight_is_refused_outside_one_to_max_weight() {
        let weight = |w| ProcessOptions {
            weight: Some(w),
            ..ProcessOptions::default()
        };
        assert_eq!(weight(0).validate().unwrap_err().setting, "weight");
        assert_eq!(
            weight(MAX_WEIGHT + 1).validate().unwrap_err().setting,
            "weight"
        );
        assert_eq!(weight(1).validate(), Ok(()));
        assert_eq!(weight(MAX_WEIGHT).validate(), Ok(()));
    }
}
