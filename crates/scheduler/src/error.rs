//! The typed errors at the runtime's public boundary. Each one's message names the
//! setting, input or pid at fault, in one line.
//!
//! Every layer of this crate returns these; the module imports only the executor, so
//! any layer may use it.

use std::path::PathBuf;

use shoal_executor::{InvalidSetting, SpawnRefused};
use shoal_proc::{OverBudget, Pid};

pub use shoal_executor::{NoProc, SendError};

/// A cluster-wide name could not be registered, released or looked up
/// (`NativeContext::register_global` and the like; docs/CLUSTER.md, "Names").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobalNameError {
    /// Another live process holds the name.
    #[error("the cluster-wide name `{name}` is registered to {holder}")]
    Taken {
        /// The name.
        name: String,
        /// Its holder.
        holder: Pid,
    },
    /// The process to register is not a live process of this node.
    #[error("{0} is not a live process of this node")]
    NoProc(Pid),
    /// The name is empty or longer than [`MAX_NAME_BYTES`](crate::MAX_NAME_BYTES).
    #[error("`{0}` is not a valid name (1 to {max} bytes)", max = shoal_proc::MAX_NAME_BYTES)]
    BadName(String),
    /// The names cannot be reached: no cluster, a server without JetStream, or no
    /// answer in time.
    #[error("cluster-wide names are unavailable: {0}")]
    Unavailable(String),
}

/// A weight could not be set: a process's ([`Runtime::set_weight`](crate::Runtime::set_weight))
/// or a group's ([`Runtime::new_group`](crate::Runtime::new_group),
/// [`Runtime::set_group_weight`](crate::Runtime::set_group_weight)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeightError {
    /// The weight is 0 or above [`MAX_WEIGHT`](crate::MAX_WEIGHT).
    #[error("weight {weight} is outside 1..={max}")]
    OutOfRange {
        /// The weight asked for.
        weight: u32,
        /// The largest weight a process may have.
        max: u32,
    },
    /// The process is not live.
    #[error(transparent)]
    NoProc(#[from] NoProc),
    /// The group was not made by this runtime.
    #[error("no such group {0:?} in this runtime")]
    NoGroup(shoal_executor::GroupId),
    /// The runtime has [`MAX_GROUPS`](crate::MAX_GROUPS) groups already.
    #[error("a runtime has at most {} groups", shoal_executor::MAX_GROUPS)]
    TooManyGroups,
}

/// A runtime setting was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting is out of range or contradicts another.
    #[error("invalid setting `{setting}`: {reason}")]
    Invalid {
        /// The builder method at fault.
        setting: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// wasmtime refused the engine configuration (for example, the pool could not reserve
    /// its address space).
    #[error("could not create the wasm engine: {message}")]
    Engine {
        /// wasmtime's explanation.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            setting,
            reason: reason.into(),
        }
    }
}

impl From<InvalidSetting> for ConfigError {
    fn from(e: InvalidSetting) -> Self {
        ConfigError::Invalid {
            setting: e.setting,
            reason: e.reason,
        }
    }
}

/// A module could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The file could not be read.
    #[error("cannot read {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why. Part of the message, not a separate source, so the line says it once.
        error: std::io::Error,
    },
    /// The bytes are not a valid wasm module (or WAT text), or it exceeds the pool's
    /// per-instance limits.
    #[error("invalid module: {message}")]
    Invalid {
        /// wasmtime's explanation.
        message: String,
    },
    /// The cache directory, or an entry in it, could have been written by someone other
    /// than this user: loading it would run their native code. Nothing was loaded.
    #[error("refusing the compile cache at {}: {reason}", path.display())]
    UntrustedCache {
        /// The directory or entry.
        path: PathBuf,
        /// Who else could write it, and what to do.
        reason: String,
    },
    /// The module is valid wasm but needs more than a process may have: a second linear
    /// memory, or more tables than [`MAX_TABLES`](crate::MAX_TABLES).
    #[error("unsupported module: {what}")]
    Unsupported {
        /// What it needs, and what a process may have.
        what: String,
    },
    /// The module imports something Shoal does not provide.
    #[error(
        "unknown import `{module}::{name}`: Shoal provides the `shoal` host module (docs/ABI.md) and WASI preview 1 (`wasi_snapshot_preview1`)"
    )]
    UnknownImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
    },
    /// A component imports something other than WASI preview 2.
    #[error(
        "unknown import `{name}`: Shoal provides a component with WASI preview 2 (`wasi:*` interfaces) only"
    )]
    UnknownComponentImport {
        /// The import's name, an interface such as `acme:db/query@1.0.0`.
        name: String,
    },
}

