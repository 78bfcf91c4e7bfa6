//! `shoal bench`: measure how fairly and how fast processes are scheduled.
//!
//! Each workload lives in its own file and returns a [`Report`]: the figures it measured,
//! keyed as the JSON names them, and, where the workload has one, its baseline measured
//! in the same run (raw wasmtime in `yield` and `overhead`; Erlang/OTP runs beside it
//! through `benches/beam/compare.sh`). Every report carries what it ran on: workload,
//! workers, procs, preemption mode, the machine and the shoal version.
//!
//! | workload | measures |
//! |---|---|
//! | `fair` | CPU share of N spinners by fuel and by time on a worker: Jain's index, min and max share |
//! | `wake` | lateness of a 1 ms sleep amid N spinners: p50, p99, max |
//! | `spawn` | spawn-and-exit rate of trivial processes |
//! | `idle` | resident memory and mappings per process blocked in receive; a reply from each; teardown |
//! | `ring` | messages per second around a ring of N processes |
//! | `pingpong` | one round trip between two processes |
//! | `skynet` | the 10-ary spawn tree of 10^D leaves, summed back up |
//! | `yield` | one preemption round trip, against raw wasmtime |
//! | `overhead` | a CPU-bound loop under Shoal, against raw wasmtime with the same instrumentation and with none |
//! | `order` | S senders × M messages to one receiver with a small mailbox: per-sender order, none lost or duplicated, under back-pressure |
//! | `wasi` | N copies of a real WASI program (`--module`), against the same copies one after another in a bare wasmtime store; fairness |
//!
//! Figures are medians where a workload repeats itself. Nothing here asserts a speed: a
//! benchmark measures, the tests assert.

mod chaos;
mod cluster;
mod fair;
mod guests;
mod idle;
mod map_count;
mod messaging;
mod order;
mod overhead;
pub(crate) mod plot;
mod program;
mod raw;
mod skynet;
mod spawn;
mod trace_file;
mod wake;
mod yields;

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};
use shoal::{Preemption, Runtime, RuntimeBuilder};

use crate::preempt::PreemptArgs;

/// Events a `--trace` keeps: the most recent ones. At about 100 bytes of JSON each this
/// is a file of some tens of MB, which Perfetto opens in a browser tab.
const TRACE_EVENTS: usize = 300_000;

/// Options of `shoal bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    pub workload: Workload,

    /// Processes: spinners for fair and wake, spawns for spawn, idle processes for idle,
    /// ring size for ring, the live-process capacity for skynet. Default: per workload
    /// (README.md lists them).
    #[arg(long, value_name = "N")]
    pub procs: Option<usize>,

    /// Worker threads. Default: the available cores (1 with --deterministic).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,

    /// Seconds to measure (fair, wake). Default: 3.
    #[arg(long, value_name = "S")]
    pub secs: Option<f64>,

    /// Seconds to run before measuring (fair). Default: 1.
    #[arg(long, value_name = "S")]
    pub warmup_secs: Option<f64>,

    /// Times the token goes around (ring), or round trips (pingpong).
    #[arg(long, value_name = "M")]
    pub rounds: Option<u64>,

    /// The runtime's memory budget, with a unit if wanted (`8GiB`). Default: the
    /// runtime's (three quarters of physical memory), except for idle and skynet, whose
    /// hundreds of thousands of one-page guests pass it by design: none there.
    #[arg(long, value_name = "SIZE")]
    pub memory_budget: Option<bytesize::ByteSize>,

    /// How linear memories are laid out (`guarded` or `dense`, as for `shoal run`).
    /// Default: what the runtime chooses for the workload's capacity.
    #[arg(long, value_name = "LAYOUT", value_parser = crate::parse_layout)]
    pub memories: Option<shoal::MemoryLayout>,

    /// Depth of the skynet tree: 10^D leaves. Default: 6.
    #[arg(long, value_name = "D")]
    pub depth: Option<u32>,

    #[command(flatten)]
    pub preemption: PreemptArgs,

    /// Weights for fair's spinners, given out in turn (`1,2,4,8`): shares are then
    /// reported per weight, against the ideal of a share proportional to weight.
    #[arg(long, value_name = "W,W,...", value_delimiter = ',')]
    pub weights: Vec<u32>,

    /// Group sizes for fair (`10000,10`): each size is a group of its own, of weight 1,
    /// and the spinners number their sum; shares are then reported per group, against
    /// the ideal of an equal share per group.
    #[arg(long, value_name = "N,N,...", value_delimiter = ',')]
    pub groups: Vec<usize>,

    /// One worker, fuel quanta, a virtual clock (fair): prints the schedule hash, the
    /// same on every run.
    #[arg(long)]
    pub deterministic: bool,

    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Write the schedule as Chrome Trace Event JSON (open it in ui.perfetto.dev).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// Draw an SVG: fair's sorted CPU shares against the ideal, wake's latencies.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// The WASI command module the wasi workload runs.
    #[arg(long, value_name = "FILE")]
    pub module: Option<PathBuf>,

    /// The NATS server of the cluster workload (default: start `nats-server` on a free
    /// loopback port).
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,

    /// The wasi workload's stdin for every copy (a file's contents). Default: empty.
    #[arg(long, value_name = "FILE")]
    pub stdin: Option<PathBuf>,

    /// The wasi workload's arguments after `--`, behind `argv[0]`.
    #[arg(last = true, value_name = "ARGS")]
    pub guest_args: Vec<String>,
}

