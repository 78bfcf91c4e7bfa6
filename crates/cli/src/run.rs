//! `shoal run`: build the runtime the options describe, compile the module, spawn the
//! processes, wait for every one of them, and hand back what happened.
//!
//! Everything that can be wrong with the *request* (an option, the file, the module, the
//! entry export) is found before the first spawn and returned as an error; once the
//! processes run, whatever they do is a result.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use shoal::{
    CompileError, DEFAULT_CAPACITY, DEFAULT_MAX_MEMORY, DEFAULT_MAX_TABLE_ELEMENTS, Exit,
    MAX_CAPACITY, Module, Output, Preemption, Runtime, RuntimeBuilder, RuntimeStats, SpawnError,
    SpawnOptions, Stdin, WasiConfig, guests,
};

use crate::RunArgs;
use crate::declared::Declared;

/// Processes `shoal run` spawns when it runs the built-in module: 25 of each kind of
/// `guests::MIXED`, enough to show the mix, few enough to finish in a couple of seconds.
const DEFAULT_BUILTIN_PROCS: usize = 100;

/// After the last process the tool spawned has exited, how long processes those spawned
/// (the built-in senders' `pong` children) get to finish before the runtime kills them.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Processes the default capacity makes room for per process the tool spawns: itself and
/// one child (the built-in senders each spawn one `pong`).
const CAPACITY_PER_PROC: usize = 2;

/// The sub-directory of the user's cache directory where compiled modules are kept.
const CACHE_SUBDIR: &str = "shoal";

/// The entry `shoal run` uses when `--invoke` is not given, and the ones it falls back to,
/// in order: the WASI command convention, and the `shoal:actor` world's entry.
const DEFAULT_EXPORT: &str = "main";
const FALLBACK_EXPORTS: [&str; 2] = ["_start", "run"];

/// What a run did: the settings it ran with and every process's exit.
pub(crate) struct Outcome {
    /// The module's file, or the name of the built-in one.
    pub source: String,
    /// The export every process ran.
    pub export: String,
    /// Worker threads.
    pub workers: usize,
    /// The preemption mode the runtime ran with.
    pub preemption: Preemption,
    /// Whether fuel was metered: only when something needs it (fuel or hybrid
    /// preemption, a fuel limit, deterministic mode, or `--fuel-metering`), since it costs
    /// compiled code 20-40% on loops. Running time is measured in every mode.
    pub fuel_metering: bool,
    /// Exits of the processes the tool spawned, in spawn order.
    pub exits: Vec<Exit>,
    /// From the first spawn to the last of those exits.
    pub elapsed: Duration,
    /// The schedule hash, in deterministic mode.
    pub schedule_hash: Option<u64>,
    /// Runtime counters at the end, including processes the guests spawned.
    pub stats: RuntimeStats,
    /// The limits the runtime ran with, and whether the tool chose them.
    pub limits: Limits,
    /// How the runtime laid out linear memories.
    pub memory_layout: shoal::MemoryLayout,
    /// With `--spread`: the nodes the processes ran on, and how many on each.
    pub nodes: Vec<NodeShare>,
}

/// One node of a `--spread` run.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct NodeShare {
    /// Its id (the first number of its pids).
    pub node: u16,
    /// Its name.
    pub name: String,
    /// Processes the tool spawned there.
    pub procs: usize,
}

/// The capacity and per-process caps a run used.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Maximum live processes.
    pub capacity: usize,
    /// Largest linear memory of a process, in bytes.
    pub max_memory: u64,
    /// Largest table of a process, in elements.
    pub max_table_elements: u32,
}

/// What a run asks for, read and sized before anything is built: the number of
/// processes, the module's bytes (`None` for the built-in one) and the limits.
pub(crate) struct Request {
    pub procs: usize,
    pub bytes: Option<Vec<u8>>,
    pub limits: Limits,
}

/// Reads the request in `args`.
pub(crate) fn request(args: &RunArgs) -> anyhow::Result<Request> {
    let procs = args.procs.unwrap_or(match args.module {
        Some(_) => 1,
        None => DEFAULT_BUILTIN_PROCS,
    });
    if procs == 0 {
        bail!("--procs must be at least 1");
    }

    let bytes = match &args.module {
        Some(path) => Some(std::fs::read(path).map_err(|error| CompileError::Io {
            path: path.clone(),
            error,
        })?),
        None => None,
    };
    let limits = limits(args, procs, bytes.as_deref().map(Declared::of));
    Ok(Request {
        procs,
        bytes,
        limits,
    })
}

