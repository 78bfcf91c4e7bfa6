//! `idle`: N processes blocked in receive. Reports the resident memory each one costs
//! (the process's RSS after minus before, over N) and the memory mappings each adds,
//! which is what bounds live processes under Linux's `vm.max_map_count`.

use std::time::Duration;

use anyhow::ensure;
use shoal::{State, WaitReason};

use super::{Bench, Report, guests};

/// Idle processes by default.
const DEFAULT_PROCS: usize = 10_000;
/// Processes spawned and ended first, so first-use costs (code, pool pages, queues) are
/// not charged to the measured ones.
const WARM: usize = 100;
/// Linux's page size for `/proc/self/statm`.
const PAGE: u64 = 4096;

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0)
        * PAGE
}

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |s| s.lines().count())
}

pub(crate) fn run(bench: &Bench<'_>) -> anyhow::Result<Report> {
    let procs = bench.procs(DEFAULT_PROCS)?;
    let runtime = bench.runtime(|b| b.capacity(procs.max(WARM)))?;
    let module = runtime.compile_wat(guests::IDLE)?;
    let warm = (0..WARM)
        .map(|_| runtime.spawn(&module, "main", 0))
        .collect::<Result<Vec<_>, _>>()?;
    for handle in &warm {
        runtime.send(handle.pid(), 0, [])?;
        handle.wait();
    }

    let (rss0, maps0) = (rss_bytes(), mappings());
    let bar = bench.progress(procs as u64, "spawning");
    let mut handles = Vec::with_capacity(procs);
    for _ in 0..procs {
        handles.push(runtime.spawn(&module, "main", 0)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let waiting = State::Waiting(WaitReason::Receive);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let alive = loop {
        let alive = handles
            .iter()
            .filter(|h| {
                runtime
                    .process_info(h.pid())
                    .is_some_and(|i| i.state == waiting)
            })
            .count();
        if alive == procs || std::time::Instant::now() > deadline {
            break alive;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (rss1, maps1) = (rss_bytes(), mappings());

    for handle in &handles {
        runtime.send(handle.pid(), 0, [])?;
    }
    for handle in handles {
        let exit = handle.wait();
        ensure!(
            exit.reason.is_normal(),
            "an idle process ended {}",
            exit.reason
        );
    }
    bench.keep_trace(&runtime);

    let mut report = Report::of(&runtime, procs);
    report.figure(
        "rss_bytes_per_proc",
        rss1.saturating_sub(rss0) as f64 / procs as f64,
        "resident bytes per idle process",
    );
    report.figure("procs_alive", alive, "processes found blocked in receive");
    report.figure(
        "mappings_per_proc",
        (maps1 as f64 - maps0 as f64) / procs as f64,
        "memory mappings added per process",
    );
    report.figure(
        "rss_bytes_total",
        rss1,
        "resident bytes of this process, all idle",
    );
    Ok(report)
}
