//! `shoal`: the command-line tool.
//!
//! This file parses the command line and maps failures to exit statuses; `run` does the
//! work and `report` formats what it measured, for people or as JSON.
//!
//! Exit status: `0` when the run itself worked, whatever its guests did (a trapping guest
//! is a result, not a failure of the tool); `2` for a usage error, a module that cannot be
//! read or compiled, a missing or mistyped entry export, or a setting the runtime refuses.
//! Each of those prints one line, `shoal: error: ...`, on stderr.

#![deny(unsafe_code)]

mod allocator;
mod bench;
mod declared;
mod fuzz;
mod metrics;
mod node;
mod preempt;
mod report;
mod run;
mod spread;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::preempt::PreemptArgs;

/// Run many WebAssembly processes fairly on a fixed pool of worker threads.
#[derive(Debug, Parser)]
#[command(name = "shoal", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a module as many processes and report exits, fuel and fairness.
    ///
    /// Without MODULE, runs the built-in mixed workload (spinners that never yield,
    /// yielders, sleepers and message senders, chosen by `arg % 4`) as 100 processes.
    Run(Box<RunArgs>),
    /// Measure fairness and speed: one workload of built-in guests, with its baselines.
    ///
    /// Workloads: fair, wake, spawn, idle, ring, pingpong, skynet, yield, overhead, wasi,
    /// order.
    /// `--json` prints one object; `--trace` writes the schedule for Perfetto; `--plot`
    /// draws fair's shares or wake's latencies as SVG.
    Bench(bench::BenchArgs),
    /// Fuzz the runtime with generated guests: `abi` (calls of the whole host ABI; no
    /// host error, no leak) or `differential` (pure compute; the same end as bare
    /// wasmtime). Runs `--cases` seeds or for `--secs`; a failure names its seed.
    Fuzz(fuzz::FuzzArgs),
    /// Run one node of a cluster over NATS until SIGINT or SIGTERM (docs/CLUSTER.md).
    Node(node::NodeArgs),
}

