//! `fair`: N CPU-bound guests that never yield, run for S seconds after a warm-up. The
//! CPU share of each is measured twice over the window: by the fuel it consumed, and by
//! the time it spent running on a worker. Shares are relative to the mean (1.0 = its fair
//! share); Jain's index sums them up (1.0 = perfectly even).
//!
//! With `--weights 1,2,4,8` the spinners get those weights in turn; every figure is then
//! divided by its process's weight first (so 1.0 is a share proportional to weight), and
//! the report adds, per weight, the fuel its processes got against their ideal.
//! `--groups 10000,10` puts the spinners in groups of those sizes (weight 1 each): the
//! ideal is then an equal share per group, and the report adds each group's.
//!
//! Fuel is metered in every mode here (it is the measure). The spinner calls a function
//! every iteration, so the fuel the runtime reads when it preempts is exact.
//!
//! With `--deterministic` (one worker, fuel quanta, a virtual clock) each spinner gets a
//! fuel budget instead of a wall-clock window, the run ends when all have spent it, and
//! the report carries the schedule hash: the same on every run.

use std::time::Duration;

use anyhow::{bail, ensure};
use shoal::{ExitReason, Pid, ProcessInfo, Runtime, SpawnOptions};

use super::plot::Data;
use super::{Bench, Report, guests, positive};
use crate::report::jain_index;

/// Spinners by default.
const DEFAULT_PROCS: usize = 1_000;
/// Measured window by default, seconds.
const DEFAULT_SECS: f64 = 3.0;
/// Warm-up by default, seconds: every spinner has been instantiated and run a while.
const DEFAULT_WARMUP_SECS: f64 = 1.0;
/// Deterministic mode: quanta each spinner runs before its fuel budget ends it.
const DETERMINISTIC_QUANTA: u64 = 20;

/// Fuel and running time of every process at one instant.
fn snapshot(runtime: &Runtime, pids: &[Pid]) -> anyhow::Result<Vec<(u64, Duration)>> {
    pids.iter()
        .map(|&pid| match runtime.process_info(pid) {
            Some(ProcessInfo { accounting, .. }) => Ok((accounting.fuel, accounting.running)),
            None => bail!("spinner {pid} exited during the measurement"),
        })
        .collect()
}

/// Shares relative to the mean.
fn shares(xs: &[f64]) -> Vec<f64> {
    let mean = xs.iter().sum::<f64>() / xs.len().max(1) as f64;
    xs.iter()
        .map(|x| if mean > 0.0 { x / mean } else { 1.0 })
        .collect()
}

