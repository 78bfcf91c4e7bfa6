//! `idle`: N processes blocked in receive, then a message to each and a reply from each,
//! then teardown.
//!
//! 1. Spawn N guests that block in `receive`; once all are blocked, measure what they
//!    cost: the process's RSS after minus before over N, the page tables (`VmPTE`) the
//!    same way, and the memory mappings added, which is what bounds live processes under
//!    Linux's `vm.max_map_count`.
//! 2. A native process sends each guest one message and counts the replies; every guest
//!    must reply and exit normally, with none lost.
//! 3. Spawn N blocked guests again and time `shutdown` with no grace period, which kills
//!    them all; then drop the runtime and measure the RSS left over against the RSS
//!    before the runtime was built, and again after asking the allocator to return the
//!    memory it keeps for reuse (`allocator::release_free_memory`).
//!
//! Run as root with more guests than `vm.max_map_count` admits, the workload raises the
//! limit for its run and says so (see `map_count`).

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use shoal::{ExitReason, Pid, SpawnOptions, State, WaitReason};

use super::{Bench, Report, guests, map_count};

/// Idle processes by default.
const DEFAULT_PROCS: usize = 10_000;
/// Processes spawned and ended first, so first-use costs (code, arena pages, queues)
/// are not charged to the measured ones.
const WARM: usize = 100;
/// Linux's page size for `/proc/self/statm`.
const PAGE: u64 = 4096;
/// How long the guests may take to block, or to reply, before the run is called stuck.
const STUCK: Duration = Duration::from_secs(300);
/// Time allowed after teardown for the allocator to return freed memory to the system.
const SETTLE: Duration = Duration::from_millis(500);

pub(super) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0)
        * PAGE
}

/// A size in kB from `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .unwrap_or(0)
        * 1024
}

/// Bytes of page tables (`VmPTE`).
fn page_table_bytes() -> u64 {
    status_bytes("VmPTE:")
}

/// Resident anonymous bytes (`RssAnon`): the heap, stacks and arenas, without the pages
/// of the binary's code that running it brought in (which the kernel can drop and reread).
pub(super) fn rss_anon_bytes() -> u64 {
    status_bytes("RssAnon:")
}

fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |s| s.lines().count())
}