/// A process could not be spawned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    /// A spawn on another node of a cluster did not happen: the node is down or not
    /// known, or it refused (it does not accept spawns, or the module or its export
    /// failed there).
    #[error("spawn on node {node}: {reason}")]
    Remote {
        /// The node asked.
        node: shoal_proc::NodeId,
        /// Why, as that node or this one said it.
        reason: String,
    },
    /// The group named in the options was not made by this runtime
    /// ([`Runtime::new_group`](crate::Runtime::new_group)).
    #[error("no such group {0:?} in this runtime (make one with Runtime::new_group)")]
    UnknownGroup(shoal_executor::GroupId),
    /// The module has no function export of that name.
    #[error("the module has no exported function `{export}`")]
    MissingExport {
        /// The name asked for.
        export: String,
    },
    /// The export exists but is not an entry type.
    #[error(
        "export `{export}` has type {found}; an entry must be (func), (func (param i64)), (func (result i32)) or (func (param i64) (result i32)){hint}",
        hint = c_main_hint(export, found)
    )]
    WrongSignature {
        /// The name asked for.
        export: String,
        /// Its actual type.
        found: String,
    },
    /// The runtime is at its process capacity.
    #[error(
        "at capacity: {capacity} live processes (raise it with RuntimeBuilder::capacity or --capacity)"
    )]
    Capacity {
        /// The configured capacity.
        capacity: usize,
    },
    /// The kernel's memory-mapping limit would be reached: every live guest costs
    /// [`MAPPINGS_PER_GUEST`](crate::MAPPINGS_PER_GUEST) mappings, and past
    /// `vm.max_map_count` every `mmap` in the host would fail. Native processes are not
    /// affected.
    #[error(
        "at the memory-mapping budget: {guests} live wasm processes at {per_guest} mappings each, with vm.max_map_count = {max_map_count}; raise it as root with `sysctl -w vm.max_map_count={wanted}` to reach the capacity of {capacity}"
    )]
    MappingBudget {
        /// Live guests the budget admits.
        guests: usize,
        /// Mappings per live guest.
        per_guest: usize,
        /// The kernel's limit, `vm.max_map_count`.
        max_map_count: usize,
        /// The `vm.max_map_count` that would admit `capacity` guests.
        wanted: usize,
        /// The runtime's process capacity.
        capacity: usize,
    },
    /// The runtime's own mapping budget (`RuntimeBuilder::mapping_budget`), set lower
    /// than the host allows, admits no more live guests.
    #[error(
        "at the runtime's mapping budget: {guests} live wasm processes at {per_guest} mappings each, as RuntimeBuilder::mapping_budget({setting}) allows; raise that setting to reach the capacity of {capacity}"
    )]
    MappingSetting {
        /// Live guests the setting admits.
        guests: usize,
        /// Mappings per live guest.
        per_guest: usize,
        /// The setting, in mappings.
        setting: usize,
        /// The runtime's process capacity.
        capacity: usize,
    },
    /// The module needs more than a limit allows before it runs a single instruction: its
    /// memory or its table starts larger than the runtime's (or the spawn's) cap.
    #[error(
        "the module's {limit} starts at {needed} {unit}, above {setting} ({allowed} {unit}): raise it with {hint}",
        unit = limit.unit(),
        setting = limit.setting(),
        hint = limit.hint()
    )]
    ExceedsLimit {
        /// The limit at fault.
        limit: GuestLimit,
        /// What the module declares.
        needed: u64,
        /// What the limit allows.
        allowed: u64,
    },
    /// The runtime's memory budget cannot take the process: its record, or its initial
    /// linear memory.
    #[error(
        "{0}: raise it with RuntimeBuilder::memory_budget or `shoal run --memory-budget`, or wait for processes to end"
    )]
    MemoryBudget(OverBudget),
    /// The runtime is shutting down and takes no new processes.
    #[error("the runtime is shutting down")]
    ShuttingDown,
    /// The module was compiled by another runtime: a process runs only in the runtime
    /// whose engine compiled its module.
    #[error("the module was compiled by another runtime; compile it with this one")]
    ForeignModule,
    /// A WASI process's stdio could not be set up (a stdin file that cannot be read, an
    /// output file that cannot be created), or the WASI I/O runtime could not start.
    #[error("cannot start the WASI process: {message}")]
    Wasi {
        /// What failed, naming the file.
        message: String,
    },
    /// A per-process option was refused.
    #[error("invalid spawn option `{setting}`: {reason}")]
    Config {
        /// The option at fault.
        setting: &'static str,
        /// Why.
        reason: String,
    },
}

