//! The preemption options `shoal run` and `shoal bench` share, and the mode they name.

use std::time::Duration;

use anyhow::bail;
use clap::{Args, ValueEnum};
use shoal::{
    DEFAULT_EPOCH_TICK, DEFAULT_FUEL_QUANTUM, DEFAULT_MIN_TICK, DEFAULT_SLICE_TICKS, Preemption,
};

/// `--preempt` and its tuning options.
#[derive(Clone, Debug, Default, Args)]
pub(crate) struct PreemptArgs {
    /// Preemption mode. Default: hybrid if both fuel and epoch options are given, fuel if
    /// only --fuel-quantum (or --deterministic), epoch if only epoch options, adaptive
    /// otherwise.
    #[arg(long, value_enum, value_name = "MODE")]
    pub preempt: Option<PreemptMode>,

    /// Fuel units per quantum (fuel and hybrid modes).
    #[arg(long, value_name = "F")]
    pub fuel_quantum: Option<u64>,

    /// Epoch tick in microseconds (epoch and hybrid modes).
    #[arg(long, value_name = "T")]
    pub epoch_tick_us: Option<u64>,

    /// Ticks per slice before a process yields to a waiting one (epoch, adaptive and
    /// hybrid modes).
    #[arg(long, value_name = "K")]
    pub slice_ticks: Option<u64>,

    /// Shortest tick in microseconds (adaptive mode).
    #[arg(long, value_name = "T")]
    pub min_tick_us: Option<u64>,
}

/// `--preempt`: how processes are interrupted.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum PreemptMode {
    /// Every `--fuel-quantum` units of fuel: deterministic.
    Fuel,
    /// Every `--slice-ticks` ticks of `--epoch-tick-us`: wall-clock slices.
    Epoch,
    /// Epoch slices whose tick shortens, down to `--min-tick-us`, as runnable processes
    /// multiply: the default.
    Adaptive,
    /// Both.
    Hybrid,
}

impl PreemptArgs {
    /// The mode the options name; `None` leaves the runtime's default (epochs, or fuel in
    /// deterministic mode). Range checks are the runtime's own; this only refuses options
    /// that contradict each other.
    pub(crate) fn resolve(&self) -> anyhow::Result<Option<Preemption>> {
        let fuel_given = self.fuel_quantum.is_some();
        let epoch_given = self.epoch_tick_us.is_some() || self.slice_ticks.is_some();
        let mode = match (self.preempt, fuel_given, epoch_given) {
            (Some(mode), _, _) => mode,
            (None, true, true) => PreemptMode::Hybrid,
            (None, true, false) => PreemptMode::Fuel,
            (None, false, true) => PreemptMode::Epoch,
            (None, false, false) if self.min_tick_us.is_some() => PreemptMode::Adaptive,
            (None, false, false) => return Ok(None),
        };
        if mode != PreemptMode::Adaptive && self.min_tick_us.is_some() {
            bail!("--min-tick-us needs --preempt adaptive");
        }
        if matches!(mode, PreemptMode::Epoch | PreemptMode::Adaptive) && fuel_given {
            bail!("--fuel-quantum needs --preempt fuel or hybrid");
        }
        if mode == PreemptMode::Fuel && epoch_given {
            bail!("--epoch-tick-us and --slice-ticks need --preempt epoch or hybrid, not fuel");
        }
        let quantum = self.fuel_quantum.unwrap_or(DEFAULT_FUEL_QUANTUM);
        let tick = self
            .epoch_tick_us
            .map_or(DEFAULT_EPOCH_TICK, Duration::from_micros);
        let slice_ticks = self.slice_ticks.unwrap_or(DEFAULT_SLICE_TICKS);
        Ok(Some(match mode {
            PreemptMode::Fuel => Preemption::Fuel { quantum },
            PreemptMode::Epoch => Preemption::Epoch { tick, slice_ticks },
            PreemptMode::Adaptive => Preemption::Adaptive {
                tick,
                min_tick: self
                    .min_tick_us
                    .map_or(DEFAULT_MIN_TICK, Duration::from_micros),
                slice_ticks,
            },
            PreemptMode::Hybrid => Preemption::Hybrid {
                quantum,
                tick,
                slice_ticks,
            },
        }))
    }
}