/// Runs `args` on this machine. An `Err` is a problem with the request, reported as one
/// line.
pub(crate) fn run(args: &RunArgs) -> anyhow::Result<Outcome> {
    let Request {
        procs,
        bytes,
        limits,
    } = request(args)?;
    let runtime = runtime_builder(args, &limits)?.build()?;
    let (module, source) = compile(&runtime, args, bytes.as_deref())?;
    let export = entry_export(&module, args.invoke.as_deref())?;
    if !module.uses_wasi() && wasi_options_given(args) {
        bail!(
            "--dir, --env, --stdin, --stdout-dir and arguments after -- are for WASI modules; {source} imports no WASI (wasi_snapshot_preview1, or preview 2 as a component)"
        );
    }
    let wasi = if module.uses_wasi() {
        Some(wasi_config(args)?)
    } else {
        None
    };
    if let Some(dir) = &args.stdout_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --stdout-dir {}", dir.display()))?;
    }

    let started = Instant::now();
    let mut handles = Vec::with_capacity(procs);
    for index in 0..procs {
        let arg = args.arg.unwrap_or(index as i64);
        let mut options = SpawnOptions::new();
        if let Some(config) = &wasi {
            options = options.wasi(process_wasi(args, config.clone(), index));
        }
        let handle = runtime
            .spawn_with(&module, &export, arg, options)
            .with_context(|| format!("cannot spawn process {} of {procs}", index + 1))?;
        handles.push(handle);
    }
    // Deterministic runtimes are built paused so that every spawn precedes the first
    // quantum; for the others this does nothing.
    runtime.start();
    let exits: Vec<Exit> = handles.iter().map(|handle| handle.wait()).collect();
    let elapsed = started.elapsed();

    // Let processes the guests spawned finish, so that the stats and the schedule hash
    // cover the whole run and do not depend on when this thread woke up.
    runtime.shutdown(SHUTDOWN_GRACE);
    Ok(Outcome::of(
        &runtime, source, export, exits, elapsed, limits,
    ))
}

impl Outcome {
    /// What a run on `runtime` did, with its settings and counters read now; no nodes.
    pub(crate) fn of(
        runtime: &Runtime,
        source: String,
        export: String,
        exits: Vec<Exit>,
        elapsed: Duration,
        limits: Limits,
    ) -> Outcome {
        Outcome {
            source,
            export,
            workers: runtime.workers(),
            preemption: runtime.preemption(),
            fuel_metering: runtime.fuel_metering(),
            exits,
            elapsed,
            schedule_hash: runtime.schedule_hash(),
            stats: runtime.stats(),
            limits,
            memory_layout: runtime.memory_layout(),
            nodes: Vec::new(),
        }
    }
}

/// The capacity and caps to run with: the options where given, else sized to the run
/// (`procs`) and to what the module `declared`.
fn limits(args: &RunArgs, procs: usize, declared: Option<Declared>) -> Limits {
    let capacity = args.capacity.unwrap_or_else(|| match declared {
        // A module that imports no spawn function runs exactly the tool's processes.
        Some(declared) if !declared.spawns => procs.min(MAX_CAPACITY),
        _ => procs
            .saturating_mul(CAPACITY_PER_PROC)
            .clamp(DEFAULT_CAPACITY, MAX_CAPACITY),
    });
    let max_memory = match (args.max_memory, declared) {
        (Some(size), _) => size.as_u64(),
        (None, Some(declared)) => declared.max_memory(capacity),
        (None, None) => DEFAULT_MAX_MEMORY as u64,
    };
    let max_table_elements = args
        .max_table_elements
        .unwrap_or_else(|| declared.map_or(DEFAULT_MAX_TABLE_ELEMENTS, |d| d.max_table_elements()));
    Limits {
        capacity,
        max_memory,
        max_table_elements,
    }
}

