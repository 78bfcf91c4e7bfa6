//! What one spawn may set, and the limits every guest gets.
//!
//! [`SpawnOptions`] holds three parts, each applied by the layer it belongs to: the
//! process options the executor applies to any process (a deadline, a mailbox bound),
//! the guest limits this layer applies to a wasm process (a fuel budget, a memory cap),
//! and the WASI config of a process whose module imports WASI. A native process takes
//! the first part only.

use std::time::Duration;

use shoal_executor::{InvalidSetting, ProcessOptions};

use super::wasi::WasiConfig;

/// The limits of one guest: a fuel budget and a memory cap. The runtime holds defaults;
/// a spawn overrides them field by field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GuestLimits {
    /// Lifetime fuel budget; `None` is unlimited.
    pub fuel_limit: Option<u64>,
    /// Cap on linear memory, in bytes; `None` is the arena slot's size.
    pub max_memory: Option<usize>,
}

impl GuestLimits {
    /// These limits, with `defaults` filling in what they leave unset.
    pub(crate) fn or(&self, defaults: &GuestLimits) -> GuestLimits {
        GuestLimits {
            fuel_limit: self.fuel_limit.or(defaults.fuel_limit),
            max_memory: self.max_memory.or(defaults.max_memory),
        }
    }

    /// Checks the limits against whether fuel is metered and the arena's slot size.
    pub(crate) fn validate(
        &self,
        fuel_metering: bool,
        arena_max_memory: usize,
    ) -> Result<(), InvalidSetting> {
        if let Some(fuel) = self.fuel_limit {
            if fuel == 0 {
                return Err(InvalidSetting::new(
                    "fuel_limit",
                    "a fuel budget of 0 would trap at once",
                ));
            }
            if !fuel_metering {
                return Err(InvalidSetting::new(
                    "fuel_limit",
                    "needs fuel metering: use Fuel or Hybrid preemption, or fuel_metering(true)",
                ));
            }
        }
        if let Some(bytes) = self.max_memory
            && bytes > arena_max_memory
        {
            return Err(InvalidSetting::new(
                "max_memory",
                format!(
                    "{bytes} bytes exceeds the runtime's max_memory of {arena_max_memory} bytes, which sizes the arena's slots"
                ),
            ));
        }
        Ok(())
    }
}

/// Options for one spawn, each overriding the runtime's default for that process only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpawnOptions {
    /// What the executor applies: deadline, mailbox bound.
    pub(crate) process: ProcessOptions,
    /// What a guest is limited to: fuel, memory.
    pub(crate) guest: GuestLimits,
    /// What a WASI guest sees; `None`: an empty config.
    pub(crate) wasi: Option<WasiConfig>,
}

impl SpawnOptions {
    /// Options that change nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lifetime fuel budget for this process.
    pub fn fuel_limit(mut self, fuel: u64) -> Self {
        self.guest.fuel_limit = Some(fuel);
        self
    }

    /// Wall-clock deadline, counted from the spawn.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.process.deadline = Some(deadline);
        self
    }

    /// Cap on this process's linear memory, in bytes. It cannot exceed the runtime's
    /// `max_memory`, which sizes the arena's slots.
    pub fn max_memory(mut self, bytes: usize) -> Self {
        self.guest.max_memory = Some(bytes);
        self
    }

    /// Its share of CPU relative to other processes, 1 (the default) to
    /// [`MAX_WEIGHT`](crate::MAX_WEIGHT): a CPU-bound process of weight 4 gets four times
    /// the CPU of one of weight 1, running 4 quanta (or epoch slices) per turn. A native
    /// process is never preempted, so there its weight only slows its virtual runtime:
    /// it keeps its wake priority for proportionally more CPU. Out of range, the spawn
    /// fails with `SpawnError::Config`.
    pub fn weight(mut self, weight: u32) -> Self {
        self.process.weight = Some(weight);
        self
    }

    /// The group it shares CPU in ([`Runtime::new_group`](crate::Runtime::new_group)).
    /// Without it, a process joins its parent's group, or the default one.
    pub fn group(mut self, group: crate::GroupId) -> Self {
        self.process.group = Some(group);
        self
    }

    /// Cap on the bytes queued in this process's mailbox, overriding the runtime's
    /// default (`RuntimeBuilder::mailbox_bytes`).
    pub fn mailbox_bytes(mut self, bytes: usize) -> Self {
        self.process.mailbox_bytes = Some(bytes);
        self
    }

    /// Cap on this process's queued messages, overriding the runtime's default.
    pub fn mailbox_bound(mut self, messages: usize) -> Self {
        self.process.mailbox_bound = Some(messages);
        self
    }

    /// Whether a send that finds this process's mailbox at its bound ends the process
    /// with `mailbox_overflow` (Erlang's `max_heap_size` with `kill`) instead of being
    /// refused with `MAILBOX_FULL`; overrides the runtime's default
    /// (`RuntimeBuilder::kill_on_full_mailbox`). Its links and monitors see the reason.
    pub fn kill_on_full_mailbox(mut self, on: bool) -> Self {
        self.process.kill_on_full_mailbox = Some(on);
        self
    }

    /// What this process sees if its module imports WASI: arguments, environment,
    /// stdio, directories (see [`WasiConfig`](crate::WasiConfig)).
    pub fn wasi(mut self, config: WasiConfig) -> Self {
        self.wasi = Some(config);
        self
    }
}
