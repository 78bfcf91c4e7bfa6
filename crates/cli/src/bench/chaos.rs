//! `shoal bench chaos`: a soak of supervision trees under random kills.
//!
//! A one-for-one top supervisor holds `--procs / 10` supervisors of random strategy, each
//! over 10 permanent guests blocked in receive. For `--secs`, the host deals blows at
//! random: a kill or an exit signal with a custom reason, one in ten at a supervisor
//! (whose guests go down through their links). Then the tree must settle (every
//! supervisor back, every guest alive), the top supervisor is shut down, and the run
//! counts what is left: live processes, memory-budget charges, registered names, guests
//! that never exited, relations and timers held (`Runtime::held`, also once the tree
//! has settled, when each process should hold only the link with its supervisor), and
//! resident memory against its level before the tree was built.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::ensure;
use parking_lot::Mutex;
use shoal::{
    ChildSpec, ExitReason, NativeContext, Pid, ProcessHandle, Restart, SignalReason, Strategy,
    Supervisor,
};

use super::idle::{rss_anon_bytes, rss_bytes};
use super::{Bench, Report};
use crate::fuzz::splitmix;

/// Guests by default: 1,000 supervisors of 10.
const DEFAULT_PROCS: usize = 10_000;
const GUESTS_PER_SUPERVISOR: usize = 10;
const DEFAULT_SECS: f64 = 10.0;
/// How long the tree may take to settle, or a supervisor to answer, before the run is
/// called stuck.
const STUCK: Duration = Duration::from_secs(60);
/// Time allowed after teardown for the allocator to return freed memory.
const SETTLE: Duration = Duration::from_millis(500);
/// Blows between two readings of the top supervisor's children (a blow at a pid that
/// went meanwhile lands nowhere and is counted as such).
const REFRESH_EVERY: usize = 64;

/// Waits forever in receive: it ends only by a blow or a shutdown.
const GUEST: &str = r#"(module
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (func (export "main") (drop (call $receive (i64.const -1)))))"#;