/// The runtime the options describe, to build. Range checks are the runtime's own
/// (`ConfigError`); this only refuses option combinations that contradict each other.
pub(crate) fn runtime_builder(args: &RunArgs, limits: &Limits) -> anyhow::Result<RuntimeBuilder> {
    // Fuel is metered when the mode, a fuel limit or the user asks for it; otherwise the
    // report gives running time only. The builder meters it for fuel and hybrid
    // preemption and in deterministic mode.
    let mut builder = Runtime::builder().deterministic(args.deterministic);
    if args.fuel_metering || args.fuel_limit.is_some() {
        builder = builder.fuel_metering(true);
    }
    if let Some(preemption) = args.preemption.resolve()? {
        builder = builder.preemption(preemption);
    }
    if let Some(workers) = args.workers {
        builder = builder.workers(workers);
    }
    // Sizes past `usize` are refused as too large by the builder, like any other.
    builder = builder
        .capacity(limits.capacity)
        .max_memory(usize::try_from(limits.max_memory).unwrap_or(usize::MAX))
        .max_table_elements(limits.max_table_elements);
    if let Some(layout) = args.memories {
        builder = builder.memory_layout(layout);
    }
    if args.kill_on_full_mailbox {
        builder = builder.kill_on_full_mailbox(true);
    }
    if let Some(budget) = args.memory_budget {
        builder = builder.memory_budget(crate::bytes(budget));
    }
    if let Some(fuel) = args.fuel_limit {
        builder = builder.fuel_limit(fuel);
    }
    if let Some(ms) = args.deadline_ms {
        builder = builder.deadline(Duration::from_millis(ms));
    }
    Ok(builder)
}

/// Whether any WASI option was given.
fn wasi_options_given(args: &RunArgs) -> bool {
    !args.dirs.is_empty()
        || !args.envs.is_empty()
        || args.stdin.is_some()
        || args.stdout_dir.is_some()
        || !args.guest_args.is_empty()
}

/// The WASI settings every process of a WASI module shares, as under wasmtime:
/// `argv[0]` is the module's file name and the arguments after `--` follow it; the
/// environment; the directories, opened once here; stdin; inherited output.
fn wasi_config(args: &RunArgs) -> anyhow::Result<WasiConfig> {
    let argv0 = args
        .module
        .as_ref()
        .and_then(|p| p.file_name())
        .map_or_else(|| "main".to_owned(), |n| n.to_string_lossy().into_owned());
    let mut config = WasiConfig::new()
        .arg(argv0)
        .args(args.guest_args.iter().cloned());
    for pair in &args.envs {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("--env {pair:?}: expected KEY=VALUE");
        };
        config = config.env(key, value);
    }
    for dir in &args.dirs {
        let (host, guest) = dir.split_once("::").unwrap_or((dir, dir));
        config = config.preopen_dir(host, guest, false)?;
    }
    if let Some(path) = &args.stdin {
        config = config.stdin(Stdin::File(path.clone()));
    }
    let (stdout, stderr) = if args.json {
        (Output::Discard, Output::Discard)
    } else {
        (Output::Inherit, Output::Inherit)
    };
    Ok(config.stdout(stdout).stderr(stderr))
}

/// Process `index`'s config: the shared one, with its own output files under
/// `--stdout-dir`.
fn process_wasi(args: &RunArgs, config: WasiConfig, index: usize) -> WasiConfig {
    match &args.stdout_dir {
        Some(dir) => config
            .stdout(Output::File(dir.join(format!("{index}.stdout"))))
            .stderr(Output::File(dir.join(format!("{index}.stderr")))),
        None => config,
    }
}

/// Compiles the file named on the command line (its `bytes`) through the cache, or the
/// built-in module.
pub(crate) fn compile(
    runtime: &Runtime,
    args: &RunArgs,
    bytes: Option<&[u8]>,
) -> anyhow::Result<(Module, String)> {
    let (Some(path), Some(bytes)) = (&args.module, bytes) else {
        let module = runtime
            .compile_wat(guests::MIXED)
            .context("the built-in module guests::MIXED does not compile")?;
        return Ok((module, "built-in guests::MIXED".to_owned()));
    };
    let source = path.display().to_string();
    let cache = cache_dir(args);
    let spinner = compiling(&source, bytes.len(), cache.is_some());
    let compiled = match cache {
        Some(Cache::Chosen(dir)) => runtime.compile_cached(bytes, &dir).map(|(m, _)| m),
        Some(Cache::Default(dir)) => match runtime.compile_cached(bytes, &dir) {
            // The default cache is a convenience: one that cannot be written, or that
            // is not the user's alone, is said once, and the module compiled without it.
            Err(error @ (CompileError::Io { .. } | CompileError::UntrustedCache { .. })) => {
                spinner
                    .suspend(|| eprintln!("shoal: warning: not using the compile cache: {error}"));
                runtime.compile(bytes)
            }
            other => other.map(|(m, _)| m),
        },
        None => runtime.compile(bytes),
    };
    spinner.finish_and_clear();
    let module = compiled.map_err(|error| match error {
        // These name their path already.
        CompileError::Io { .. } | CompileError::UntrustedCache { .. } => anyhow::Error::new(error),
        other => anyhow::anyhow!(located(&source, &other.to_string())),
    })?;
    Ok((module, source))
}