/// The workloads.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Workload {
    /// N CPU-bound guests that never yield: CPU share by fuel and by wall time.
    Fair,
    /// One guest sleeps 1 ms over and over amid N CPU-bound guests: how late it wakes.
    Wake,
    /// Spawn N trivial processes that exit at once, and wait for all of them.
    Spawn,
    /// N processes blocked in receive: memory per process.
    Idle,
    /// N processes in a ring pass a token around M times.
    Ring,
    /// Two processes exchange M round trips.
    Pingpong,
    /// The 10-ary spawn tree with 10^D leaves, summing back up.
    Skynet,
    /// One preemption round trip under the scheduler, against raw wasmtime.
    Yield,
    /// A CPU-bound guest under each mode, against raw wasmtime.
    Overhead,
    /// N copies of a real WASI program, against bare wasmtime on as many threads.
    Wasi,
    /// N senders × M messages to one receiver with a small mailbox: order, loss, dups.
    Order,
    /// Supervision trees of N guests under random kills for --secs: restarts, and what
    /// is left after teardown (processes, memory, names).
    Chaos,
    /// Two `shoal node` processes and this one over NATS: round trip, one-way rate,
    /// loss and order, time to `noconnection` after SIGKILL and SIGSTOP; raw NATS beside.
    Cluster,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Fair => "fair",
            Workload::Wake => "wake",
            Workload::Spawn => "spawn",
            Workload::Idle => "idle",
            Workload::Ring => "ring",
            Workload::Pingpong => "pingpong",
            Workload::Skynet => "skynet",
            Workload::Yield => "yield",
            Workload::Overhead => "overhead",
            Workload::Wasi => "wasi",
            Workload::Order => "order",
            Workload::Chaos => "chaos",
            Workload::Cluster => "cluster",
        }
    }
}

/// What a workload measured: figures in the order a person reads them.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Processes the workload ran (its meaning is the workload's).
    pub procs: usize,
    /// Worker threads it ran on.
    pub workers: usize,
    /// The preemption mode, by name.
    pub preempt: String,
    /// `(key, value, what it is)`, JSON keys first.
    pub figures: Vec<(Cow<'static, str>, Value, &'static str)>,
    /// Points for `--plot`.
    pub plot: Option<plot::Data>,
}

impl Report {
    /// An empty report of a run of `procs` processes on `runtime`.
    pub(crate) fn of(runtime: &Runtime, procs: usize) -> Report {
        Report {
            procs,
            workers: runtime.workers(),
            preempt: mode_name(&runtime.preemption()),
            ..Report::default()
        }
    }

    fn figure(
        &mut self,
        key: impl Into<Cow<'static, str>>,
        value: impl Into<Value>,
        about: &'static str,
    ) {
        self.figures.push((key.into(), value.into(), about));
    }
}

/// The context a workload runs in: the options, and the progress bar's visibility.
pub(crate) struct Bench<'a> {
    pub args: &'a BenchArgs,
    /// The runtime's trace, when `--trace` asked for one.
    trace: std::cell::RefCell<Option<shoal::Trace>>,
}

