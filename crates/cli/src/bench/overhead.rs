//! `overhead`: a CPU-bound guest under Shoal in each preemption mode, against the same
//! guest in a bare wasmtime store with the same instrumentation (what Shoal adds), and
//! with none (what the instrumentation itself costs), all in the same run.
//!
//! Adaptive preemption, the default, is compared with fixed epochs: with one process its
//! tick is the fixed one, so the two should cost the same.
//!
//! One process, one worker, a three-instruction loop: the worst case for instrumentation,
//! since every loop header pays a fuel or epoch check. Modes use the runtime's default
//! quantum, tick and slice unless the options override them.

use std::time::Duration;

use shoal::{
    DEFAULT_EPOCH_TICK, DEFAULT_FUEL_QUANTUM, DEFAULT_MIN_TICK, DEFAULT_SLICE_TICKS, Preemption,
};

use super::raw::{self, Instrumentation};
use super::{Bench, Report, guests, median, timed_run};

/// Loop iterations: 0.1–0.3 s per run, long enough that start-up costs vanish.
const ITERATIONS: i64 = 300_000_000;
/// Rounds of every variant, interleaved; medians are reported.
const ROUNDS: usize = 5;

fn shoal_secs(bench: &Bench<'_>, preemption: Preemption) -> anyhow::Result<Duration> {
    let runtime = bench.runtime(|b| b.workers(1).preemption(preemption))?;
    let module = runtime.compile_wat(guests::LOOP)?;
    Ok(timed_run(&runtime, &module, ITERATIONS)?.0)
}

pub(crate) fn run(bench: &Bench<'_>) -> anyhow::Result<Report> {
    let opts = &bench.args.preemption;
    let quantum = opts.fuel_quantum.unwrap_or(DEFAULT_FUEL_QUANTUM);
    let tick = opts
        .epoch_tick_us
        .map_or(DEFAULT_EPOCH_TICK, Duration::from_micros);
    let slice_ticks = opts.slice_ticks.unwrap_or(DEFAULT_SLICE_TICKS);
    let modes = [
        (
            Preemption::Epoch { tick, slice_ticks },
            Instrumentation::Epoch { tick, slice_ticks },
        ),
        (
            Preemption::Fuel { quantum },
            Instrumentation::Fuel { quantum },
        ),
        (
            Preemption::Hybrid {
                quantum,
                tick,
                slice_ticks,
            },
            Instrumentation::Hybrid {
                quantum,
                tick,
                slice_ticks,
            },
        ),
        (
            Preemption::Adaptive {
                tick,
                min_tick: opts
                    .min_tick_us
                    .map_or(DEFAULT_MIN_TICK, Duration::from_micros),
                slice_ticks,
            },
            Instrumentation::Epoch { tick, slice_ticks },
        ),
    ];
    let bar = bench.progress((ROUNDS * (2 * modes.len() + 1)) as u64, "overhead");
    let mut bare = Vec::new();
    let mut ours = vec![Vec::new(); modes.len()];
    let mut raw_same = vec![Vec::new(); modes.len()];
    for _ in 0..ROUNDS {
        bare.push(
            raw::run_loop(guests::LOOP, ITERATIONS, Instrumentation::None)?
                .0
                .as_secs_f64(),
        );
        bar.inc(1);
        for (i, (preemption, instrumentation)) in modes.iter().enumerate() {
            ours[i].push(shoal_secs(bench, *preemption)?.as_secs_f64());
            raw_same[i].push(
                raw::run_loop(guests::LOOP, ITERATIONS, *instrumentation)?
                    .0
                    .as_secs_f64(),
            );
            bar.inc(2);
        }
    }
    bar.finish_and_clear();
    let bare = median(bare);
    let ours: Vec<f64> = ours.into_iter().map(median).collect();
    let raw_same: Vec<f64> = raw_same.into_iter().map(median).collect();

    let mut report = Report {
        procs: 1,
        workers: 1,
        preempt: "epoch, fuel, hybrid, adaptive".to_owned(),
        ..Report::default()
    };
    report.figure(
        "ratio_vs_raw_epoch",
        ours[0] / raw_same[0],
        "Shoal epoch / raw wasmtime epoch (goal: <= 1.03)",
    );
    report.figure(
        "ratio_vs_raw_fuel",
        ours[1] / raw_same[1],
        "Shoal fuel / raw wasmtime fuel (goal: <= 1.03)",
    );
    report.figure(
        "ratio_vs_raw_hybrid",
        ours[2] / raw_same[2],
        "Shoal hybrid / raw wasmtime fuel+epoch",
    );
    report.figure(
        "ratio_adaptive_vs_epoch",
        ours[3] / ours[0],
        "Shoal adaptive (the default) / Shoal epoch (goal: <= 1.03)",
    );
    report.figure(
        "ratio_vs_uninstrumented",
        ours[3] / bare,
        "Shoal default (adaptive) / raw, no instrumentation",
    );
    report.figure(
        "ratio_fuel_vs_uninstrumented",
        ours[1] / bare,
        "Shoal fuel / raw, no instrumentation",
    );
    report.figure(
        "ratio_hybrid_vs_uninstrumented",
        ours[2] / bare,
        "Shoal hybrid / raw, no instrumentation",
    );
    report.figure(
        "uninstrumented_s",
        bare,
        "raw wasmtime, no fuel, no epochs (s)",
    );
    report.figure("shoal_epoch_s", ours[0], "Shoal, epoch (s)");
    report.figure("shoal_adaptive_s", ours[3], "Shoal, adaptive (s)");
    report.figure("raw_epoch_s", raw_same[0], "raw wasmtime, epoch (s)");
    report.figure("shoal_fuel_s", ours[1], "Shoal, fuel (s)");
    report.figure("raw_fuel_s", raw_same[1], "raw wasmtime, fuel (s)");
    report.figure("shoal_hybrid_s", ours[2], "Shoal, hybrid (s)");
    report.figure(
        "raw_hybrid_s",
        raw_same[2],
        "raw wasmtime, fuel + epoch (s)",
    );
    report.figure("iterations", ITERATIONS, "loop iterations per run");
    Ok(report)
}
