//! A guest's spawn: everything a wasm process needs before the executor takes it.
//!
//! In this order, each step refusing the spawn with a typed error before anything of the
//! next exists:
//! 1. the runtime takes spawns (not shutting down), and it compiled the module;
//! 2. the entry export exists and has an entry type;
//! 3. the options are valid, over the runtime's defaults;
//! 4. a [`GuestPermit`]: a place in the mapping budget (else `Capacity`, or the budget's
//!    own error naming the sysctl or setting);
//! 5. a WASI module's context: its stdio files are opened here, after the capacity check
//!    so that a refused spawn creates no output file;
//! 6. the executor's spawn: a table slot, then (before the child runs) its relation to
//!    the spawner, then its run, queued.
//!
//! Nothing here instantiates: the guest's store is built in its first quantum, on a
//! worker (`guest`), so the spawner pays only for bookkeeping.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use shoal_executor::{Executor, Process};

use super::guest::{Call, GuestLimiter, Runner};
use super::module::Needs;
use super::wasi::WasiConfig;
use super::{Guests, Module, SpawnOptions};
use crate::actor::{self, Actors, SpawnRelation};
use crate::error::{GuestLimit, SpawnError};

/// A live guest's place in the mapping budget: held by its run, so released when the
/// run ends or is dropped, after its store (and with it its stack and memory slots) is
/// gone and before its exit is published.
pub(crate) struct GuestPermit(Arc<Guests>);

impl Drop for GuestPermit {
    fn drop(&mut self) {
        self.0.guests_live.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Guests {
    /// Counts a new guest against the mapping budget, or refuses it.
    fn permit(self: &Arc<Self>) -> Result<GuestPermit, SpawnError> {
        let live = self.guests_live.fetch_add(1, Ordering::AcqRel);
        // Dropping the permit undoes the count.
        let permit = GuestPermit(self.clone());
        if live < self.guest_limit {
            return Ok(permit);
        }
        drop(permit);
        let capacity = self.settings.capacity;
        Err(
            if let Some(setting) = self.settings.mapping_budget
                && self.guest_limit < capacity
            {
                SpawnError::MappingSetting {
                    guests: self.guest_limit,
                    per_guest: self.layout.mappings_per_guest(),
                    setting,
                    capacity,
                }
            } else if self.guest_limit < capacity {
                SpawnError::MappingBudget {
                    guests: self.guest_limit,
                    per_guest: self.layout.mappings_per_guest(),
                    max_map_count: self.mapping.max_map_count,
                    wanted: self.mapping.max_map_count_for(capacity, self.layout),
                    capacity,
                }
            } else {
                SpawnError::Capacity { capacity }
            },
        )
    }
}

/// Where a guest is spawned: the runtime's executor and actor state, and who spawns it.
pub(crate) struct SpawnSite<'a> {
    /// The runtime's executor.
    pub executor: &'a Arc<Executor>,
    /// The runtime's actor state.
    pub actors: &'a Arc<Actors>,
    /// The spawning process; `None` for the host.
    pub parent: Option<&'a Process>,
    /// What the child is tied to before it runs.
    pub relation: SpawnRelation<'a>,
}

/// Spawns a process running `export` of `module` with `arg` (module docs).
pub(crate) fn spawn_guest(
    site: SpawnSite<'_>,
    module: &Module,
    export: &str,
    arg: i64,
    options: &SpawnOptions,
) -> Result<Arc<Process>, SpawnError> {
    let SpawnSite {
        executor,
        actors,
        parent,
        relation,
    } = site;
    if executor.is_shutting_down() {
        return Err(SpawnError::ShuttingDown);
    }
    let guests = module.guests();
    if guests.owner != executor.id() {
        return Err(SpawnError::ForeignModule);
    }
    let entry = module.entry(export)?;
    let limits = options.guest.or(&guests.settings.defaults);
    limits.validate(executor.config().fuel_metering, guests.settings.max_memory)?;
    check_needs(
        module.needs(),
        limits.max_memory.unwrap_or(guests.settings.max_memory),
        guests.settings.max_table_elements,
    )?;
    options.process.validate()?;

    // The initial memory is charged now, so that instantiation cannot fail for the
    // budget (`GuestLimiter`); it is given back if this spawn fails below.
    let limiter = GuestLimiter::charged(
        executor.memory_budget(),
        limits.max_memory.unwrap_or(guests.settings.max_memory),
        guests.settings.max_table_elements,
        module.needs().memory,
    )
    .map_err(SpawnError::MemoryBudget)?;
    let limiter = if module.is_component() {
        limiter.for_component()
    } else {
        limiter
    };
    let permit = guests.permit()?;
    // A WASI process's stdio and the I/O runtime, before it takes a table slot: a file
    // that cannot be opened is this spawn's error (and the permit goes back as it drops).
    let wasi = if module.uses_wasi() {
        let io = guests.wasi_io.handle().map_err(|e| SpawnError::Wasi {
            message: format!("cannot start the WASI I/O runtime: {e}"),
        })?;
        let context = {
            let _entered = io.enter();
            match &options.wasi {
                Some(config) => config.context()?,
                None => WasiConfig::default().context()?,
            }
        };
        Some((Box::new(context), io))
    } else {
        None
    };
    let make_run = |process: &Arc<Process>, context| {
        actor::bind(process, relation);
        let runner = Runner {
            process: process.clone(),
            executor: executor.clone(),
            actors: actors.clone(),
        };
        super::guest::run(
            permit,
            runner,
            module.clone(),
            Call { entry, arg },
            &limits,
            limiter,
            context,
        )
    };
    let parent = parent.map(Process::pid);
    // Two spawns rather than one run type for both: a guest without WASI carries no
    // WASI wrapper in its task.
    let process = match wasi {
        Some((context, io)) => executor.spawn(&options.process, parent, |process| {
            let run = make_run(process, Some(context));
            super::wasi::run_wasi(run, process.clone(), executor.clone(), io)
        })?,
        None => executor.spawn(&options.process, parent, |process| make_run(process, None))?,
    };
    tracing::debug!(pid = %process.pid(), export, "spawn");
    Ok(process)
}

/// Refuses a module whose memory or table starts above the limits it would run under:
/// its instantiation could only fail, with wasmtime's less helpful words.
fn check_needs(needs: Needs, max_memory: usize, max_table_elements: u32) -> Result<(), SpawnError> {
    let exceeds = |limit, needed: u64, allowed: u64| {
        if needed > allowed {
            Err(SpawnError::ExceedsLimit {
                limit,
                needed,
                allowed,
            })
        } else {
            Ok(())
        }
    };
    exceeds(GuestLimit::Memory, needs.memory, max_memory as u64)?;
    exceeds(
        GuestLimit::TableElements,
        needs.table_elements,
        u64::from(max_table_elements),
    )
}
