//! `spawn`: spawn N trivial processes that exit at once, and wait for all of them. Host
//! code spawns (the embedding case); the workers instantiate and run them. Live processes
//! are bounded by the runtime's capacity: a spawn refused for capacity reaps the oldest
//! quarter of the outstanding processes (all joined, in spawn order), then tries again.
//! The raw-wasmtime figures, pooled instantiate and call one after another on one
//! thread, and the same on one thread per worker (how far the machine lets instantiation
//! scale), are measured in the same run.

use std::collections::VecDeque;
use std::time::Instant;

use anyhow::ensure;
use shoal::{DEFAULT_CAPACITY, SpawnError};

use super::{Bench, Report, guests, median, raw};

/// Spawns by default.
const DEFAULT_PROCS: usize = 100_000;
/// Spawns of the raw baseline: enough for a steady rate.
const RAW_SPAWNS: usize = 20_000;
/// At capacity, the host spawner reaps this fraction (1/N) of its outstanding processes
/// before it spawns again.
const REAP_FRACTION: usize = 4;
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
    let raw_rate = raw::spawn_rate(guests::TRIVIAL, RAW_SPAWNS, 1)?;
    // The same on as many threads as the runtime has workers: what the machine allows
    // parallel instantiation to scale to.
    let workers = runtime.workers();
    let raw_parallel = raw::spawn_rate(guests::TRIVIAL, RAW_SPAWNS * workers, workers)?;
    // Spawns from guests, each on a runtime of its own (the first one idles meanwhile).
    let guest_rate = guest_spawn_rate(bench, None, procs)?;
    let guest_rate_one = guest_spawn_rate(bench, Some(1), procs)?;

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
    report.figure(
        "raw_spawns_per_s_parallel",
        raw_parallel,
        "raw wasmtime on one thread per worker, each its own stores",
    );
    report.figure(
        "ratio_vs_raw_parallel",
        rate / raw_parallel,
        "Shoal / raw on one thread per worker",
    );
    report.figure(
        "guest_spawns_per_s",
        guest_rate,
        "spawns by 100 guests at once, each spawning N/100 children",
    );
    report.figure(
        "guest_spawns_per_s_one_worker",
        guest_rate_one,
        "the same on one worker",
    );
    report.figure(
        "guest_spawn_scaling",
        guest_rate / guest_rate_one,
        "guest spawns: all workers / one worker",
    );
    report.figure(
        "raw_spawn_scaling",
        raw_parallel / raw_rate,
        "raw wasmtime: one thread per worker / one thread",
    );
    report.figure("rounds", ROUNDS, "median of this many rounds of N spawns");
    report.figure(
        "capacity_waits",
        refused,
        "spawns that waited for a slot, all rounds",
    );
    Ok(report)
}

/// Guests that spawn at once: enough to keep every worker spawning.
const SPAWNERS: usize = 100;

/// Spawns per second when [`SPAWNERS`] guests spawn `total` children between them, on the
/// bench's workers (or `workers`), median of [`ROUNDS`]: from the first spawner's spawn
/// until every child has exited.
fn guest_spawn_rate(
    bench: &Bench<'_>,
    workers: Option<usize>,
    total: usize,
) -> anyhow::Result<f64> {
    let runtime = bench.runtime(|b| match workers {
        Some(n) => b.workers(n).capacity(DEFAULT_CAPACITY),
        None => b.capacity(DEFAULT_CAPACITY),
    })?;
    let module = runtime.compile_wat(guests::SPAWNER)?;
    let each = (total / SPAWNERS).max(1);
    let mut rates = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let spawners = (0..SPAWNERS)
            .map(|_| runtime.spawn(&module, "main", each as i64))
            .collect::<Result<Vec<_>, _>>()?;
        for spawner in spawners {
            let exit = spawner.wait();
            ensure!(exit.reason.is_normal(), "a spawner ended {}", exit.reason);
        }
        while runtime.stats().live > 0 {
            std::thread::yield_now();
        }
        rates.push((SPAWNERS * each) as f64 / start.elapsed().as_secs_f64());
    }
    Ok(median(rates))
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
                    // Reap the oldest quarter, blocking once, on the youngest of them:
                    // waiting on each in turn would put this thread to sleep and wake it
                    // once per exit, a cost of the spawner rather than of spawns.
                    let batch = (outstanding.len() / REAP_FRACTION).max(1);
                    outstanding
                        .get(batch - 1)
                        .expect("at capacity, some are out")
                        .wait();
                    for oldest in outstanding.drain(..batch) {
                        check(bar, oldest.wait())?;
                    }
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
