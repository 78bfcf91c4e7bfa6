//! Groups: CPU is shared between groups by weight first, then within each group.

use std::time::Duration;

use shoal_scheduler::{
    GroupId, MAX_WEIGHT, Pid, Preemption, Runtime, SpawnError, SpawnOptions, WeightError,
};

use crate::{Measure, SPIN, measure_over, runtime};

const QUANTUM: u64 = 10_000;

/// Spawns `n` spinners into `group`.
fn spinners(rt: &Runtime, n: usize, group: GroupId) -> Vec<Pid> {
    let m = rt.compile_wat(SPIN).unwrap();
    (0..n)
        .map(|_| {
            rt.spawn_with(&m, "main", 0, SpawnOptions::new().group(group))
                .unwrap()
                .pid()
        })
        .collect()
}

/// Each group's part of the fuel its processes consumed together over a window.
fn group_parts(rt: &Runtime, groups: &[Vec<Pid>], by_time: bool) -> Vec<f64> {
    let all: Vec<Pid> = groups.iter().flatten().copied().collect();
    let measure = if by_time {
        Measure::Running
    } else {
        Measure::Fuel
    };
    let fuel = measure_over(rt, &all, Duration::from_millis(400), measure);
    let mut at = 0;
    let sums: Vec<f64> = groups
        .iter()
        .map(|g| {
            let sum: f64 = fuel[at..at + g.len()].iter().sum();
            at += g.len();
            sum
        })
        .collect();
    let total: f64 = sums.iter().sum();
    sums.iter().map(|s| s / total).collect()
}

#[test]
fn a_group_of_forty_hogs_and_a_group_of_two_get_half_the_cpu_each() {
    for workers in [1, 2] {
        let rt = runtime(workers, Preemption::Fuel { quantum: QUANTUM });
        let many = rt.new_group(1).unwrap();
        let few = rt.new_group(1).unwrap();
        let groups = [spinners(&rt, 40, many), spinners(&rt, 2, few)];
        let parts = group_parts(&rt, &groups, false);
        // Without groups the two would get 2/42 = 5% of the CPU.
        assert!(
            (parts[1] - 0.5).abs() < 0.1,
            "{workers} workers: the group of two got {:.3}",
            parts[1]
        );
    }
}

#[test]
fn groups_share_by_weight_under_the_default_preemption() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let light = rt.new_group(1).unwrap();
    let heavy = rt.new_group(3).unwrap();
    let groups = [spinners(&rt, 3, light), spinners(&rt, 3, heavy)];
    let parts = group_parts(&rt, &groups, true);
    // Time slices on a shared machine: a wide tolerance around 3:1.
    let ratio = parts[1] / parts[0];
    assert!((2.0..4.5).contains(&ratio), "heavy/light = {ratio:.2}");
}

#[test]
fn a_process_without_a_group_stays_in_the_default_one() {
    let rt = runtime(1, Preemption::Fuel { quantum: QUANTUM });
    let other = rt.new_group(1).unwrap();
    let m = rt.compile_wat(SPIN).unwrap();
    let default: Vec<Pid> = (0..4)
        .map(|_| rt.spawn(&m, "main", 0).unwrap().pid())
        .collect();
    let parts = group_parts(&rt, &[default, spinners(&rt, 1, other)], false);
    assert!(
        (parts[1] - 0.5).abs() < 0.1,
        "the other group got {:.3}",
        parts[1]
    );
}

#[test]
fn an_unknown_group_and_a_bad_group_weight_are_refused() {
    let rt = runtime(1, Preemption::Fuel { quantum: QUANTUM });
    let elsewhere = runtime(1, Preemption::Fuel { quantum: QUANTUM });
    let foreign = elsewhere.new_group(1).unwrap();
    let m = rt.compile_wat(SPIN).unwrap();
    assert!(matches!(
        rt.spawn_with(&m, "main", 0, SpawnOptions::new().group(foreign)),
        Err(SpawnError::UnknownGroup(g)) if g == foreign
    ));
    assert_eq!(
        rt.new_group(0),
        Err(WeightError::OutOfRange {
            weight: 0,
            max: MAX_WEIGHT
        })
    );
    assert_eq!(
        rt.set_group_weight(foreign, 2),
        Err(WeightError::NoGroup(foreign))
    );
    assert_eq!(rt.set_group_weight(GroupId::DEFAULT, 2), Ok(()));
}
