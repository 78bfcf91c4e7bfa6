//! `yield`: the cost of one preemption round trip under the scheduler, against raw
//! wasmtime polling the same guest with the same fuel yield interval, in the same run.
//!
//! One process on one worker counts down a loop with a small fuel quantum, so the run is
//! almost all yields. Shoal's figure is the elapsed time over the process's preemptions;
//! the raw figure is the same over the times wasmtime returned `Pending` to a loop that
//! re-polls at once. The difference is the scheduler: run queue, state transitions,
//! accounting, the worker loop.

use shoal::Preemption;

use super::raw::{self, Instrumentation};
use super::{Bench, Report, guests, median, timed_run};

/// Fuel per quantum: small, so the yield dominates, but larger than one loop iteration
/// (about 3 fuel) so every quantum does some work.
const QUANTUM: u64 = 200;
/// Loop iterations: about 30,000 yields, a few milliseconds each way.
const ITERATIONS: i64 = 2_000_000;
/// Rounds, alternating Shoal and raw; the medians are reported.
const ROUNDS: usize = 7;

pub(crate) fn run(bench: &Bench<'_>) -> anyhow::Result<Report> {
    let quantum = bench.args.preemption.fuel_quantum.unwrap_or(QUANTUM);
    let runtime = bench.runtime(|b| b.workers(1).preemption(Preemption::Fuel { quantum }))?;
    let module = runtime.compile_wat(guests::LOOP)?;
    let bar = bench.progress(ROUNDS as u64, "yield");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (elapsed, exit) = timed_run(&runtime, &module, ITERATIONS)?;
        ours.push(elapsed.as_nanos() as f64 / exit.accounting.preemptions.max(1) as f64);

        let (elapsed, yields) =
            raw::run_loop(guests::LOOP, ITERATIONS, Instrumentation::Fuel { quantum })?;
        theirs.push(elapsed.as_nanos() as f64 / yields.max(1) as f64);
        bar.inc(1);
    }
    bar.finish_and_clear();
    bench.keep_trace(&runtime);
    let (ours, theirs) = (median(ours), median(theirs));
    let mut report = Report {
        procs: 1,
        workers: 1,
        preempt: format!("fuel (quantum {quantum})"),
        ..Report::default()
    };
    report.figure(
        "ns_per_yield",
        ours,
        "ns per preemption round trip under Shoal",
    );
    report.figure(
        "raw_ns_per_yield",
        theirs,
        "ns per yield, raw wasmtime, same quantum",
    );
    report.figure("ratio", ours / theirs, "Shoal / raw (goal: within 1.3)");
    report.figure("rounds", ROUNDS, "medians of this many rounds");
    Ok(report)
}