/// Where compiled code is cached.
enum Cache {
    /// `--cache-dir`: its errors are the run's.
    Chosen(PathBuf),
    /// The user's cache directory.
    Default(PathBuf),
}

/// `--cache-dir`, else the user's cache directory unless `--no-cache` (or there is none).
fn cache_dir(args: &RunArgs) -> Option<Cache> {
    if args.no_cache {
        return None;
    }
    match &args.cache_dir {
        Some(dir) => Some(Cache::Chosen(dir.clone())),
        None => dirs::cache_dir().map(|dir| Cache::Default(dir.join(CACHE_SUBDIR))),
    }
}

/// A spinner on a terminal's stderr while `source` compiles (drawn nowhere else): a
/// large module takes a minute to compile the first time.
fn compiling(source: &str, len: usize, cached: bool) -> ProgressBar {
    let spinner = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("the template is valid"),
    );
    spinner.set_message(format!(
        "compiling {} ({:.1} MB{})",
        Path::new(source)
            .file_name()
            .map_or(source.into(), |n| n.to_string_lossy()),
        len as f64 / 1e6,
        if cached { ", cached for next time" } else { "" }
    ));
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner
}

/// The export to run: `--invoke`, else `main`, else `_start`, else `run`. Checked against
/// the module now, so a typo fails before anything is spawned.
pub(crate) fn entry_export(module: &Module, invoke: Option<&str>) -> anyhow::Result<String> {
    let name = match invoke {
        Some(name) => name,
        None => match module.check_entry(DEFAULT_EXPORT) {
            Err(SpawnError::MissingExport { .. }) => FALLBACK_EXPORTS
                .into_iter()
                .find(|name| module.check_entry(name).is_ok())
                .unwrap_or(DEFAULT_EXPORT),
            _ => DEFAULT_EXPORT,
        },
    };
    match module.check_entry(name) {
        Ok(()) => Ok(name.to_owned()),
        Err(error @ SpawnError::MissingExport { .. }) => {
            let exports = module.exports();
            if exports.is_empty() {
                bail!("{error}; it exports no function with an entry type");
            }
            bail!("{error}; entry exports: {}", exports.join(", "))
        }
        Err(error) => Err(error.into()),
    }
}

/// A compile error as one line, starting with the file and, for a WAT syntax error, the
/// line and column. wasmtime's parse errors span several lines (the location, then a
/// source excerpt with a caret) and name the input `<anon>`; the tool promises one line.
fn located(path: &str, message: &str) -> String {
    let mut location = None;
    let mut parts: Vec<&str> = Vec::new();
    for line in message.lines().map(str::trim) {
        if let Some(at) = line.strip_prefix("--> ") {
            location = at.rsplit_once("<anon>").map(|(_, line_col)| line_col);
        } else if !(line.is_empty() || line.starts_with('|') || is_excerpt(line)) {
            parts.push(line);
        }
    }
    format!(
        "{path}{}: {}",
        location.unwrap_or_default(),
        parts.join(" ")
    )
}

/// An excerpt line of a parse error: `12 | source text`.
fn is_excerpt(line: &str) -> bool {
    line.split_once(" |")
        .is_some_and(|(number, _)| !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::located;

    #[test]
    fn a_wat_syntax_error_is_one_line_with_file_line_and_column() {
        let message =
            "invalid module: expected `(`\n     --> <anon>:3:14\n      |\n    3 | oops\n      | ^";
        assert_eq!(
            located("m.wat", message),
            "m.wat:3:14: invalid module: expected `(`"
        );
    }

    #[test]
    fn an_error_without_location_keeps_the_file() {
        assert_eq!(
            located("m.wasm", "unknown import `env::f`"),
            "m.wasm: unknown import `env::f`"
        );
    }
}
