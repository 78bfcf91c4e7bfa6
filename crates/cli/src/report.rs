//! Formatting a run's [`Outcome`]: a human summary, or one JSON object.
//!
//! Both are built from the same [`Report`], so the two can never disagree. Fairness is
//! Jain's index (Jain, Chiu and Hawe, 1984) over what each process got, with the least
//! and most any process got relative to the mean.

use std::fmt::Write as _;

use serde::Serialize;
use shoal::{Exit, ExitKind, ExitReason, Preemption};

use crate::run::{NodeShare, Outcome};

/// Trap and host-error exits the human summary lists one by one before it only counts.
const LISTED_FAILURES: usize = 5;

/// Jain's fairness index `(Σx)² / (n·Σx²)`: 1 when every `x` is equal, `1/n` when one
/// process got everything. An empty or all-zero sample counts as perfectly fair.
pub(crate) fn jain_index(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let sum_of_squares: f64 = xs.iter().map(|x| x * x).sum();
    if xs.is_empty() || sum_of_squares == 0.0 {
        return 1.0;
    }
    sum * sum / (xs.len() as f64 * sum_of_squares)
}

/// Exits counted by reason. Every key is always present in the JSON.
#[derive(Debug, Default, Serialize)]
struct ExitCounts {
    normal: usize,
    trap: usize,
    out_of_fuel: usize,
    deadline: usize,
    killed: usize,
    host_error: usize,
    noproc: usize,
    shutdown: usize,
    custom: usize,
    noconnection: usize,
    mailbox_overflow: usize,
}

impl ExitCounts {
    fn count(&mut self, reason: &ExitReason) {
        let counter = match reason.kind() {
            ExitKind::Normal => &mut self.normal,
            ExitKind::Trap => &mut self.trap,
            ExitKind::OutOfFuel => &mut self.out_of_fuel,
            ExitKind::Deadline => &mut self.deadline,
            ExitKind::Killed => &mut self.killed,
            ExitKind::HostError => &mut self.host_error,
            ExitKind::NoProc => &mut self.noproc,
            ExitKind::Shutdown => &mut self.shutdown,
            ExitKind::Custom => &mut self.custom,
            ExitKind::NoConnection => &mut self.noconnection,
            ExitKind::MailboxOverflow => &mut self.mailbox_overflow,
        };
        *counter += 1;
    }
}

/// How evenly one resource was shared among the processes.
#[derive(Debug, Serialize)]
pub(crate) struct Share {
    /// Jain's index.
    pub jain: f64,
    /// The smallest amount any process got, divided by the mean (1 if the mean is 0).
    pub min_over_mean: f64,
    /// The largest amount any process got, divided by the mean (1 if the mean is 0).
    pub max_over_mean: f64,
}

impl Share {
    /// The share of `xs`, unless all are zero (then there is nothing to compare).
    fn measured(xs: &[f64]) -> Option<Share> {
        xs.iter().any(|&x| x > 0.0).then(|| Share::of(xs))
    }

    pub(crate) fn of(xs: &[f64]) -> Share {
        let mean = if xs.is_empty() {
            0.0
        } else {
            xs.iter().sum::<f64>() / xs.len() as f64
        };
        let relative = |x: f64| if mean > 0.0 { x / mean } else { 1.0 };
        Share {
            jain: jain_index(xs),
            min_over_mean: relative(xs.iter().copied().fold(f64::INFINITY, f64::min)),
            max_over_mean: relative(xs.iter().copied().fold(0.0, f64::max)),
        }
    }
}

/// Fairness over running time and over fuel. `None` (JSON null) when nothing was
/// recorded: fuel without metering, running time when the clock did not move.
#[derive(Debug, Serialize)]
struct Fairness {
    /// Over every process the tool spawned. A mix whose processes want different
    /// amounts of CPU (the built-in one) is uneven here by design.
    running: Option<Share>,
    fuel: Option<Share>,
    /// Over the processes that contended for the workers: those that never yielded nor
    /// waited, and so wanted a worker the whole time they lived. This is the figure that
    /// says whether the scheduler shared the CPU evenly.
    contending: Contending,
}

/// Fairness among the processes that wanted a worker the whole time.
#[derive(Debug, Serialize)]
struct Contending {
    /// How many there were.
    processes: usize,
    /// Their shares; `None` with fewer than two (nothing to compare).
    running: Option<Share>,
    fuel: Option<Share>,
}

impl Contending {
    fn of(exits: &[Exit]) -> Contending {
        let contending = contending(exits);
        let measured = |xs: Vec<f64>| (xs.len() >= 2).then(|| Share::measured(&xs)).flatten();
        Contending {
            processes: contending.len(),
            running: measured(
                contending
                    .iter()
                    .map(|e| e.accounting.running.as_secs_f64())
                    .collect(),
            ),
            fuel: measured(
                contending
                    .iter()
                    .map(|e| e.accounting.fuel as f64)
                    .collect(),
            ),
        }
    }
}

