//! Compiled modules: compiled once, instantiated many times.
//!
//! A [`Module`] holds the wasmtime module and one `InstancePre` (imports resolved against
//! the `shoal` host module once), shared by every process spawned from it. It also
//! records the type of every function export, so a spawn checks its entry in O(1) and a
//! wrong export is a typed error before any process exists.
//!
//! A component is a [`Module`] too, of two kinds that may be one:
//! - a `wasi:cli/command` (what `cargo build --target wasm32-wasip2` makes of a binary):
//!   it answers to the export names [`COMMAND_EXPORTS`], and its processes run
//!   `wasi:cli/run`;
//! - an actor (the `shoal:actor` world, wit/actor.wit): its root function exports of an
//!   entry type (`run: func(arg: u64) -> s32` and the like, [`Entry`]) start processes,
//!   as a core module's exports do.
//!
//! Its imports (WASI preview 2, `shoal:actor`) are resolved once, and its processes run
//! under the same preemption, limits, budget and kills as any guest. It is refused at
//! compile if it imports anything else, exports no entry, holds more than one linear
//! memory, or instantiates more than [`MAX_COMPONENT_INSTANCES`] core modules.
//!
//! A module belongs to the runtime that compiled it: it keeps that runtime's wasm layer
//! ([`Guests`]: engine, arenas, budget), and a spawn of it into another runtime is
//! refused (`SpawnError::ForeignModule`) rather than run on an engine whose epochs no
//! ticker of that runtime advances.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::ComponentExportIndex;
use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wasmtime::{ExternType, InstancePre, ValType};
use wasmtime_wasi::p2::bindings::CommandPre;

use super::host::{HOST_FUNCTIONS, HOST_MODULE, HostState};
use super::wasi::WASI_MODULE;
use super::{Guests, MAX_TABLES, WASM_PAGE};
use crate::error::{CompileError, SpawnError};

/// The entry types a process can start from (docs/ABI.md): a core module's, and a
/// component's root functions of the same shapes with `u64` and `s32`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// `(func)`; `func()`
    Unit,
    /// `(func (param i64))`; `func(arg: u64)`
    Arg,
    /// `(func (result i32))`; `func() -> s32`
    Code,
    /// `(func (param i64) (result i32))`; `func(arg: u64) -> s32`
    ArgCode,
    /// A `wasi:cli/command` component's `run`: exit code 0 when it returns `ok`, 1 when
    /// it returns `err`, `n` when it calls `exit(n)`.
    Command,
}

/// Where an entry export is in the module, found once at compile so that a spawn looks
/// it up by index rather than by name.
#[derive(Copy, Clone)]
pub(crate) struct EntryPoint {
    /// The export's type.
    pub entry: Entry,
    /// Where it is.
    pub export: Export,
}

/// Where an entry is, in what it is instantiated from.
#[derive(Copy, Clone)]
pub(crate) enum Export {
    /// A core module's function export.
    Core(wasmtime::ModuleExport),
    /// A component's root function export (an actor's entry).
    Component(ComponentExportIndex),
    /// A command component's `wasi:cli/run`, which its bindings find.
    Command,
}

impl std::fmt::Debug for EntryPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("EntryPoint").field(&self.entry).finish()
    }
}

/// A function export's fitness as an entry.
#[derive(Clone, Debug)]
enum ExportKind {
    Entry(EntryPoint),
    /// Not an entry type; holds the type as text for the error.
    Other(String),
}

struct ModuleInner {
    /// The wasm layer of the runtime that compiled it.
    guests: Arc<Guests>,
    /// A core module's or a component's imports, resolved once.
    kind: Kind,
    /// Function exports by name (a component's: [`COMMAND_EXPORTS`]).
    exports: HashMap<String, ExportKind>,
    /// Whether it imports WASI (preview 1, or preview 2 as a component): its processes
    /// get a WASI context.
    uses_wasi: bool,
    /// What it needs before its first instruction.
    needs: Needs,
    /// The bytes it was compiled from: what a remote spawn sends to a node that lacks
    /// the module.
    source: Arc<[u8]>,
}

/// What a process is instantiated from: imports resolved once, shared by every spawn.
pub(crate) enum Kind {
    /// A core module, linked against the `shoal` host module and WASI preview 1.
    Core(InstancePre<HostState>),
    /// A component, linked against WASI preview 2 and `shoal:actor`.
    Component(ComponentPre),
}

/// A component's imports, resolved once.
pub(crate) struct ComponentPre {
    /// For its actor entries.
    pub pre: wasmtime::component::InstancePre<HostState>,
    /// For its `wasi:cli/run`, when it is a command.
    pub command: Option<CommandPre<HostState>>,
}

