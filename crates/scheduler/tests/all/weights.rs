//! Weights: CPU-bound processes get CPU in proportion to their weights.

use std::time::Duration;

use shoal_scheduler::{
    MAX_WEIGHT, Pid, Preemption, Runtime, SpawnError, SpawnOptions, WeightError,
};

use crate::{Measure, SPIN, epoch, exit_of, measure_over, runtime};

const QUANTUM: u64 = 10_000;

/// The fuel each of `pids` consumed over `window`, after a warm-up.
fn fuel_over(rt: &Runtime, pids: &[Pid], window: Duration) -> Vec<f64> {
    measure_over(rt, pids, window, Measure::Fuel)
}

/// Spawns `per_weight` spinners of each weight in `weights` and returns, per weight, the
/// mean fuel of one of its processes over the window divided by the weight, relative to
/// the mean of those figures: 1.0 everywhere is a share exactly proportional to weight.
fn shares_per_unit_weight(
    rt: &Runtime,
    weights: &[u32],
    per_weight: usize,
    measure: Measure,
) -> Vec<f64> {
    let m = rt.compile_wat(SPIN).unwrap();
    let mut pids = Vec::new();
    for &w in weights {
        for _ in 0..per_weight {
            let options = SpawnOptions::new().weight(w);
            pids.push(rt.spawn_with(&m, "main", 0, options).unwrap().pid());
        }
    }
    let fuel = measure_over(rt, &pids, Duration::from_millis(400), measure);
    let per_unit: Vec<f64> = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let group = &fuel[i * per_weight..(i + 1) * per_weight];
            group.iter().sum::<f64>() / per_weight as f64 / f64::from(w)
        })
        .collect();
    let mean = per_unit.iter().sum::<f64>() / per_unit.len() as f64;
    per_unit.iter().map(|x| x / mean).collect()
}

fn assert_within(shares: &[f64], tolerance: f64) {
    for (i, s) in shares.iter().enumerate() {
        assert!(
            (s - 1.0).abs() <= tolerance,
            "share per unit of weight {i}: {s:.3} (all: {shares:.3?})"
        );
    }
}

#[test]
fn fuel_quanta_share_one_worker_in_proportion_to_weights_1_2_4_8() {
    let rt = runtime(1, Preemption::Fuel { quantum: QUANTUM });
    // One worker runs weighted round-robin exactly: the error is one round at most.
    assert_within(
        &shares_per_unit_weight(&rt, &[1, 2, 4, 8], 2, Measure::Fuel),
        0.05,
    );
}

#[test]
fn fuel_quanta_share_two_workers_in_proportion_to_weights_1_2_4_8() {
    let rt = runtime(2, Preemption::Fuel { quantum: QUANTUM });
    // Two noisy cores: a worker descheduled mid-turn skews a window a little.
    assert_within(
        &shares_per_unit_weight(&rt, &[1, 2, 4, 8], 10, Measure::Fuel),
        0.15,
    );
}

#[test]
fn epoch_slices_share_a_worker_in_proportion_to_weights() {
    let rt = runtime(1, epoch());
    // Wall-clock slices on a shared machine: a wide tolerance, but 1:3 is far from 1:1.
    assert_within(
        &shares_per_unit_weight(&rt, &[1, 3], 1, Measure::Running),
        0.25,
    );
}

#[test]
fn set_weight_changes_a_running_process_share() {
    let rt = runtime(1, Preemption::Fuel { quantum: QUANTUM });
    let m = rt.compile_wat(SPIN).unwrap();
    let a = rt.spawn(&m, "main", 0).unwrap().pid();
    let b = rt.spawn(&m, "main", 0).unwrap().pid();
    let even = fuel_over(&rt, &[a, b], Duration::from_millis(200));
    assert!((even[0] / even[1] - 1.0).abs() < 0.05, "{even:?}");
    rt.set_weight(b, 3).unwrap();
    let weighted = fuel_over(&rt, &[a, b], Duration::from_millis(200));
    let ratio = weighted[1] / weighted[0];
    assert!(
        (ratio - 3.0).abs() < 0.15,
        "b/a = {ratio:.3} after weight 3"
    );
}

#[test]
fn a_weight_outside_one_to_max_is_refused_at_spawn_and_at_set_weight() {
    let rt = runtime(1, Preemption::Fuel { quantum: QUANTUM });
    let m = rt.compile_wat(SPIN).unwrap();
    for bad in [0, MAX_WEIGHT + 1] {
        match rt.spawn_with(&m, "main", 0, SpawnOptions::new().weight(bad)) {
            Err(SpawnError::Config { setting, .. }) => assert_eq!(setting, "weight"),
            other => panic!("weight {bad}: {:?}", other.map(|h| h.pid())),
        }
    }
    let h = rt
        .spawn_with(&m, "main", 0, SpawnOptions::new().weight(MAX_WEIGHT))
        .unwrap();
    assert_eq!(
        rt.set_weight(h.pid(), 0),
        Err(WeightError::OutOfRange {
            weight: 0,
            max: MAX_WEIGHT
        })
    );
    h.kill();
    let exit = exit_of(&h);
    assert_eq!(
        rt.set_weight(exit.pid, 2),
        Err(WeightError::NoProc(shoal_scheduler::NoProc(exit.pid)))
    );
}