/// One process, as the JSON lists it.
#[derive(Debug, Serialize)]
struct ProcessRow {
    /// Its pid, displayed (`<0.3.1>`).
    pid: String,
    /// The node it ran on (0 outside a cluster): the pid's first number.
    node: u16,
    /// The exit kind's name: `normal`, `trap`, `out_of_fuel`, `deadline`, `killed`,
    /// `host_error`, `noproc`, `shutdown`, `custom`, `noconnection` or `mailbox_overflow`.
    exit: &'static str,
    /// The exit code of a normal exit, else null.
    code: Option<i32>,
    /// Fuel consumed.
    fuel: u64,
    /// Quanta run.
    quanta: u64,
    /// Seconds spent running on a worker.
    running_s: f64,
    /// The trap code of a trap.
    #[serde(skip_serializing_if = "Option::is_none")]
    trap_code: Option<&'static str>,
    /// What went wrong, for a trap or a host error.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

impl ProcessRow {
    fn of(exit: &Exit) -> ProcessRow {
        let (code, trap_code, message) = match &exit.reason {
            ExitReason::Normal { code } => (Some(*code), None, None),
            ExitReason::Trap { code, message } => (None, Some(code.name()), Some(message.clone())),
            ExitReason::HostError { message } => (None, None, Some(message.clone())),
            _ => (None, None, None),
        };
        ProcessRow {
            pid: exit.pid.to_string(),
            node: exit.pid.node().get(),
            exit: exit.reason.kind().name(),
            code,
            fuel: exit.accounting.fuel,
            quanta: exit.accounting.quanta,
            running_s: exit.accounting.running.as_secs_f64(),
            trap_code,
            message,
        }
    }
}

/// Everything either format shows. Field names are the JSON's keys.
#[derive(Debug, Serialize)]
struct Report<'a> {
    /// The module's file, or `built-in guests::MIXED`.
    module: &'a str,
    /// The export every process ran.
    export: &'a str,
    /// Processes spawned by the tool.
    procs: usize,
    /// Processes the guests spawned themselves (not in `processes`).
    guest_spawned: u64,
    workers: usize,
    /// `fuel`, `epoch` or `hybrid`.
    preemption: &'static str,
    fuel_metering: bool,
    exits: ExitCounts,
    elapsed_s: f64,
    /// Fuel consumed by the tool's processes.
    total_fuel: u64,
    /// Quanta run by the tool's processes.
    quanta: u64,
    /// Quanta run by the whole runtime, guest-spawned processes included.
    runtime_quanta: u64,
    /// Maximum live processes.
    capacity: usize,
    /// Largest linear memory of a process, in bytes.
    max_memory: u64,
    /// How linear memories were laid out: `guarded` (no bounds checks) or `dense`.
    memories: &'static str,
    /// Largest table of a process, in elements.
    max_table_elements: u32,
    /// The runtime's memory budget, in bytes.
    memory_budget: usize,
    /// The most of it in use at once: process records, linear memory, queued messages,
    /// monitors and aliases.
    memory_peak: usize,
    fairness: Fairness,
    /// Hex, 16 digits; only in deterministic mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    schedule_hash: Option<String>,
    /// With `--spread`: each node's id, name and processes.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    nodes: &'a [NodeShare],
    processes: Vec<ProcessRow>,
}