fn min_max(xs: &[f64]) -> (f64, f64) {
    xs.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

pub(crate) fn run(bench: &Bench<'_>) -> anyhow::Result<Report> {
    let groups = &bench.args.groups;
    ensure!(
        groups.iter().all(|&n| n > 0),
        "--groups: every group needs at least one process"
    );
    let procs = if groups.is_empty() {
        bench.procs(DEFAULT_PROCS)?
    } else {
        groups.iter().sum()
    };
    if bench.args.deterministic {
        ensure!(
            groups.is_empty() && bench.args.weights.is_empty(),
            "--groups and --weights are measured over a window, which --deterministic does not have"
        );
        return deterministic(bench, procs);
    }
    let secs = bench.secs(DEFAULT_SECS)?;
    let warmup = positive(
        "--warmup-secs",
        bench.args.warmup_secs.unwrap_or(DEFAULT_WARMUP_SECS),
    )?;
    let runtime = bench.runtime(|b| b.fuel_metering(true).capacity(procs))?;
    let module = runtime.compile_wat(guests::SPINNER)?;
    let weights = weights_of(bench, procs)?;
    // The group of each spinner, as an index into `groups` (0 for all without).
    let member: Vec<usize> = if groups.is_empty() {
        vec![0; procs]
    } else {
        groups
            .iter()
            .enumerate()
            .flat_map(|(g, &n)| std::iter::repeat_n(g, n))
            .collect()
    };
    let ids = groups
        .iter()
        .map(|_| runtime.new_group(1))
        .collect::<Result<Vec<_>, _>>()?;
    let handles = weights
        .iter()
        .zip(&member)
        .map(|(&w, &g)| {
            let mut options = SpawnOptions::new().weight(w);
            if let Some(&id) = ids.get(g) {
                options = options.group(id);
            }
            runtime.spawn_with(&module, "main", 0, options)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let pids: Vec<Pid> = handles.iter().map(|h| h.pid()).collect();

    bench.wait_secs(warmup, "warm-up");
    let before = snapshot(&runtime, &pids)?;
    bench.wait_secs(secs / 2.0, "measuring");
    let mid = snapshot(&runtime, &pids)?;
    bench.wait_secs(secs / 2.0, "measuring");
    let after = snapshot(&runtime, &pids)?;
    runtime.shutdown(Duration::ZERO);
    bench.keep_trace(&runtime);

    let fuel: Vec<f64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| a.0.saturating_sub(b.0) as f64)
        .collect();
    let wall: Vec<f64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| a.1.saturating_sub(b.1).as_secs_f64())
        .collect();
    ensure!(
        fuel.iter().any(|&f| f > 0.0),
        "no spinner consumed fuel in the window"
    );
    let ideal = ideal_shares(&weights, &member);
    let mut report = report(&runtime, procs, (&fuel, &wall), &ideal, secs, None);
    slow_spinner_figures(&mut report, [&before, &mid, &after]);
    // With weights or groups, the plot is a bar for each against its ideal.
    let mut parts = Vec::new();
    if !bench.args.weights.is_empty() {
        let by_weight = parts_of(&fuel, &ideal, &weights);
        parts.extend(part_figures(&mut report, &WEIGHTS, by_weight, |w| {
            format!("weight {w}")
        }));
    }
    if !groups.is_empty() {
        let by_group = parts_of(&fuel, &ideal, &member);
        parts.extend(part_figures(&mut report, &GROUPS, by_group, |g| {
            format!("group {g} ({} procs)", groups[g])
        }));
    }
    if !parts.is_empty() {
        report.plot = Some(Data::Parts {
            parts,
            measure: "fuel",
        });
    }
    Ok(report)
}

/// A spinner whose speed (fuel per second on a worker) is below this part of the median
/// in both halves of the window is slow by itself, not short of time: the same code
/// run by another instance. Two thirds: the slow instances seen here run at 0.14 to 0.54
/// of the median (BENCHMARKS.md, "Fair by default"), nearly all others within 10% of it.
const SLOW_SPEED: f64 = 2.0 / 3.0;

/// Reports the spinners that ran slower than the rest in the time they got, in both
/// halves of the window (`slow_spinners`), and the slowest speed against the median
/// (`slowest_speed`): instances of one module whose speed differs for their whole life
/// show in the fuel shares whatever the scheduler does.
fn slow_spinner_figures(report: &mut Report, [start, mid, end]: [&[(u64, Duration)]; 3]) {
    let speeds = |from: &[(u64, Duration)], to: &[(u64, Duration)]| -> Vec<f64> {
        from.iter()
            .zip(to)
            .map(|(a, b)| {
                let ran = b.1.saturating_sub(a.1).as_secs_f64();
                if ran > 0.0 {
                    b.0.saturating_sub(a.0) as f64 / ran
                } else {
                    f64::NAN
                }
            })
            .collect()
    };
    let relative = |xs: Vec<f64>| -> Vec<f64> {
        let mut known: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        known.sort_by(f64::total_cmp);
        let median = known.get(known.len() / 2).copied().unwrap_or(f64::NAN);
        xs.into_iter().map(|x| x / median).collect()
    };
    let (first, second) = (relative(speeds(start, mid)), relative(speeds(mid, end)));
    let slow = first
        .iter()
        .zip(&second)
        .filter(|(a, b)| **a < SLOW_SPEED && **b < SLOW_SPEED)
        .count();
    let slowest = relative(speeds(start, end))
        .into_iter()
        .filter(|x| x.is_finite())
        .fold(f64::INFINITY, f64::min);
    report.figure(
        "slow_spinners",
        slow,
        "spinners below 2/3 of the median speed (fuel per second on a worker) in both halves of the window",
    );
    report.figure(
        "slowest_speed",
        slowest,
        "the slowest spinner's speed over the window / the median",
    );
}

/// Each spinner's ideal part of the CPU: an equal part per group, shared within the
/// group by weight.
fn ideal_shares(weights: &[u32], member: &[usize]) -> Vec<f64> {
    let groups = member.iter().max().map_or(1, |&g| g + 1);
    let mut group_weight = vec![0.0; groups];
    for (&w, &g) in weights.iter().zip(member) {
        group_weight[g] += f64::from(w);
    }
    weights
        .iter()
        .zip(member)
        .map(|(&w, &g)| f64::from(w) / group_weight[g] / groups as f64)
        .collect()
}

/// Each figure divided by its ideal share: what fairness by weight and group evens out.
fn relative(xs: &[f64], ideal: &[f64]) -> Vec<f64> {
    xs.iter().zip(ideal).map(|(x, i)| x / i).collect()
}

/// For each part (the spinners sharing a key), the fuel they got over the sum of their
/// ideal shares: 1.0 is exact. Parts in the keys' order.
fn parts_of<K: Copy + Ord>(fuel: &[f64], ideal: &[f64], keys: &[K]) -> Vec<(K, f64)> {
    let total: f64 = fuel.iter().sum();
    let mut distinct = keys.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    distinct
        .into_iter()
        .map(|key| {
            let (got, owed) = fuel
                .iter()
                .zip(ideal)
                .zip(keys)
                .filter(|&(_, &k)| k == key)
                .fold((0.0, 0.0), |(g, o), ((f, i), _)| (g + f, o + i));
            (key, got / total / owed)
        })
        .collect()
}

/// How one kind of part (weights, groups) is reported.
struct PartKind {
    /// Key of each part's figure, before its key: `weight` gives `weight_4_share`.
    prefix: &'static str,
    /// What one part's figure is.
    about: &'static str,
    /// Key and meaning of the largest error among the parts.
    worst: (&'static str, &'static str),
}

const WEIGHTS: PartKind = PartKind {
    prefix: "weight",
    about: "fuel of this weight's processes / their ideal share (1.0 is exact)",
    worst: (
        "weight_error_max",
        "largest |share / ideal - 1| over the weights (goal <= 0.03)",
    ),
};

const GROUPS: PartKind = PartKind {
    prefix: "group",
    about: "fuel of this group's processes / an equal share per group (1.0 is exact)",
    worst: (
        "group_error_max",
        "largest |share / ideal - 1| over the groups (goal <= 0.03)",
    ),
};

/// Per part (a weight's processes: their share of their groups by weight; a group's:
/// an equal share per group), the fuel they got against their ideal, and the largest
/// error among them. Returns the parts, named by `name`, for the plot.
fn part_figures<K: Copy + std::fmt::Display>(
    report: &mut Report,
    kind: &PartKind,
    parts: Vec<(K, f64)>,
    name: impl Fn(K) -> String,
) -> Vec<(String, f64)> {
    for &(key, ratio) in &parts {
        report.figure(format!("{}_{key}_share", kind.prefix), ratio, kind.about);
    }
    report.figure(kind.worst.0, worst_error(&parts), kind.worst.1);
    parts
        .into_iter()
        .map(|(key, ratio)| (name(key), ratio))
        .collect()
}

/// The largest `|ratio - 1|`.
fn worst_error<K>(parts: &[(K, f64)]) -> f64 {
    parts
        .iter()
        .map(|(_, r)| (r - 1.0).abs())
        .fold(0.0, f64::max)
}

/// The weight of each spinner: `--weights` given out in turn, or 1 for all.
fn weights_of(bench: &Bench<'_>, procs: usize) -> anyhow::Result<Vec<u32>> {
    let given = &bench.args.weights;
    if let Some(&w) = given
        .iter()
        .find(|&&w| !(1..=shoal::MAX_WEIGHT).contains(&w))
    {
        bail!("--weights: {w} is outside 1..={}", shoal::MAX_WEIGHT);
    }
    Ok((0..procs)
        .map(|i| {
            if given.is_empty() {
                1
            } else {
                given[i % given.len()]
            }
        })
        .collect())
}

/// The report over each spinner's `fuel` and `wall` time, with shares taken relative to
/// its `ideal` part of the CPU (all equal without weights or groups).
fn report(
    runtime: &Runtime,
    procs: usize,
    (fuel, wall): (&[f64], &[f64]),
    ideal: &[f64],
    secs: f64,
    schedule_hash: Option<u64>,
) -> Report {
    let busy: f64 = wall.iter().sum();
    let (fuel, wall) = (&relative(fuel, ideal), &relative(wall, ideal));
    let fuel_shares = shares(fuel);
    let wall_shares = shares(wall);
    let (min_share, max_share) = min_max(&fuel_shares);
    let (min_wall, max_wall) = min_max(&wall_shares);
    let mut report = Report::of(runtime, procs);
    report.figure(
        "jain_fuel",
        jain_index(fuel),
        "Jain's index over fuel per process (goal >= 0.999)",
    );
    report.figure(
        "jain_wall",
        jain_index(wall),
        "Jain's index over time on a worker (goal >= 0.999)",
    );
    report.figure(
        "min_share",
        min_share,
        "least fuel share / mean (goal >= 0.97)",
    );
    report.figure("max_share", max_share, "most fuel share / mean");
    report.figure("min_share_wall", min_wall, "least time share / mean");
    report.figure("max_share_wall", max_wall, "most time share / mean");
    report.figure(
        "secs",
        secs,
        "measured window (s; virtual in deterministic mode)",
    );
    report.figure(
        "worker_utilisation",
        busy / (secs * runtime.workers() as f64),
        "time on workers / (window x workers)",
    );
    if let Some(hash) = schedule_hash {
        report.figure(
            "schedule_hash",
            format!("{hash:016x}"),
            "hash of every scheduling decision",
        );
    }
    let mut sorted = fuel_shares;
    sorted.sort_by(f64::total_cmp);
    report.plot = Some(Data::Shares {
        shares: sorted,
        measure: "fuel",
    });
    report
}

/// One worker, fuel quanta, a virtual clock: each spinner runs until a fuel budget of
/// `DETERMINISTIC_QUANTA` quanta ends it; shares come from the exits.
fn deterministic(bench: &Bench<'_>, procs: usize) -> anyhow::Result<Report> {
    let runtime = bench.runtime(|b| b.capacity(procs))?;
    let quantum = runtime
        .preemption()
        .fuel_quantum()
        .expect("deterministic mode preempts by fuel");
    let module = runtime.compile_wat(guests::SPINNER)?;
    let budget = shoal::SpawnOptions::new().fuel_limit(quantum * DETERMINISTIC_QUANTA);
    let handles = (0..procs)
        .map(|_| runtime.spawn_with(&module, "main", 0, budget.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    runtime.start();
    let exits: Vec<_> = handles.iter().map(|h| h.wait()).collect();
    for exit in &exits {
        ensure!(
            exit.reason == ExitReason::OutOfFuel,
            "spinner {} ended {} instead of out_of_fuel",
            exit.pid,
            exit.reason
        );
    }
    bench.keep_trace(&runtime);
    let fuel: Vec<f64> = exits.iter().map(|e| e.accounting.fuel as f64).collect();
    let wall: Vec<f64> = exits
        .iter()
        .map(|e| e.accounting.running.as_secs_f64())
        .collect();
    let secs = exits
        .iter()
        .map(|e| e.accounting.running.as_secs_f64())
        .sum::<f64>();
    Ok(report(
        &runtime,
        procs,
        (&fuel, &wall),
        &vec![1.0; procs],
        secs,
        runtime.schedule_hash(),
    ))
}
