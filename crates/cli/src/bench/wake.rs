//! `wake`: one guest sleeps 1 ms, over and over, amid N CPU-bound guests, and measures on
//! the runtime's clock how late each sleep ended. A wake-up that has to wait for the
//! spinners' quanta shows up here; one served ahead of them does not.
//!
//! The sleeper sends each lateness to a native collector process, which hands the
//! samples to this thread; percentiles come from an HDR histogram (µs resolution).

use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use shoal::SpawnOptions;

use super::plot::Data;
use super::{Bench, Report, guests};

/// Spinners by default.
const DEFAULT_PROCS: usize = 1_000;
/// Seconds of sleeping by default: about 3,000 samples.
const DEFAULT_SECS: f64 = 3.0;
/// The spinners run this long before the sleeper starts, so every one of them is
/// instantiated and competing.
const WARMUP: Duration = Duration::from_millis(500);
/// Lateness past which a sample counts as lost in the histogram's range (1 minute).
const MAX_LATENESS_US: u64 = 60_000_000;

pub(crate) fn run(bench: &Bench<'_>) -> anyhow::Result<Report> {
    let procs = bench.procs(DEFAULT_PROCS)?;
    let secs = bench.secs(DEFAULT_SECS)?;
    let samples = (secs * 1000.0).ceil() as u64;
    let runtime = bench.runtime(|b| b.capacity(procs + 2))?;
    let spinner = runtime.compile_wat(guests::SPINNER)?;
    let sleeper = runtime.compile_wat(guests::SLEEPER)?;
    for _ in 0..procs {
        runtime.spawn(&spinner, "main", 0)?;
    }
    bench.wait_secs(WARMUP.as_secs_f64(), "warm-up");

    let (tx, rx) = mpsc::channel::<i64>();
    let probe = sleeper.clone();
    let collector = runtime.spawn_native(SpawnOptions::new(), move |cx| async move {
        let Ok(sleeper) = cx.spawn(&probe, "main", 0) else {
            return 1;
        };
        if cx.send(sleeper.pid(), 0, samples.to_le_bytes()).is_err() {
            return 2;
        }
        for _ in 0..samples {
            match cx.receive(Some(1), Some(Duration::from_secs(60))).await {
                Some(msg) => match super::payload_i64(&msg.data) {
                    Some(late) => {
                        let _ = tx.send(late);
                    }
                    None => return 4,
                },
                None => return 3,
            }
        }
        0
    })?;

    let bar = bench.progress(samples, "sleeping");
    let mut lateness_us = Vec::with_capacity(samples as usize);
    while (lateness_us.len() as u64) < samples {
        match rx.recv_timeout(Duration::from_secs(90)) {
            Ok(ns) => {
                lateness_us.push(ns.max(0) as f64 / 1_000.0);
                bar.inc(1);
            }
            Err(_) => break,
        }
    }
    bar.finish_and_clear();
    let exit = collector.wait();
    runtime.shutdown(Duration::ZERO);
    bench.keep_trace(&runtime);
    if !matches!(exit.reason, shoal::ExitReason::Normal { code: 0 }) {
        bail!(
            "the wake collector ended {} after {} samples",
            exit.reason,
            lateness_us.len()
        );
    }

    let mut histogram =
        Histogram::<u64>::new_with_bounds(1, MAX_LATENESS_US, 3).context("histogram bounds")?;
    for &us in &lateness_us {
        histogram.saturating_record((us.round() as u64).max(1));
    }
    let mut report = Report::of(&runtime, procs);
    report.figure(
        "p50_us",
        histogram.value_at_quantile(0.50),
        "median lateness of a 1 ms sleep (µs)",
    );
    report.figure(
        "p99_us",
        histogram.value_at_quantile(0.99),
        "99th percentile (goal <= 2000 µs)",
    );
    report.figure("max_us", histogram.max(), "worst (µs)");
    report.figure("mean_us", histogram.mean(), "mean (µs)");
    report.figure("samples", lateness_us.len(), "sleeps measured");
    lateness_us.sort_by(f64::total_cmp);
    report.plot = Some(Data::Latencies(lateness_us));
    Ok(report)
}
