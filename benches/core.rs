//! Core figures of the runtime, each against its raw-wasmtime baseline measured in the
//! same run, reported as medians of several rounds and as ratios:
//!
//! - **yield**: one fuel-preemption round trip under the scheduler, against the same guest
//!   under a bare wasmtime store with the same fuel yield interval, polled in a loop;
//! - **spawn**: spawn-and-exit of trivial processes, against bare pooled
//!   instantiate + call with the same engine settings;
//! - **idle RSS**: resident memory per process blocked in receive, at 10,000 processes;
//! - **modes**: a CPU-bound loop under each preemption mode, against the same loop in a
//!   bare wasmtime store with no instrumentation (how the default mode was chosen).
//!
//! Run: `cargo bench --bench core` (add `-- --quick` for one round each).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use shoal::{Preemption, Runtime};

/// Fuel per quantum for the yield benchmark: small, so the yield dominates, but above
/// the cost of one loop iteration so every quantum does some work.
const YIELD_QUANTUM: u64 = 200;
/// Loop iterations of the yield guest.
const YIELD_ITERS: i64 = 2_000_000;
/// Processes per spawn round.
const SPAWNS: usize = 20_000;
/// Idle processes for the RSS figure.
const IDLE_PROCS: usize = 10_000;

const LOOP_WAT: &str = r#"(module
  (func (export "main") (param $n i64)
    (loop $l
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $l (i64.gt_s (local.get $n) (i64.const 0))))))"#;

const TRIVIAL_WAT: &str = r#"(module (memory (export "memory") 1) (func (export "main")))"#;

const IDLE_WAT: &str = r#"(module
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (memory (export "memory") 1)
  (func (export "main") (drop (call $receive (i64.const -1)))))"#;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Polls a future to completion on this thread, re-polling at once after a self-wake:
/// the cheapest possible executor, as a baseline for the yield round trip.
fn block_on_spin<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn raw_engine(fuel: bool) -> wasmtime::Engine {
    let mut c = wasmtime::Config::new();
    c.consume_fuel(fuel);
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_core_instances(1000)
        .total_memories(1000)
        .total_stacks(1000)
        .total_tables(1000);
    pool.max_memory_size(shoal::DEFAULT_MAX_MEMORY);
    c.memory_reservation(shoal::DEFAULT_MAX_MEMORY as u64);
    c.memory_guard_size(64 << 10);
    c.memory_reservation_for_growth(0);
    c.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    wasmtime::Engine::new(&c).unwrap()
}

/// Raw wasmtime: ns per fuel-yield round trip.
fn raw_yield_ns() -> (f64, u64) {
    let engine = raw_engine(true);
    let module = wasmtime::Module::new(&engine, LOOP_WAT).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    store.set_fuel(u64::MAX).unwrap();
    store
        .fuel_async_yield_interval(Some(YIELD_QUANTUM))
        .unwrap();
    let mut yields = 0u64;
    let start = Instant::now();
    let mut fut = pin!(async {
        let linker = wasmtime::Linker::new(&engine);
        let instance = linker.instantiate_async(&mut store, &module).await.unwrap();
        let f = instance
            .get_typed_func::<i64, ()>(&mut store, "main")
            .unwrap();
        f.call_async(&mut store, YIELD_ITERS).await.unwrap();
    });
    let mut cx = Context::from_waker(Waker::noop());
    while fut.as_mut().poll(&mut cx).is_pending() {
        yields += 1;
    }
    (start.elapsed().as_nanos() as f64 / yields as f64, yields)
}

/// Shoal: ns per fuel preemption, one process on one worker.
fn shoal_yield_ns() -> (f64, u64) {
    let rt = Runtime::builder()
        .workers(1)
        .preemption(Preemption::Fuel {
            quantum: YIELD_QUANTUM,
        })
        .build()
        .unwrap();
    let m = rt.compile_wat(LOOP_WAT).unwrap();
    let start = Instant::now();
    let exit = rt.spawn(&m, "main", YIELD_ITERS).unwrap().wait();
    let elapsed = start.elapsed();
    assert!(exit.reason.is_normal(), "{:?}", exit.reason);
    let yields = exit.accounting.preemptions;
    (elapsed.as_nanos() as f64 / yields as f64, yields)
}

/// Raw wasmtime: pooled instantiate + call of a trivial export, per second.
fn raw_spawn_rate(n: usize) -> f64 {
    let engine = raw_engine(false);
    let module = wasmtime::Module::new(&engine, TRIVIAL_WAT).unwrap();
    let linker = wasmtime::Linker::<()>::new(&engine);
    let pre = linker.instantiate_pre(&module).unwrap();
    let start = Instant::now();
    block_on_spin(async {
        for _ in 0..n {
            let mut store = wasmtime::Store::new(&engine, ());
            let instance = pre.instantiate_async(&mut store).await.unwrap();
            let f = instance
                .get_typed_func::<(), ()>(&mut store, "main")
                .unwrap();
            f.call_async(&mut store, ()).await.unwrap();
        }
    });
    n as f64 / start.elapsed().as_secs_f64()
}