/// The export names a command component answers to: wasmtime's and a core WASI
/// module's entry (`_start`, what `shoal run` calls for WASI), and the interface's.
pub(crate) const COMMAND_EXPORTS: [&str; 2] = ["_start", "wasi:cli/run"];

/// Core instances a component's process may make: its modules' instances, and the
/// small ones the component model adds between them. `szip` built for `wasm32-wasip2`
/// makes 3 (its process ends as `host_error` under a limit of 2); 64 leaves room for
/// components of several modules while still bounding what one process instantiates. A
/// component that declares more is refused at compile.
pub(crate) const MAX_COMPONENT_INSTANCES: usize = 64;

/// What a module's instance needs before its first instruction: its memory's and its
/// table's initial sizes, checked against the limits at spawn.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Needs {
    /// Initial linear memory, in bytes.
    pub memory: u64,
    /// Initial table elements.
    pub table_elements: u64,
}

/// A compiled module. Cheap to clone: every process of a module shares one.
#[derive(Clone)]
pub struct Module {
    inner: Arc<ModuleInner>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("exports", &self.exports())
            .finish()
    }
}

impl Module {
    /// Compiles wasm bytes or WAT text with `guests`' engine: a core module, or a
    /// component.
    pub(crate) fn compile(guests: &Arc<Guests>, bytes: &[u8]) -> Result<Module, CompileError> {
        if is_component(bytes) {
            let component =
                wasmtime::component::Component::new(&guests.engine, bytes).map_err(|e| {
                    CompileError::Invalid {
                        message: format!("{e:#}"),
                    }
                })?;
            return Self::link_component(guests, component, bytes);
        }
        let module =
            wasmtime::Module::new(&guests.engine, bytes).map_err(|e| CompileError::Invalid {
                message: format!("{e:#}"),
            })?;
        Self::link(guests, module, bytes)
    }

    /// Compiles through the on-disk cache in `dir` (`cache`).
    pub(crate) fn compile_cached(
        guests: &Arc<Guests>,
        bytes: &[u8],
        dir: &std::path::Path,
    ) -> Result<(Module, super::CacheOutcome), CompileError> {
        if is_component(bytes) {
            let (component, outcome) = super::cache::load_or_compile(&guests.engine, dir, bytes)?;
            return Ok((Self::link_component(guests, component, bytes)?, outcome));
        }
        let (module, outcome) = super::cache::load_or_compile(&guests.engine, dir, bytes)?;
        Ok((Self::link(guests, module, bytes)?, outcome))
    }