pub(crate) fn run(bench: &Bench<'_>) -> anyhow::Result<Report> {
    let procs = bench.procs(DEFAULT_PROCS)?;
    let secs = bench.secs(DEFAULT_SECS)?;
    let supervisors = procs.div_ceil(GUESTS_PER_SUPERVISOR);
    let capacity = (supervisors * (GUESTS_PER_SUPERVISOR + 1) + 16) * 2;
    let rt = bench.runtime(|b| b.capacity(capacity))?;
    let module = rt.compile_wat(GUEST)?;
    let (rss_baseline, anon_baseline) = (rss_bytes(), rss_anon_bytes());

    let started: Arc<Mutex<Vec<ProcessHandle>>> = Arc::default();
    let mut rng = 0x5eed_u64;
    // Restarts come by the thousand: an intensity the chaos never reaches.
    let (max_restarts, period) = (u32::MAX, Duration::from_secs(1));
    let mut tree = Supervisor::builder(Strategy::OneForOne).intensity(max_restarts, period);
    for s in 0..supervisors {
        let strategy = match splitmix(&mut rng) % 3 {
            0 => Strategy::OneForOne,
            1 => Strategy::OneForAll,
            _ => Strategy::RestForOne,
        };
        let mut inner = Supervisor::builder(strategy).intensity(max_restarts, period);
        for g in 0..GUESTS_PER_SUPERVISOR {
            let (module, started) = (module.clone(), started.clone());
            inner = inner.child(ChildSpec::new(
                format!("g{g}"),
                Restart::Permanent,
                move |cx: &NativeContext| {
                    let handle = cx.spawn_link(&module, "main", 0)?;
                    started.lock().push(handle.clone());
                    Ok(handle.pid())
                },
            ));
        }
        tree = tree.child(ChildSpec::supervisor(
            format!("s{s}"),
            Restart::Permanent,
            inner,
        ));
    }
    let top = tree.start(&rt)?;
    // The running supervisors hold what they need; the builder would keep every child's
    // start function (and what it captured) alive to the end of the run.
    drop(tree);
    let ask = |sup: Pid| Supervisor::which_children_wait(&rt, sup, STUCK);
    let inner_pids = || -> anyhow::Result<Vec<Pid>> {
        Ok(ask(top.pid())?.iter().filter_map(|c| c.pid).collect())
    };
    let initial = supervisors * GUESTS_PER_SUPERVISOR;
    super::wait_until(STUCK, "the tree to start", || {
        started.lock().len() >= initial
    })?;
    let rss_tree = rss_bytes();

    // The chaos.
    let start = Instant::now();
    let (mut blows, mut landed) = (0usize, 0usize);
    let mut inner = inner_pids()?;
    let bar = bench.progress((secs * 1000.0) as u64, "chaos");
    while start.elapsed().as_secs_f64() < secs {
        if blows % REFRESH_EVERY == 0 {
            inner = inner_pids()?;
        }
        blows += 1;
        let sup = inner[(splitmix(&mut rng) % inner.len() as u64) as usize];
        let victim = if splitmix(&mut rng).is_multiple_of(10) {
            Some(sup)
        } else {
            ask(sup)
                .ok()
                .filter(|c| !c.is_empty())
                .and_then(|c| c[(splitmix(&mut rng) % c.len() as u64) as usize].pid)
        };
        let Some(victim) = victim else { continue };
        let reason = if splitmix(&mut rng).is_multiple_of(2) {
            SignalReason::Kill
        } else {
            SignalReason::Reason(ExitReason::Custom {
                code: 9,
                data: b"chaos".to_vec(),
            })
        };
        landed += usize::from(rt.exit(victim, reason).is_ok());
        bar.set_position(start.elapsed().as_millis() as u64);
    }
    let chaos_secs = start.elapsed().as_secs_f64();
    bar.finish_and_clear();

    // The tree settles: every supervisor back, every guest alive and distinct.
    let mut running = HashSet::new();
    super::wait_until(STUCK, "the tree to settle", || {
        running.clear();
        let Ok(inner) = inner_pids() else {
            return false;
        };
        for sup in inner {
            let Ok(children) = ask(sup) else { return false };
            for child in children {
                match child.pid.filter(|p| rt.process_info(*p).is_some()) {
                    Some(pid) => running.insert(pid),
                    None => return false,
                };
            }
        }
        running.len() == initial
    })?;
    // Settled, each process of the tree holds the link with its supervisor and nothing
    // else: a monitor, alias or timer left over from the chaos or from a supervisor's
    // requests is stray.
    // Processes that served the listings above may still be ending: the reading is
    // taken again until nothing is stray, for as long as the tree had to settle.
    let stray = |held: shoal::Held| {
        held.monitors
            + held.node_monitors
            + held.watchers
            + held.aliases
            + held.timers
            + held.links.abs_diff(2 * held.processes.saturating_sub(1))
            + held.processes.abs_diff(initial + supervisors + 1)
    };
    let mut stray_settled = stray(rt.held());
    let since = Instant::now();
    while stray_settled > 0 && since.elapsed() < STUCK {
        std::thread::sleep(Duration::from_millis(1));
        stray_settled = stray(rt.held());
    }
    let all = started.lock().clone();
    let restarts = all.len() - initial;
    let host_errors = all
        .iter()
        .filter_map(ProcessHandle::try_exit)
        .filter(|e| matches!(e.reason, ExitReason::HostError { .. }))
        .count();

    // Teardown, and what is left.
    rt.exit(top.pid(), SignalReason::Reason(ExitReason::Shutdown))?;
    ensure!(
        top.wait().reason == ExitReason::Shutdown,
        "the top supervisor did not stop in order"
    );
    // The last guests' stores are dropped just after their exits are published: what is
    // left is read again until nothing is, for as long as the tree had to settle.
    let empty = |held: &shoal::Held| shoal::Held {
        timer_entries: held.timer_entries,
        ..shoal::Held::default()
    };
    let mut left = rt.held();
    let since = Instant::now();
    while left != empty(&left) && since.elapsed() < STUCK {
        std::thread::sleep(Duration::from_millis(1));
        left = rt.held();
    }
    rt.shutdown(Duration::from_secs(1));
    let unfinished = all.iter().filter(|h| h.try_exit().is_none()).count();
    let stats = rt.stats();
    let registered = rt.registered();
    let mut report = Report::of(&rt, procs);
    drop(all);
    drop(started);
    drop(top);
    drop((module, rt));
    std::thread::sleep(SETTLE);
    let rss_before_collect = rss_bytes();
    // mimalloc keeps freed pages for reuse (see `allocator`): ask for them back, as
    // `bench idle` does, so that what remains is what is really held.
    crate::allocator::release_free_memory();
    let (rss_after, anon_after) = (rss_bytes(), rss_anon_bytes());

    report.figure("supervisors", supervisors, "supervisors under the top one");
    report.figure("blows", blows, "kills and exit signals dealt");
    report.figure("landed", landed, "blows whose target was alive");
    report.figure(
        "blows_per_s",
        blows as f64 / chaos_secs,
        "blows dealt per second",
    );
    report.figure("restarts", restarts, "guests started after the first ones");
    report.figure(
        "restarts_per_s",
        restarts as f64 / chaos_secs,
        "guest restarts per second of chaos",
    );
    report.figure(
        "host_errors",
        host_errors,
        "guests that ended as host_error",
    );
    report.figure(
        "unfinished",
        unfinished,
        "guests ever started that never exited",
    );
    report.figure(
        "leaked_processes",
        stats.live,
        "processes live after shutdown",
    );
    report.figure(
        "leaked_budget_bytes",
        stats.memory_used,
        "bytes still charged to the memory budget after shutdown",
    );
    report.figure(
        "leaked_names",
        registered,
        "names still registered after shutdown",
    );
    report.figure(
        "stray_relations",
        stray_settled,
        "with the tree settled: monitors, aliases and live timers held, links beyond each process's one to its supervisor, and processes beyond the tree's",
    );
    report.figure(
        "leaked_relations",
        left.links + left.monitors + left.node_monitors + left.watchers + left.aliases,
        "links, monitors and aliases still held once the tree stopped (before the runtime's shutdown)",
    );
    report.figure(
        "leaked_timers",
        left.timers,
        "timers still waiting once the tree stopped (before the runtime's shutdown)",
    );
    report.figure(
        "leaked_slots",
        left.guests + left.memory_slots + left.stack_slots,
        "guest permits, memory slots and stack slots still held once the tree stopped",
    );
    report.figure(
        "processes_after_stop",
        left.processes,
        "processes live once the tree stopped (before the runtime's shutdown)",
    );
    report.figure(
        "rss_baseline_bytes",
        rss_baseline,
        "resident before the tree",
    );
    report.figure("rss_tree_bytes", rss_tree, "resident with the tree up");
    report.figure(
        "rss_before_collect_bytes",
        rss_before_collect,
        "resident after teardown and the runtime dropped, before the allocator's free pages go back",
    );
    report.figure(
        "rss_after_bytes",
        rss_after,
        "resident after teardown, the runtime dropped and the allocator's free pages returned",
    );
    report.figure(
        "rss_after_over_baseline",
        rss_after as f64 / rss_baseline.max(1) as f64,
        "rss_after_bytes / rss_baseline_bytes",
    );
    report.figure(
        "anon_after_over_baseline",
        anon_after as f64 / anon_baseline.max(1) as f64,
        "the same for anonymous memory (heap, stacks, arenas)",
    );
    Ok(report)
}
