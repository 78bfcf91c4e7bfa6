//! `spawn`: spawn N trivial processes that exit at once, and wait for all of them. Host
//! code spawns (the embedding case); the workers instantiate and run them. Live processes
//! are bounded by the runtime's capacity: a spawn refused for capacity waits for the
//! oldest outstanding process, then tries again. The raw-wasmtime figure, pooled
//! instantiate and call one after another on one thread, is measured in the same run.

use std::collections::VecDeque;
use std::time::Instant;

use anyhow::ensure;
use shoal::{DEFAULT_CAPACITY, SpawnError};

use super::{Bench, Report, guests, median, raw};

/// Spawns by default.
const DEFAULT_PROCS: usize = 100_000;
/// Spawns of the raw baseline: enough for a steady rate.
const RAW_SPAWNS: usize = 20_000;
/// Timed rounds; the median is reported.
const ROUNDS: usize = 3;

pub(crate) fn run(bench: &Bench<'_>) -> anyhow::Result<Report> {
    let procs = bench.procs(DEFAULT_PROCS)?;
    let capacity = procs.min(DEFAULT_CAPACITY);
    let runtime = bench.runtime(|b| b.capacity(capacity))?;
    let module = runtime.compile_wat(guests::TRIVIAL)?;
    // An untimed round first: the pool's pages and the queues are warm for the rest.
    let warm = bench.progress(capacity as u64, "warm-up");
    spawn_all(&runtime, &module, capacity, &warm)?;
    warm.finish_and_clear();
    let bar = bench.progress((ROUNDS * procs) as u64, "spawning");
    let mut rates = Vec::with_capacity(ROUNDS);
    let mut refused = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        refused += spawn_all(&runtime, &module, procs, &bar)?;
        rates.push(procs as f64 / start.elapsed().as_secs_f64());
    }
    bar.finish_and_clear();
    bench.keep_trace(&runtime);
    let rate = median(rates);
    let raw_rate = raw::spawn_rate(guests::TRIVIAL, RAW_SPAWNS)?;

    let mut report = Report::of(&runtime, procs);
    report.figure(
        "spawns_per_s",
        rate,
        "spawn + run + exit + join, per second",
    );
    report.figure(
        "raw_spawns_per_s",
        raw_rate,
        "raw wasmtime pooled instantiate + call, one thread",
    );
    report.figure("ratio_vs_raw", rate / raw_rate, "Shoal / raw");
    report.figure("rounds", ROUNDS, "median of this many rounds of N spawns");
    report.figure(
        "capacity_waits",
        refused,
        "spawns that waited for a slot, all rounds",
    );
    Ok(report)
}

/// Spawns `n` processes, each waited for in spawn order; returns the spawns that had to
/// wait for a slot.
fn spawn_all(
    runtime: &shoal::Runtime,
    module: &shoal::Module,
    n: usize,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<u64> {
    let mut outstanding: VecDeque<shoal::ProcessHandle> = VecDeque::new();
    let mut refused = 0u64;
    for _ in 0..n {
        let handle = loop {
            match runtime.spawn(module, "main", 0) {
                Ok(handle) => break handle,
                Err(SpawnError::Capacity { .. }) => {
                    refused += 1;
                    let oldest = outstanding.pop_front().expect("at capacity, some are out");
                    check(bar, oldest.wait())?;
                }
                Err(other) => return Err(other.into()),
            }
        };
        outstanding.push_back(handle);
    }
    for handle in outstanding {
        check(bar, handle.wait())?;
    }
    Ok(refused)
}

fn check(bar: &indicatif::ProgressBar, exit: shoal::Exit) -> anyhow::Result<()> {
    ensure!(
        exit.reason.is_normal(),
        "a trivial process ended {}",
        exit.reason
    );
    bar.inc(1);
    Ok(())
}
