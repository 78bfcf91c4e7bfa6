//! `skynet`: the 10-ary spawn tree with 10^D leaves (1,000,000 by default). Every node is
//! a process; a leaf sends its number to its parent, every other node sums its ten
//! children's answers and sends the sum up. A native process spawns the root and
//! receives the total, which must be `n(n-1)/2` for `n = 10^D` leaves.
//!
//! Live processes are bounded by the runtime's capacity, itself bounded by the host's
//! memory-mapping budget (see BENCHMARKS.md). A node whose spawn is refused for capacity
//! walks that child's subtree itself rather than wait for a slot while holding one, so
//! the tree always completes; `spawned` says how many nodes ran as processes of their own.
//!
//! The baseline, measured after the tree: raw wasmtime instantiating the node module once
//! per node, on one thread per worker, running nothing. No runtime that gives every node
//! an instance of its own can finish the tree faster than that on this machine.

use std::time::Duration;

use anyhow::{bail, ensure};
use shoal::{ExitReason, SpawnOptions};

use super::{Bench, Report, guests, map_count, raw};

/// Depth by default: 10^6 leaves.
const DEFAULT_DEPTH: u32 = 6;
/// Deepest tree accepted: 10^8 leaves, past which the sum's check would need care and
/// the run would take minutes.
const MAX_DEPTH: u32 = 8;
/// Live processes at most, by default. Each live guest costs two memory mappings
/// (`shoal::MAPPINGS_PER_GUEST`), so this stays well inside Linux's default
/// `vm.max_map_count`; a larger `--procs` run as root raises the limit for the run.
const CAPACITY: usize = 10_000;
/// Instantiations the raw baseline times, at most; its rate is extrapolated to the tree.
const RAW_INSTANCES: usize = 200_000;
/// How long the collector waits for the root's answer.
const STUCK: Duration = Duration::from_secs(600);

pub(crate) fn run(bench: &Bench<'_>) -> anyhow::Result<Report> {
    let depth = bench.args.depth.unwrap_or(DEFAULT_DEPTH);
    ensure!(
        (1..=MAX_DEPTH).contains(&depth),
        "--depth must be between 1 and {MAX_DEPTH}"
    );
    let leaves = 10u64.pow(depth);
    let nodes = (10 * leaves - 1) / 9;
    let capacity = bench.args.procs.unwrap_or(CAPACITY);
    let raised = map_count::ensure_room_for(capacity);
    // As idle: a million one-page guests pass the default memory budget by design.
    let runtime = bench.runtime(|b| b.capacity(capacity).memory_budget(usize::MAX))?;
    let module = runtime.compile_wat(guests::SKYNET)?;
    let (tx, rx) = std::sync::mpsc::channel::<(u64, Duration)>();
    let collector = runtime.spawn_native(SpawnOptions::new(), move |cx| async move {
        let start = cx.now();
        if cx.spawn(&module, "main", i64::from(depth)).is_err() {
            return 1;
        }
        let Some(answer) = cx.receive(None, Some(STUCK)).await else {
            return 2;
        };
        let elapsed = cx.now() - start;
        let Some(sum) = super::payload_i64(&answer.data) else {
            return 3;
        };
        let _ = tx.send((sum as u64, elapsed));
        0
    })?;
    let bar = bench.progress(1, "skynet");
    let exit = collector.wait();
    bar.finish_and_clear();
    runtime.shutdown(Duration::from_secs(1));
    bench.keep_trace(&runtime);
    if exit.reason != (ExitReason::Normal { code: 0 }) {
        bail!("the skynet collector ended {}", exit.reason);
    }
    let (sum, elapsed) = rx.recv()?;
    ensure!(
        sum == leaves * (leaves - 1) / 2,
        "skynet summed to {sum}, not {}",
        leaves * (leaves - 1) / 2
    );
    let stats = runtime.stats();
    let mut report = Report::of(&runtime, nodes as usize);
    // After the run, so the two do not compete for the cores.
    let workers = runtime.workers();
    let raw_rate =
        raw::instantiate_rate(guests::SKYNET, (nodes as usize).min(RAW_INSTANCES), workers)?;
    let raw_s = nodes as f64 / raw_rate;
    report.figure(
        "elapsed_s",
        elapsed.as_secs_f64(),
        "from spawning the root to its answer (s)",
    );
    report.figure(
        "raw_instantiate_s",
        raw_s,
        "raw wasmtime instantiating the node module once per node on one thread per worker, nothing run (s, extrapolated)",
    );
    report.figure(
        "ratio_vs_raw_instantiate",
        elapsed.as_secs_f64() / raw_s,
        "elapsed / raw instantiation alone",
    );
    report.figure("sum", sum, "the total (checked)");
    report.figure("leaves", leaves, "10^depth");
    let spawned = stats.spawned.saturating_sub(1);
    report.figure("spawned", spawned, "tree nodes that ran as processes");
    report.figure(
        "inlined",
        nodes.saturating_sub(spawned),
        "tree nodes walked by their parent (capacity)",
    );
    report.figure("capacity", capacity, "live processes at most");
    if let Some(raised) = &raised {
        report.figure(
            "max_map_count_raised_to",
            raised.to,
            "vm.max_map_count during this run",
        );
    }
    report.figure(
        "spawns_per_s",
        nodes as f64 / elapsed.as_secs_f64(),
        "tree nodes per second",
    );
    Ok(report)
}