/// Shoal: spawn n trivial processes from the host and wait for all, per second.
fn shoal_spawn_rate(rt: &Runtime, m: &shoal::Module, n: usize) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..n).map(|_| rt.spawn(m, "main", 0).unwrap()).collect();
    for h in handles {
        assert!(h.wait().reason.is_normal());
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn idle_rss_per_proc(n: usize) -> (f64, f64) {
    let rt = Runtime::builder().capacity(n).build().unwrap();
    let m = rt.compile_wat(IDLE_WAT).unwrap();
    // Warm the runtime so first-use costs are not counted.
    let warm: Vec<_> = (0..100).map(|_| rt.spawn(&m, "main", 0).unwrap()).collect();
    for h in &warm {
        rt.send(h.pid(), 0, []).unwrap();
        h.wait();
    }
    let (rss0, maps0) = (rss_bytes(), map_count());
    let handles: Vec<_> = (0..n).map(|_| rt.spawn(&m, "main", 0).unwrap()).collect();
    while rt.stats().queued > 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    let (rss1, maps1) = (rss_bytes(), map_count());
    for h in &handles {
        if let Err(e) = rt.send(h.pid(), 0, []) {
            panic!(
                "{e}: the idle process ended early: {:?}",
                h.try_exit().map(|e| e.reason)
            );
        }
    }
    for h in handles {
        assert!(h.wait().reason.is_normal());
    }
    (
        (rss1.saturating_sub(rss0)) as f64 / n as f64,
        (maps1 as f64 - maps0 as f64) / n as f64,
    )
}

/// Loop iterations for the mode comparison: long enough (~0.1–0.3 s) that start-up
/// costs vanish.
const MODE_ITERS: i64 = 300_000_000;

/// Raw wasmtime, no fuel, no epochs: seconds for the loop.
fn raw_loop_secs() -> f64 {
    let engine = raw_engine(false);
    let module = wasmtime::Module::new(&engine, LOOP_WAT).unwrap();
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
    let f = instance
        .get_typed_func::<i64, ()>(&mut store, "main")
        .unwrap();
    let start = Instant::now();
    f.call(&mut store, MODE_ITERS).unwrap();
    start.elapsed().as_secs_f64()
}

/// Shoal, one worker, one process: seconds for the loop under `preemption`.
fn shoal_loop_secs(preemption: Preemption, fuel_metering: bool) -> f64 {
    let rt = Runtime::builder()
        .workers(1)
        .preemption(preemption)
        .fuel_metering(fuel_metering)
        .build()
        .unwrap();
    let m = rt.compile_wat(LOOP_WAT).unwrap();
    let start = Instant::now();
    assert!(
        rt.spawn(&m, "main", MODE_ITERS)
            .unwrap()
            .wait()
            .reason
            .is_normal()
    );
    start.elapsed().as_secs_f64()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 1 } else { 5 };
    println!("shoal core benchmarks: {rounds} round(s) each, medians reported");

    let (mut raw, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        raw.push(raw_yield_ns().0);
        ours.push(shoal_yield_ns().0);
    }
    let (raw_y, ours_y) = (median(raw), median(ours));
    println!(
        "yield      shoal {ours_y:8.1} ns/yield   raw wasmtime {raw_y:8.1} ns/yield   ratio {:.2}x  (quantum {YIELD_QUANTUM} fuel)",
        ours_y / raw_y
    );

    let rt = Runtime::builder().capacity(SPAWNS).build().unwrap();
    let m = rt.compile_wat(TRIVIAL_WAT).unwrap();
    let (mut raw, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        raw.push(raw_spawn_rate(SPAWNS));
        ours.push(shoal_spawn_rate(&rt, &m, SPAWNS));
    }
    let (raw_s, ours_s) = (median(raw), median(ours));
    println!(
        "spawn      shoal {ours_s:8.0} /s         raw wasmtime {raw_s:8.0} /s         ratio {:.2}x  ({} workers, {SPAWNS} per round; raw is one thread)",
        ours_s / raw_s,
        rt.workers()
    );
    // The module holds the engine, and the engine holds the pool's mappings.
    drop((m, rt));

    let mut rss = Vec::new();
    let mut maps = Vec::new();
    for _ in 0..rounds.min(3) {
        let (r, m) = idle_rss_per_proc(IDLE_PROCS);
        rss.push(r);
        maps.push(m);
    }
    println!(
        "idle       {:8.0} bytes RSS per process, {:.2} new mappings per process, at {IDLE_PROCS} processes blocked in receive",
        median(rss),
        median(maps)
    );

    let tick = shoal::DEFAULT_EPOCH_TICK;
    let slice_ticks = shoal::DEFAULT_SLICE_TICKS;
    let quantum = shoal::DEFAULT_FUEL_QUANTUM;
    let modes = [
        (
            "epoch (default)",
            Preemption::Epoch { tick, slice_ticks },
            false,
        ),
        (
            "epoch + fuel metering",
            Preemption::Epoch { tick, slice_ticks },
            true,
        ),
        ("fuel", Preemption::Fuel { quantum }, true),
        (
            "hybrid",
            Preemption::Hybrid {
                quantum,
                tick,
                slice_ticks,
            },
            true,
        ),
    ];
    let raw = median((0..rounds.min(3)).map(|_| raw_loop_secs()).collect());
    println!(
        "modes      raw wasmtime, uninstrumented: {:.3} s for {MODE_ITERS} loop iterations",
        raw
    );
    for (name, preemption, metering) in modes {
        let t = median(
            (0..rounds.min(3))
                .map(|_| shoal_loop_secs(preemption, metering))
                .collect(),
        );
        println!("           {name:24} {t:.3} s   ratio {:.2}x", t / raw);
    }
}