/// Waits until every handle's process is blocked in receive; returns how many were.
fn wait_blocked(runtime: &shoal::Runtime, handles: &[shoal::ProcessHandle]) -> usize {
    let waiting = State::Waiting(WaitReason::Receive);
    let blocked = |h: &shoal::ProcessHandle| {
        runtime
            .process_info(h.pid())
            .is_some_and(|i| i.state == waiting)
    };
    let deadline = Instant::now() + STUCK;
    // Nothing wakes them, so a blocked process stays blocked: `handles[..first]` need
    // no second look, and the wait costs the workers one pass, not one per poll.
    let mut first = 0;
    loop {
        while first < handles.len() && blocked(&handles[first]) {
            first += 1;
        }
        if first == handles.len() {
            return first;
        }
        if Instant::now() > deadline {
            return first + handles[first..].iter().filter(|h| blocked(h)).count();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn_idle(
    bench: &Bench<'_>,
    runtime: &shoal::Runtime,
    module: &shoal::Module,
    procs: usize,
    what: &str,
) -> anyhow::Result<Vec<shoal::ProcessHandle>> {
    let bar = bench.progress(procs as u64, what);
    let mut handles = Vec::with_capacity(procs);
    for _ in 0..procs {
        handles.push(runtime.spawn(module, "main", 0)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(handles)
}

pub(crate) fn run(bench: &Bench<'_>) -> anyhow::Result<Report> {
    let procs = bench.procs(DEFAULT_PROCS)?;
    let raised = map_count::ensure_room_for(procs.max(WARM) + 1);
    let (rss_before_runtime, maps_before_runtime) = (rss_bytes(), mappings());
    let anon_before_runtime = rss_anon_bytes();
    // A density measurement: its one-page guests pass the default memory budget (which
    // counts each page as used) long before the machine's memory; `--memory-budget`
    // still applies.
    let runtime = bench.runtime(|b| b.capacity(procs.max(WARM) + 1).memory_budget(usize::MAX))?;
    let module = runtime.compile_wat(guests::IDLE)?;
    let warm = spawn_idle(bench, &runtime, &module, WARM, "warm-up")?;
    let replies = exchange(&runtime, warm.iter().map(|h| h.pid()).collect())?;
    ensure!(replies == WARM, "{replies} of {WARM} warm-up replies");
    drop(warm);

    // 1. What a blocked process costs.
    let (rss0, pte0, maps0) = (rss_bytes(), page_table_bytes(), mappings());
    let spawn_start = Instant::now();
    let handles = spawn_idle(bench, &runtime, &module, procs, "spawning")?;
    let spawned_s = spawn_start.elapsed().as_secs_f64();
    let alive = wait_blocked(&runtime, &handles);
    let blocked_s = spawn_start.elapsed().as_secs_f64();
    let (rss1, pte1, maps1) = (rss_bytes(), page_table_bytes(), mappings());
    let stack_slots = runtime.stats().stack_slots;

    // 2. One message to each, a reply from each, all exit normally.
    let exchange_start = Instant::now();
    let replies = exchange(&runtime, handles.iter().map(|h| h.pid()).collect())?;
    let mut normal = 0;
    for handle in handles {
        let exit = handle.wait();
        if exit.reason == (ExitReason::Normal { code: 0 }) {
            normal += 1;
        } else {
            bail!("an idle process ended {}", exit.reason);
        }
    }
    let exchange_s = exchange_start.elapsed().as_secs_f64();

    // 3. Teardown with all of them live.
    let handles = spawn_idle(bench, &runtime, &module, procs, "spawning again")?;
    let blocked_again = wait_blocked(&runtime, &handles);
    let shutdown_start = Instant::now();
    let killed = runtime
        .shutdown(Duration::ZERO)
        .iter()
        .filter(|exit| exit.reason == ExitReason::Killed)
        .count();
    let shutdown_s = shutdown_start.elapsed().as_secs_f64();
    ensure!(
        blocked_again == procs && killed == procs,
        "teardown: {blocked_again} blocked, {killed} of {procs} killed"
    );
    drop(handles);
    bench.keep_trace(&runtime);

    let mut report = Report::of(&runtime, procs);
    drop((module, runtime));
    std::thread::sleep(SETTLE);
    let (rss_after_teardown, maps_after_teardown) = (rss_bytes(), mappings());
    crate::allocator::release_free_memory();
    let (rss_after_collect, anon_after_collect) = (rss_bytes(), rss_anon_bytes());

    let per_proc = |after: u64, before: u64| after.saturating_sub(before) as f64 / procs as f64;
    report.figure(
        "rss_bytes_per_proc",
        per_proc(rss1, rss0),
        "resident bytes per idle process",
    );
    report.figure(
        "page_table_bytes_per_proc",
        per_proc(pte1, pte0),
        "page-table bytes per idle process (not in the RSS)",
    );
    report.figure("procs_alive", alive, "processes found blocked in receive");
    report.figure(
        "mappings_per_proc",
        (maps1 as f64 - maps0 as f64) / procs as f64,
        "memory mappings added per process",
    );
    report.figure("stack_slots", stack_slots, "fiber-stack slots ever used");
    report.figure(
        "rss_bytes_total",
        rss1,
        "resident bytes of this process, all idle",
    );
    report.figure(
        "spawn_s",
        spawned_s,
        "the host's N spawn calls (s); instantiation may still be under way",
    );
    report.figure(
        "blocked_s",
        blocked_s,
        "from the first spawn call until all N are blocked in receive (s)",
    );
    report.figure("replies", replies, "replies received, one per process");
    report.figure("exited_normal", normal, "processes that exited normal(0)");
    report.figure(
        "exchange_s",
        exchange_s,
        "one message to each, every reply and every exit (s)",
    );
    report.figure(
        "shutdown_s",
        shutdown_s,
        "shutdown with N live processes, no grace: all killed (s)",
    );
    report.figure(
        "rss_before_runtime_bytes",
        rss_before_runtime,
        "resident bytes before the runtime was built",
    );
    report.figure(
        "rss_after_teardown_bytes",
        rss_after_teardown,
        "resident bytes after shutdown and drop",
    );
    report.figure(
        "rss_after_collect_bytes",
        rss_after_collect,
        "resident bytes after that, once the allocator returned its free memory",
    );
    report.figure(
        "rss_anon_before_runtime_bytes",
        anon_before_runtime,
        "resident anonymous bytes (heap, stacks) before the runtime was built",
    );
    report.figure(
        "rss_anon_after_collect_bytes",
        anon_after_collect,
        "resident anonymous bytes after teardown and the allocator's collect",
    );
    report.figure(
        "mappings_before_runtime",
        maps_before_runtime,
        "memory mappings before the runtime was built",
    );
    report.figure(
        "mappings_after_teardown",
        maps_after_teardown,
        "memory mappings after shutdown and drop",
    );
    if let Some(raised) = &raised {
        report.figure(
            "max_map_count_raised_from",
            raised.from,
            "vm.max_map_count before this run raised it",
        );
        report.figure(
            "max_map_count_raised_to",
            raised.to,
            "vm.max_map_count during this run",
        );
    }
    Ok(report)
}

/// A native process sends one message to each of `pids` and counts the replies (tag 1).
fn exchange(runtime: &shoal::Runtime, pids: Vec<Pid>) -> anyhow::Result<usize> {
    let (tx, rx) = std::sync::mpsc::channel();
    let driver = runtime.spawn_native(SpawnOptions::new(), move |cx| async move {
        let n = pids.len();
        for pid in pids {
            if cx.send(pid, 0, []).is_err() {
                return 1;
            }
        }
        let mut replies = 0;
        while replies < n {
            match cx.receive(Some(1), Some(STUCK)).await {
                Some(_) => replies += 1,
                None => break,
            }
        }
        let _ = tx.send(replies);
        0
    })?;
    let exit = driver.wait();
    ensure!(
        exit.reason == (ExitReason::Normal { code: 0 }),
        "the idle driver ended {}",
        exit.reason
    );
    Ok(rx.recv()?)
}