impl Bench<'_> {
    /// A runtime as the options describe, with `configure` applied last.
    pub(crate) fn runtime(
        &self,
        configure: impl FnOnce(RuntimeBuilder) -> RuntimeBuilder,
    ) -> anyhow::Result<Runtime> {
        let args = self.args;
        let mut builder = Runtime::builder().deterministic(args.deterministic);
        if let Some(preemption) = args.preemption.resolve()? {
            builder = builder.preemption(preemption);
        }
        if let Some(workers) = args.workers {
            builder = builder.workers(workers);
        }
        if args.trace.is_some() {
            builder = builder.trace(TRACE_EVENTS);
        }
        let mut builder = configure(builder);
        if let Some(layout) = args.memories {
            builder = builder.memory_layout(layout);
        }
        if let Some(budget) = args.memory_budget {
            builder = builder.memory_budget(crate::bytes(budget));
        }
        Ok(builder.build()?)
    }

    /// Keeps the runtime's trace for `--trace` (call before dropping the runtime).
    pub(crate) fn keep_trace(&self, runtime: &Runtime) {
        if let Some(trace) = runtime.take_trace() {
            *self.trace.borrow_mut() = Some(trace);
        }
    }

    /// A progress bar on stderr for something of `len` steps; hidden under `--json` and
    /// when stderr is not a terminal.
    pub(crate) fn progress(&self, len: u64, what: &str) -> ProgressBar {
        let bar = if self.args.json {
            ProgressBar::hidden()
        } else {
            ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
        };
        bar.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:40}] {percent:>3}% {elapsed}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_message(what.to_owned());
        bar
    }

    /// Sleeps `secs` seconds with a progress bar labelled `what`.
    pub(crate) fn wait_secs(&self, secs: f64, what: &str) {
        const STEP: Duration = Duration::from_millis(100);
        let total = Duration::from_secs_f64(secs);
        let bar = self.progress((total.as_millis() as u64).max(1), what);
        let start = std::time::Instant::now();
        while start.elapsed() < total {
            std::thread::sleep(STEP.min(total.saturating_sub(start.elapsed())));
            bar.set_position(start.elapsed().as_millis() as u64);
        }
        bar.finish_and_clear();
    }

    /// `--secs`, checked.
    pub(crate) fn secs(&self, default: f64) -> anyhow::Result<f64> {
        positive("--secs", self.args.secs.unwrap_or(default))
    }

    /// `--procs`, checked.
    pub(crate) fn procs(&self, default: usize) -> anyhow::Result<usize> {
        let n = self.args.procs.unwrap_or(default);
        if n == 0 {
            bail!("--procs must be at least 1");
        }
        Ok(n)
    }
}