impl<'a> Report<'a> {
    fn of(outcome: &'a Outcome) -> Report<'a> {
        let mut exits = ExitCounts::default();
        for exit in &outcome.exits {
            exits.count(&exit.reason);
        }
        let processes: Vec<ProcessRow> = outcome.exits.iter().map(ProcessRow::of).collect();
        let running: Vec<f64> = processes.iter().map(|p| p.running_s).collect();
        let fuel: Vec<f64> = processes.iter().map(|p| p.fuel as f64).collect();
        let procs = processes.len();
        Report {
            module: &outcome.source,
            export: &outcome.export,
            procs,
            guest_spawned: outcome.stats.spawned.saturating_sub(procs as u64),
            workers: outcome.workers,
            preemption: outcome.preemption.name(),
            fuel_metering: outcome.fuel_metering,
            exits,
            elapsed_s: outcome.elapsed.as_secs_f64(),
            total_fuel: processes.iter().map(|p| p.fuel).sum(),
            quanta: processes.iter().map(|p| p.quanta).sum(),
            runtime_quanta: outcome.stats.quanta,
            capacity: outcome.limits.capacity,
            max_memory: outcome.limits.max_memory,
            memories: outcome.memory_layout.name(),
            max_table_elements: outcome.limits.max_table_elements,
            memory_budget: outcome.stats.memory_budget,
            memory_peak: outcome.stats.memory_peak,
            fairness: Fairness {
                running: Share::measured(&running),
                fuel: Share::measured(&fuel),
                contending: Contending::of(&outcome.exits),
            },
            schedule_hash: outcome.schedule_hash.map(|h| format!("{h:016x}")),
            nodes: &outcome.nodes,
            processes,
        }
    }
}

/// Draws the CPU shares `--plot` asks for (its help says which processes).
pub(crate) fn plot(outcome: &Outcome, path: &std::path::Path) -> anyhow::Result<()> {
    let contending = contending(&outcome.exits);
    let chosen: Vec<&Exit> = if contending.len() >= 2 {
        contending
    } else {
        outcome.exits.iter().collect()
    };
    let running: Vec<f64> = chosen
        .iter()
        .map(|e| e.accounting.running.as_secs_f64())
        .collect();
    let mean = running.iter().sum::<f64>() / running.len().max(1) as f64;
    let mut shares: Vec<f64> = running
        .iter()
        .map(|r| if mean > 0.0 { r / mean } else { 1.0 })
        .collect();
    shares.sort_by(f64::total_cmp);
    crate::bench::plot::draw(
        path,
        &crate::bench::plot::Data::Shares {
            shares,
            measure: "running time",
        },
    )
}

/// The processes that never yielded nor waited: they wanted a worker the whole time.
fn contending(exits: &[Exit]) -> Vec<&Exit> {
    exits
        .iter()
        .filter(|e| e.accounting.voluntary_yields == 0 && e.accounting.waiting.is_zero())
        .collect()
}

/// The JSON report: one object, one line.
pub(crate) fn json(outcome: &Outcome) -> String {
    serde_json::to_string(&Report::of(outcome)).expect("a report always serializes")
}

/// The human summary, several lines.
pub(crate) fn human(outcome: &Outcome) -> String {
    let r = Report::of(outcome);
    let mut out = String::new();
    let e = &r.exits;
    let nonzero = r
        .processes
        .iter()
        .filter(|p| p.code.is_some_and(|c| c != 0))
        .count();
    let nonzero = if nonzero > 0 {
        format!(" ({nonzero} with a nonzero code)")
    } else {
        String::new()
    };
    let _ = writeln!(out, "module:    {}, export `{}`", r.module, r.export);
    if !r.nodes.is_empty() {
        let each: Vec<String> = r
            .nodes
            .iter()
            .map(|n| format!("{} {} ({})", n.node, n.name, n.procs))
            .collect();
        let _ = writeln!(
            out,
            "nodes:     {}, processes each: {}",
            counted(r.nodes.len(), "node", "nodes"),
            each.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "runtime:   {} on {}, {}{}",
        counted(r.procs, "process", "processes"),
        counted(r.workers, "worker", "workers"),
        describe(&outcome.preemption),
        if r.fuel_metering {
            ", fuel metered"
        } else {
            ""
        },
    );
    // Reasons only exit signals and a killing mailbox bound give; listed when there are any.
    let signalled = if e.noproc + e.shutdown + e.custom + e.noconnection + e.mailbox_overflow > 0 {
        format!(
            ", {} noproc, {} shutdown, {} custom, {} noconnection, {} mailbox_overflow",
            e.noproc, e.shutdown, e.custom, e.noconnection, e.mailbox_overflow
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "exits:     {} normal{nonzero}, {} trap, {} out_of_fuel, {} deadline, {} killed, {} host_error{signalled}",
        e.normal, e.trap, e.out_of_fuel, e.deadline, e.killed, e.host_error
    );
    let failures = outcome
        .exits
        .iter()
        .filter(|e| matches!(e.reason.kind(), ExitKind::Trap | ExitKind::HostError));
    for exit in failures.take(LISTED_FAILURES) {
        let _ = writeln!(out, "           {} {}", exit.pid, exit.reason);
    }
    if e.trap + e.host_error > LISTED_FAILURES {
        let _ = writeln!(out, "           ... (--json lists every process)");
    }
    if r.fuel_metering {
        let _ = writeln!(
            out,
            "fuel:      {} total, {} per process on average",
            thousands(r.total_fuel),
            thousands(r.total_fuel / r.procs.max(1) as u64)
        );
    } else {
        let _ = writeln!(
            out,
            "fuel:      not metered (not needed without fuel preemption or a fuel limit; --fuel-metering counts it, at 20-40% on loops)"
        );
    }
    let guest_spawned = if r.guest_spawned > 0 {
        format!(
            "; {} on the runtime, with the {} the guests spawned",
            thousands(r.runtime_quanta),
            counted(r.guest_spawned as usize, "process", "processes")
        )
    } else {
        String::new()
    };
    let _ = writeln!(out, "quanta:    {}{guest_spawned}", thousands(r.quanta));
    let _ = writeln!(out, "elapsed:   {:.3} s", r.elapsed_s);
    let _ = writeln!(
        out,
        "limits:    capacity {}, max memory {} per process ({} memories: {}), max table {} elements",
        thousands(r.capacity as u64),
        bytesize::ByteSize(r.max_memory).display().iec(),
        r.memories,
        if r.memories == shoal::MemoryLayout::Guarded.name() {
            "guard pages, no bounds checks"
        } else {
            "bounds-checked, for many processes"
        },
        thousands(u64::from(r.max_table_elements)),
    );
    let _ = writeln!(
        out,
        "memory:    at most {} of the budget of {} in use (records, linear memory, queued messages, monitors and aliases)",
        bytesize::ByteSize(r.memory_peak as u64).display().iec(),
        bytesize::ByteSize(r.memory_budget as u64).display().iec(),
    );
    let metered = r.fuel_metering;
    let share = |s: &Option<Share>| match s {
        Some(s) => format!(
            "Jain {:.3}, least {:.2}x and most {:.2}x the mean",
            s.jain, s.min_over_mean, s.max_over_mean
        ),
        None if !metered => "not metered".to_owned(),
        None => "not measured (zero for every process)".to_owned(),
    };
    let c = &r.fairness.contending;
    if c.processes >= 2 {
        let _ = writeln!(
            out,
            "fairness:  among the {} processes that wanted a worker the whole time (never yielded or waited):",
            thousands(c.processes as u64)
        );
        let _ = writeln!(out, "           running time: {}", share(&c.running));
        let _ = writeln!(out, "           fuel:         {}", share(&c.fuel));
        let _ = writeln!(
            out,
            "           (Jain's index is 1 for an even share and 1/n when one takes all; above 0.99 is fair)"
        );
    } else {
        let _ = writeln!(
            out,
            "fairness:  {} wanted a worker the whole time, so no share of contended CPU to judge",
            match c.processes {
                0 => "no process",
                _ => "only one process",
            }
        );
    }
    let _ = writeln!(
        out,
        "all:       running time: {}",
        share(&r.fairness.running)
    );
    let _ = writeln!(out, "           fuel:         {}", share(&r.fairness.fuel));
    let _ = writeln!(
        out,
        "           (every process, whatever it asked for: a mix of kinds is uneven here by design)"
    );
    if let Some(hash) = &r.schedule_hash {
        let _ = writeln!(out, "schedule:  hash {hash} (deterministic)");
    }
    out
}

fn describe(preemption: &Preemption) -> String {
    match *preemption {
        Preemption::Fuel { quantum } => format!("fuel preemption (quantum {})", thousands(quantum)),
        Preemption::Epoch { tick, slice_ticks } => {
            format!("epoch preemption (tick {tick:?}, slice {slice_ticks} ticks)")
        }
        Preemption::Adaptive {
            tick,
            min_tick,
            slice_ticks,
        } => format!(
            "adaptive preemption (tick {min_tick:?} to {tick:?} as processes multiply, slice {slice_ticks} ticks)"
        ),
        Preemption::Hybrid {
            quantum,
            tick,
            slice_ticks,
        } => format!(
            "hybrid preemption (quantum {}, tick {tick:?}, slice {slice_ticks} ticks)",
            thousands(quantum)
        ),
    }
}

/// `1 process`, `2 processes`.
fn counted(n: usize, one: &str, many: &str) -> String {
    format!(
        "{} {}",
        thousands(n as u64),
        if n == 1 { one } else { many }
    )
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_index_is_one_for_equal_shares() {
        assert_eq!(jain_index(&[3.0, 3.0, 3.0, 3.0]), 1.0);
    }

    #[test]
    fn jain_index_is_one_over_n_when_one_takes_all() {
        assert!((jain_index(&[10.0, 0.0, 0.0, 0.0]) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn jain_index_matches_the_formula() {
        // (1+2+3)² / (3·(1+4+9)) = 36/42
        assert!((jain_index(&[1.0, 2.0, 3.0]) - 36.0 / 42.0).abs() < 1e-12);
    }

    #[test]
    fn jain_index_of_nothing_is_fair() {
        assert_eq!(jain_index(&[]), 1.0);
        assert_eq!(jain_index(&[0.0, 0.0]), 1.0);
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn share_relates_extremes_to_the_mean() {
        let s = Share::of(&[1.0, 2.0, 3.0]);
        assert!((s.min_over_mean - 0.5).abs() < 1e-12);
        assert!((s.max_over_mean - 1.5).abs() < 1e-12);
    }
}