    /// A compiled wasmtime module, checked and linked against the host functions.
    fn link(
        guests: &Arc<Guests>,
        module: wasmtime::Module,
        source: &[u8],
    ) -> Result<Module, CompileError> {
        let linker = &guests.linker;
        let mut uses_wasi = false;
        for import in module.imports() {
            if import.module() == WASI_MODULE {
                // Resolved (or refused as unknown) by the linker's WASI functions below.
                uses_wasi = true;
                continue;
            }
            if import.module() != HOST_MODULE || !HOST_FUNCTIONS.contains(&import.name()) {
                return Err(CompileError::UnknownImport {
                    module: import.module().to_owned(),
                    name: import.name().to_owned(),
                });
            }
        }
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| CompileError::Invalid {
                message: format!("{e:#}"),
            })?;
        let exports = module
            .exports()
            .filter_map(|export| match export.ty() {
                // Always found: the name is one the module lists.
                ExternType::Func(ty) => module
                    .get_export_index(export.name())
                    .map(|index| (export.name().to_owned(), classify(&ty, Export::Core(index)))),
                _ => None,
            })
            .collect();
        let required = module.resources_required();
        if required.num_memories > 1 {
            return Err(CompileError::Unsupported {
                what: format!(
                    "{} linear memories; a process has at most one (its arena slot)",
                    required.num_memories
                ),
            });
        }
        if required.num_tables as usize > MAX_TABLES {
            return Err(CompileError::Unsupported {
                what: format!(
                    "{} tables; a process has at most {MAX_TABLES}",
                    required.num_tables
                ),
            });
        }
        let needs = Needs {
            memory: required
                .max_initial_memory_size
                .map_or(0, |pages| pages.saturating_mul(WASM_PAGE as u64)),
            table_elements: required.max_initial_table_size.unwrap_or(0),
        };
        Ok(Module {
            inner: Arc::new(ModuleInner {
                guests: guests.clone(),
                kind: Kind::Core(pre),
                exports,
                uses_wasi,
                needs,
                source: Arc::from(source),
            }),
        })
    }

    /// A compiled component, checked and linked against WASI preview 2 and
    /// `shoal:actor`. It must be a `wasi:cli/command` (export `wasi:cli/run`), export
    /// root functions of an entry type, or both; import nothing else; and its core
    /// modules together hold at most one linear memory (a process's arena slot).
    fn link_component(
        guests: &Arc<Guests>,
        component: wasmtime::component::Component,
        source: &[u8],
    ) -> Result<Module, CompileError> {
        let invalid = |e: wasmtime::Error| CompileError::Invalid {
            message: format!("{e:#}"),
        };
        let pre = guests.components.instantiate_pre(&component).map_err(|e| {
            match unknown_component_import(&component, &guests.engine) {
                Some(name) => CompileError::UnknownComponentImport { name },
                None => invalid(e),
            }
        })?;
        let command = CommandPre::new(pre.clone()).ok();
        let mut exports: HashMap<String, ExportKind> = HashMap::new();
        if command.is_some() {
            let run = ExportKind::Entry(EntryPoint {
                entry: Entry::Command,
                export: Export::Command,
            });
            for name in COMMAND_EXPORTS {
                exports.insert(name.to_owned(), run.clone());
            }
        }
        for (name, item) in component.component_type().exports(&guests.engine) {
            if let ComponentItem::ComponentFunc(func) = item.ty
                && let Some(index) = component.get_export_index(None, name)
            {
                exports.insert(name.to_owned(), classify_component(&func, index));
            }
        }
        if !exports.values().any(|e| matches!(e, ExportKind::Entry(_))) {
            return Err(CompileError::Unsupported {
                what: "a component that is neither a wasi:cli/command nor an actor (it exports \
                       neither `wasi:cli/run` nor a function such as shoal:actor's \
                       `run: func(arg: u64) -> s32`)"
                    .to_owned(),
            });
        }
        let uses_wasi = component
            .component_type()
            .imports(&guests.engine)
            .any(|(name, _)| name.starts_with(WASI_PACKAGES));
        let required = component
            .resources_required()
            .ok_or_else(|| CompileError::Unsupported {
                what: "a component that imports core modules".to_owned(),
            })?;
        if required.num_memories > 1 {
            return Err(CompileError::Unsupported {
                what: format!(
                    "a component with {} linear memories; a process has at most one (its arena slot)",
                    required.num_memories
                ),
            });
        }
        let instances = core_instantiations(source);
        if instances > MAX_COMPONENT_INSTANCES {
            return Err(CompileError::Unsupported {
                what: format!(
                    "a component that instantiates {instances} core modules; a process makes at most {MAX_COMPONENT_INSTANCES}"
                ),
            });
        }
        let needs = Needs {
            memory: required
                .max_initial_memory_size
                .map_or(0, |pages| pages.saturating_mul(WASM_PAGE as u64)),
            table_elements: required.max_initial_table_size.unwrap_or(0),
        };
        Ok(Module {
            inner: Arc::new(ModuleInner {
                guests: guests.clone(),
                kind: Kind::Component(ComponentPre { pre, command }),
                exports,
                uses_wasi,
                needs,
                source: Arc::from(source),
            }),
        })
    }

    /// Whether it is a component (a `wasi:cli/command`, an actor of the `shoal:actor`
    /// world, or both) rather than a core module.
    pub fn is_component(&self) -> bool {
        matches!(self.inner.kind, Kind::Component(_))
    }

    /// The bytes (wasm or WAT) it was compiled from, as a remote spawn sends them.
    pub fn source(&self) -> &Arc<[u8]> {
        &self.inner.source
    }

    pub(crate) fn entry(&self, export: &str) -> Result<EntryPoint, SpawnError> {
        match self.inner.exports.get(export) {
            Some(ExportKind::Entry(point)) => Ok(*point),
            Some(ExportKind::Other(found)) => Err(SpawnError::WrongSignature {
                export: export.to_owned(),
                found: found.clone(),
            }),
            None => Err(SpawnError::MissingExport {
                export: export.to_owned(),
            }),
        }
    }

    /// Whether the module imports WASI: preview 1 (`wasi_snapshot_preview1`), or
    /// preview 2 as a component.
    pub fn uses_wasi(&self) -> bool {
        self.inner.uses_wasi
    }

    /// What an instance needs before its first instruction.
    pub(crate) fn needs(&self) -> Needs {
        self.inner.needs
    }

    /// What its processes are instantiated from.
    pub(crate) fn kind(&self) -> &Kind {
        &self.inner.kind
    }

    /// The wasm layer of the runtime that compiled it.
    pub(crate) fn guests(&self) -> &Arc<Guests> {
        &self.inner.guests
    }

    /// Checks that `export` exists and has an entry type, without spawning.
    pub fn check_entry(&self, export: &str) -> Result<(), SpawnError> {
        self.entry(export).map(|_| ())
    }

    /// Names of the function exports that can start a process, sorted.
    pub fn exports(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .exports
            .iter()
            .filter(|(_, kind)| matches!(kind, ExportKind::Entry(_)))
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }
}