impl From<SpawnRefused> for SpawnError {
    fn from(e: SpawnRefused) -> Self {
        match e {
            SpawnRefused::Capacity { capacity } => SpawnError::Capacity { capacity },
            SpawnRefused::ShuttingDown => SpawnError::ShuttingDown,
            SpawnRefused::MemoryBudget(over) => SpawnError::MemoryBudget(over),
            SpawnRefused::UnknownGroup(group) => SpawnError::UnknownGroup(group),
        }
    }
}

impl From<InvalidSetting> for SpawnError {
    fn from(e: InvalidSetting) -> Self {
        SpawnError::Config {
            setting: e.setting,
            reason: e.reason,
        }
    }
}

impl From<ConfigError> for SpawnError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Invalid { setting, reason } => SpawnError::Config { setting, reason },
            ConfigError::Engine { message } => SpawnError::Config {
                setting: "engine",
                reason: message,
            },
        }
    }
}

/// A per-guest limit a module can need more of than a runtime allows.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum GuestLimit {
    /// Linear memory, in bytes: `max_memory`.
    Memory,
    /// Table elements: `max_table_elements`.
    TableElements,
}

impl GuestLimit {
    /// The builder's setting.
    pub fn setting(self) -> &'static str {
        match self {
            GuestLimit::Memory => "max_memory",
            GuestLimit::TableElements => "max_table_elements",
        }
    }

    /// Where to raise it: the builder, the spawn options, the command line.
    pub fn hint(self) -> &'static str {
        match self {
            GuestLimit::Memory => {
                "RuntimeBuilder::max_memory (and SpawnOptions::max_memory, if set) or `shoal run --max-memory`"
            }
            GuestLimit::TableElements => {
                "RuntimeBuilder::max_table_elements or `shoal run --max-table-elements`"
            }
        }
    }

    fn unit(self) -> &'static str {
        match self {
            GuestLimit::Memory => "bytes",
            GuestLimit::TableElements => "elements",
        }
    }
}

impl std::fmt::Display for GuestLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GuestLimit::Memory => "memory",
            GuestLimit::TableElements => "table",
        })
    }
}

/// The likely cause of a `main` with C's signature: on wasm, rustc and clang compile a
/// function named `main` as C's `main(argc, argv)`.
fn c_main_hint(export: &str, found: &str) -> &'static str {
    if export == "main" && found.contains("(param i32 i32) (result i32)") {
        ". A `main` of this type is C's `main(argc, argv)`, which rustc and clang make of any \
         function named `main` on wasm: give the entry another name (and `--invoke` it), or build \
         a WASI command and run its `_start`"
    } else {
        ""
    }
}