/// Polls `done` every millisecond until it holds; an error naming `what` after `stuck`.
pub(crate) fn wait_until(
    stuck: Duration,
    what: &str,
    mut done: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    while !done() {
        if start.elapsed() > stuck {
            bail!("stuck: waited {stuck:?} for {what}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// A duration option that must be a positive, finite number of seconds.
pub(crate) fn positive(option: &str, secs: f64) -> anyhow::Result<f64> {
    if !(secs.is_finite() && secs > 0.0) {
        bail!("{option} must be a positive number of seconds, got {secs}");
    }
    Ok(secs)
}

/// Runs `shoal bench` and prints its report.
pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if args.deterministic && args.workload != Workload::Fair {
        bail!("--deterministic applies to the fair workload only");
    }
    if args.plot.is_some() && !matches!(args.workload, Workload::Fair | Workload::Wake) {
        bail!("--plot draws the fair and wake workloads only");
    }
    let wasi_options = args.module.is_some() || args.stdin.is_some() || !args.guest_args.is_empty();
    if wasi_options && args.workload != Workload::Wasi {
        bail!("--module, --stdin and arguments after -- apply to the wasi workload only");
    }
    let bench = Bench {
        args,
        trace: std::cell::RefCell::new(None),
    };
    let report = match args.workload {
        Workload::Fair => fair::run(&bench),
        Workload::Wake => wake::run(&bench),
        Workload::Spawn => spawn::run(&bench),
        Workload::Idle => idle::run(&bench),
        Workload::Ring => messaging::ring(&bench),
        Workload::Pingpong => messaging::pingpong(&bench),
        Workload::Skynet => skynet::run(&bench),
        Workload::Yield => yields::run(&bench),
        Workload::Overhead => overhead::run(&bench),
        Workload::Wasi => program::run(&bench),
        Workload::Order => order::run(&bench),
        Workload::Chaos => chaos::run(&bench),
        Workload::Cluster => cluster::run(&bench),
    }?;

    if let Some(path) = &args.trace {
        match bench.trace.borrow().as_ref() {
            Some(trace) => trace_file::write(path, trace)
                .with_context(|| format!("cannot write the trace to {}", path.display()))?,
            None => bail!(
                "the {} workload runs no shared runtime to trace",
                args.workload.name()
            ),
        }
    }
    if let (Some(path), Some(data)) = (&args.plot, &report.plot) {
        plot::draw(path, data)
            .with_context(|| format!("cannot draw the plot to {}", path.display()))?;
    }
    if args.json {
        println!("{}", json_of(args.workload, &report));
    } else {
        print!("{}", human(args.workload, &report));
    }
    Ok(())
}

/// The machine, as the JSON reports it.
fn machine() -> Value {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    json!({
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "cpu_model": cpu_model,
        "os": std::env::consts::OS,
    })
}

fn json_of(workload: Workload, report: &Report) -> String {
    let mut object = Map::new();
    object.insert("workload".into(), workload.name().into());
    object.insert("workers".into(), report.workers.into());
    object.insert("procs".into(), report.procs.into());
    object.insert("preempt".into(), report.preempt.clone().into());
    for (key, value, _) in &report.figures {
        object.insert(key.to_string(), value.clone());
    }
    object.insert("machine".into(), machine());
    object.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    Value::Object(object).to_string()
}

fn human(workload: Workload, report: &Report) -> String {
    use std::fmt::Write as _;
    let machine = machine();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "shoal bench {}: {} procs, {} workers, {} preemption; {} cores, {}; shoal {}",
        workload.name(),
        report.procs,
        report.workers,
        report.preempt,
        machine["cores"],
        machine["cpu_model"].as_str().unwrap_or("?"),
        env!("CARGO_PKG_VERSION"),
    );
    let width = report
        .figures
        .iter()
        .map(|(k, _, _)| k.len())
        .max()
        .unwrap_or(0);
    for (key, value, about) in &report.figures {
        let shown = match value {
            Value::Number(n) if n.is_f64() => format_float(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = writeln!(out, "  {key:<width$}  {shown:>14}  {about}");
    }
    out
}

/// Four significant digits, without exponent for everyday magnitudes.
fn format_float(x: f64) -> String {
    let magnitude = x.abs();
    if magnitude >= 1000.0 || magnitude == 0.0 {
        format!("{x:.0}")
    } else if magnitude >= 1.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.4}")
    }
}

/// The preemption mode's name, as the JSON reports it.
pub(crate) fn mode_name(preemption: &Preemption) -> String {
    preemption.name().to_owned()
}

/// Runs `main(arg)` of `module` as one process and times it from spawn to exit; the
/// process must end normally.
pub(crate) fn timed_run(
    runtime: &Runtime,
    module: &shoal::Module,
    arg: i64,
) -> anyhow::Result<(Duration, shoal::Exit)> {
    let start = std::time::Instant::now();
    let exit = runtime.spawn(module, "main", arg)?.wait();
    let elapsed = start.elapsed();
    anyhow::ensure!(exit.reason.is_normal(), "the guest ended {}", exit.reason);
    Ok((elapsed, exit))
}

/// The little-endian `i64` a benchmark guest sends as its 8-byte payload; `None` for a
/// payload of another length.
pub(crate) fn payload_i64(data: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(data.try_into().ok()?))
}

/// The median of `xs` (the upper one of an even count). Panics on an empty slice.
pub(crate) fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle_of_unsorted_values() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 3.0);
    }

    #[test]
    fn floats_print_with_four_significant_digits_or_as_integers() {
        assert_eq!(format_float(123456.7), "123457");
        assert_eq!(format_float(1.23456), "1.235");
        assert_eq!(format_float(0.99912), "0.9991");
    }
}