fn classify(ty: &wasmtime::FuncType, export: Export) -> ExportKind {
    let params: Vec<ValType> = ty.params().collect();
    let results: Vec<ValType> = ty.results().collect();
    let is = |v: &[ValType], want: &[ValType]| {
        v.len() == want.len() && v.iter().zip(want).all(|(a, b)| ValType::eq(a, b))
    };
    let entry = match (params.as_slice(), results.as_slice()) {
        (p, r) if p.is_empty() && r.is_empty() => Some(Entry::Unit),
        (p, r) if is(p, &[ValType::I64]) && r.is_empty() => Some(Entry::Arg),
        (p, r) if p.is_empty() && is(r, &[ValType::I32]) => Some(Entry::Code),
        (p, r) if is(p, &[ValType::I64]) && is(r, &[ValType::I32]) => Some(Entry::ArgCode),
        _ => None,
    };
    match entry {
        Some(entry) => ExportKind::Entry(EntryPoint { entry, export }),
        None => ExportKind::Other(ty.to_string()),
    }
}

/// A component's root function export as an entry: the shapes of [`Entry`], with the
/// argument a `u64` and the code an `s32` (the `shoal:actor` world's `run`).
fn classify_component(func: &ComponentFunc, index: ComponentExportIndex) -> ExportKind {
    let params: Vec<Type> = func.params().map(|(_, ty)| ty).collect();
    let results: Vec<Type> = func.results().collect();
    let entry = match (params.as_slice(), results.as_slice()) {
        ([], []) => Some(Entry::Unit),
        ([Type::U64], []) => Some(Entry::Arg),
        ([], [Type::S32]) => Some(Entry::Code),
        ([Type::U64], [Type::S32]) => Some(Entry::ArgCode),
        _ => None,
    };
    match entry {
        Some(entry) => ExportKind::Entry(EntryPoint {
            entry,
            export: Export::Component(index),
        }),
        None => ExportKind::Other(describe(&params, &results)),
    }
}

/// A component function's type as text, for the error of a spawn of it.
fn describe(params: &[Type], results: &[Type]) -> String {
    let list = |types: &[Type]| {
        types
            .iter()
            .map(|ty| format!("{ty:?}").to_lowercase())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("func({}) -> ({})", list(params), list(results))
}

/// Whether `bytes` (binary, or text) are a component rather than a core module. Text is
/// told by its first form; `wat` would parse the whole of it only to say the same.
fn is_component(bytes: &[u8]) -> bool {
    if wasmparser::Parser::is_component(bytes) {
        return true;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    // Past whitespace and `;;` line comments, the first form names what the text is.
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        match rest.strip_prefix(";;") {
            Some(comment) => rest = comment.split_once('\n').map_or("", |(_, after)| after),
            None => break,
        }
    }
    rest.strip_prefix('(')
        .is_some_and(|form| form.trim_start().starts_with("component"))
}

/// How many core module instantiations a component's bytes declare, nested components'
/// included (instances made of exports are no instantiation). Text is parsed first.
fn core_instantiations(bytes: &[u8]) -> usize {
    let Ok(binary) = wat::parse_bytes(bytes) else {
        return 0;
    };
    wasmparser::Parser::new(0)
        .parse_all(&binary)
        .filter_map(Result::ok)
        .map(|payload| match payload {
            wasmparser::Payload::InstanceSection(instances) => instances
                .into_iter()
                .filter(|i| matches!(i, Ok(wasmparser::Instance::Instantiate { .. })))
                .count(),
            _ => 0,
        })
        .sum()
}

/// The prefix of WASI preview 2's import names.
const WASI_PACKAGES: &str = "wasi:";

/// The first import of `component` that neither WASI preview 2 nor the `shoal:actor`
/// world provides, for a compile error that names it.
fn unknown_component_import(
    component: &wasmtime::component::Component,
    engine: &wasmtime::Engine,
) -> Option<String> {
    let actor = format!("{}/", super::world::PACKAGE);
    component
        .component_type()
        .imports(engine)
        .find(|(name, _)| !name.starts_with(WASI_PACKAGES) && !name.starts_with(&actor))
        .map(|(name, _)| name.to_owned())
}