/// Options of `shoal run`. Names follow wasmtime's CLI where it has one (`--invoke`).
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// A .wasm or .wat file. Omitted: the built-in `guests::MIXED` module.
    pub module: Option<PathBuf>,

    /// The export each process runs. Default: `main`; without one, `_start` (a WASI
    /// command), then `run` (a component of the `shoal:actor` world).
    #[arg(long, value_name = "EXPORT")]
    pub invoke: Option<String>,

    /// How many processes to spawn. Default: 1 for a MODULE, 100 for the built-in one.
    #[arg(long, value_name = "N")]
    pub procs: Option<usize>,

    /// The argument every process gets. Default: the process's index (0, 1, 2, ...), so
    /// the built-in module runs an even mix of its four kinds.
    #[arg(long, value_name = "I64", allow_negative_numbers = true)]
    pub arg: Option<i64>,

    /// Worker threads. Default: the available cores (1 with --deterministic).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,

    #[command(flatten)]
    pub preemption: PreemptArgs,

    /// Count fuel in epoch mode too, to report it (compiled code pays 20-40% on loops).
    /// Fuel and hybrid preemption, --fuel-limit and --deterministic meter it anyway.
    #[arg(long)]
    pub fuel_metering: bool,

    /// Lifetime fuel budget of each process; past it, the process exits `out_of_fuel`.
    #[arg(long, value_name = "F")]
    pub fuel_limit: Option<u64>,

    /// Wall-clock deadline of each process, in milliseconds from its spawn.
    #[arg(long, value_name = "D")]
    pub deadline_ms: Option<u64>,

    /// Maximum live processes, including those the guests spawn. Default: --procs for a
    /// MODULE that imports no spawn function (it cannot spawn); otherwise twice --procs
    /// (room for one child each; the built-in senders spawn one), and at least 10,000.
    #[arg(long, value_name = "N")]
    pub capacity: Option<usize>,

    /// How linear memories are laid out: `guarded` (a 4 GiB reservation and a guard per
    /// process, so compiled code has no bounds checks: wasmtime's own speed, for up to
    /// 4,064 processes) or `dense` (slots of --max-memory with bounds checks, for up to
    /// a million). Default: guarded when --capacity allows it, else dense. The summary
    /// says which.
    #[arg(long, value_name = "LAYOUT", value_parser = parse_layout)]
    pub memories: Option<shoal::MemoryLayout>,

    /// Largest linear memory of a process, with a unit if wanted (`64MiB`, `1GiB`; a
    /// bare number is bytes). Default for a MODULE: what it declares (its maximum, or
    /// as much as --capacity leaves of the address space when it declares none), at
    /// least its initial size and at least 16 MiB. Default for the built-in: 16 MiB.
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<bytesize::ByteSize>,

    /// The runtime's memory budget: what all processes may hold at once in linear
    /// memory, queued messages and process records, with a unit if wanted (`8GiB`).
    /// Past it, memory.grow fails, spawns and sends are refused. Default: three
    /// quarters of physical memory.
    #[arg(long, value_name = "SIZE")]
    pub memory_budget: Option<bytesize::ByteSize>,

    /// Largest table of a process, in elements. Default: what the module's table starts
    /// with, and at least 10,000.
    #[arg(long, value_name = "N")]
    pub max_table_elements: Option<u32>,

    /// One worker, fuel quanta, a virtual clock: the same run gives the same schedule,
    /// whose hash is printed.
    #[arg(long)]
    pub deterministic: bool,

    /// Print one JSON object on stdout instead of the human summary.
    #[arg(long)]
    pub json: bool,

    /// Draw the processes' CPU shares, sorted, against an even share, as SVG: those that
    /// wanted a worker the whole time, or every process if fewer than two did.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// WASI: a host directory the processes see, as `HOST` (same path in the guest) or
    /// `HOST::GUEST`. Opened once and shared by all the processes. Repeatable.
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    pub dirs: Vec<String>,

    /// WASI: an environment variable, `KEY=VALUE`. Repeatable.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub envs: Vec<String>,

    /// WASI: every process's stdin is this file's contents. Default: empty.
    #[arg(long, value_name = "FILE")]
    pub stdin: Option<PathBuf>,

    /// WASI: write each process's stdout and stderr to `DIR/<index>.stdout` and
    /// `DIR/<index>.stderr`. Default: inherited (discarded with --json, whose stdout is
    /// the report).
    #[arg(long, value_name = "DIR")]
    pub stdout_dir: Option<PathBuf>,

    /// Keep compiled modules in DIR and load them from there next time. Default: the
    /// user's cache directory (`$XDG_CACHE_HOME/shoal`, else `~/.cache/shoal`).
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,

    /// Compile the module afresh, neither reading nor writing the cache.
    #[arg(long)]
    pub no_cache: bool,

    /// A send that finds a process's mailbox at its bound ends that process with
    /// `mailbox_overflow` instead of being refused with MAILBOX_FULL (Erlang's
    /// max_heap_size with kill).
    #[arg(long)]
    pub kill_on_full_mailbox: bool,

    /// Spread --procs round-robin over this node and the nodes of the cluster that
    /// accept spawns (`shoal node --accept-spawn`), and report every exit with its node.
    /// Joins the cluster given by --nats and --cluster.
    #[arg(long, requires_all = ["nats", "cluster"], conflicts_with = "deterministic")]
    pub spread: bool,

    /// The NATS server of the cluster to spread over (with --spread).
    #[arg(long, value_name = "URL", requires = "spread")]
    pub nats: Option<String>,

    /// The cluster to spread over (with --spread).
    #[arg(long, value_name = "NAME", requires = "spread")]
    pub cluster: Option<String>,

    #[command(flatten)]
    pub nats_auth: node::NatsAuth,

    /// WASI: arguments after `--`, passed to every process after `argv[0]` (the module's
    /// file name), as wasmtime does.
    #[arg(last = true, value_name = "ARGS")]
    pub guest_args: Vec<String>,
}

/// A size from the command line as the runtime's `usize`; one past `usize` saturates and
/// is refused by the runtime's range check like any other too-large setting.
pub(crate) fn bytes(size: bytesize::ByteSize) -> usize {
    usize::try_from(size.as_u64()).unwrap_or(usize::MAX)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A node logs its joins and leaves; the other commands only what went wrong.
    let default_level = match cli.command {
        Command::Node(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .init();

    let result = match cli.command {
        Command::Run(args) => if args.spread {
            spread::run(&args)
        } else {
            run::run(&args)
        }
        .and_then(|outcome| {
            if args.json {
                println!("{}", report::json(&outcome));
            } else {
                print!("{}", report::human(&outcome));
            }
            match &args.plot {
                Some(path) => report::plot(&outcome, path),
                None => Ok(()),
            }
        }),
        Command::Bench(args) => bench::run(&args),
        Command::Fuzz(args) => fuzz::run(&args),
        Command::Node(args) => node::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the causes too, on the same line.
            eprintln!("shoal: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// `--memories`: `guarded` or `dense`.
fn parse_layout(name: &str) -> Result<shoal::MemoryLayout, String> {
    [shoal::MemoryLayout::Guarded, shoal::MemoryLayout::Dense]
        .into_iter()
        .find(|layout| layout.name() == name)
        .ok_or_else(|| format!("expected `guarded` or `dense`, got `{name}`"))
}
