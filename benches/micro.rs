//! Criterion micro-benchmarks of the runtime's hot paths, one figure per operation:
//!
//! - **yield/preemption**: one fuel-preemption round trip (the guest is interrupted at the
//!   end of its quantum, and the scheduler resumes it), one process on one worker, quantum [`YIELD_QUANTUM`] fuel over [`guests::COUNTER`]; the run's wall time
//!   divided by the preemptions its exit accounting counted.
//! - **yield/voluntary**: one `shoal.yield` round trip ([`guests::YIELDER`]), one process on
//!   one worker, default (epoch) preemption; wall time divided by its voluntary yields.
//! - **spawn/one**: the host spawns one trivial process and blocks until its exit (spawn,
//!   instantiate from the pool, call, exit, wake the host), default workers.
//! - **spawn/batch_1000**: the host spawns [`SPAWN_BATCH`] trivial processes, then waits for
//!   all of them; reported per batch and as spawns per second.
//! - **send_receive/native_pingpong**: one round trip between two native processes on one
//!   worker: `send` + `receive` (which waits and frees the worker) on each side, so two
//!   messages and two switches between processes. Timed inside the pinging process, so
//!   spawning the pair is not counted.
//! - **send_receive/guest_pingpong**: the same round trip between two guests
//!   ([`guests::PINGPONG`]: `send`, `receive` with a timeout, `message_read`, through the
//!   host ABI), one worker; the host times the whole run, so one spawn of the pair per
//!   sample is amortised over the sample's round trips (thousands of them).
//! - **selective_receive/cold_scan**: `try_receive(Some(tag))` in a native process whose
//!   mailbox holds [`MAILBOX_LEN`] messages of another tag, matching the message appended
//!   last, with a tag never scanned before: the scan examines all `MAILBOX_LEN + 1`.
//! - **selective_receive/kept_position**: the same receive repeated for one tag after
//!   [`APPENDED`] messages of another tag and then one with that tag were appended: the
//!   mailbox's saved scan position makes it examine only the `APPENDED + 1` new messages,
//!   not the `MAILBOX_LEN` before them.
//!
//! In both `selective_receive` benches only the receive is timed, by an `Instant` pair
//! around each one: the long mailbox is built, and each round's messages appended and
//! trimmed, outside the timed part. The pair itself is included: an empty timed region
//! reads ~21 ns on the 2-vCPU VM the figures were taken on, which matters for
//! `kept_position` only.
//!
//! Why not host to guest: the host has no mailbox, so a reply to the host has to cross a
//! channel and wake a parked host thread, which would dominate the figure. The round trips
//! above stay inside the runtime, where `send` and `receive` are the cost.
//!
//! Run: `cargo bench --bench micro` (about 40 s; add a filter such as `-- spawn` to run
//! one group).

use std::hint::black_box;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shoal::{Exit, Preemption, ProcessHandle, Runtime, SpawnOptions, guests};

/// Fuel per quantum for `yield/preemption`: as in `shoal bench yield`, small so the yield
/// dominates, but above the cost of one loop iteration so every quantum does some work.
const YIELD_QUANTUM: u64 = 200;
/// Fuel one iteration of [`guests::COUNTER`]'s loop costs: its body is 9 operators of 1
/// fuel each (`br_if`, `i64.ge_s`, 3 `local.get`, `local.set`, `i64.add`, `i64.const`,
/// `br`); measured as 9.0 from the exit accounting (`fuel / n`). Only used to size a run
/// to about `iters` quanta: the figure is divided by the preemptions actually counted.
const COUNTER_FUEL_PER_ITER: u64 = 9;
/// Trivial processes per `spawn/batch_1000` iteration: large enough that the pool and run
/// queues are exercised in bulk, small enough for a 3 s measurement (~5 ms per batch on
/// 2 vCPUs).
const SPAWN_BATCH: usize = 1_000;
/// Messages of another tag queued ahead of the match in `selective_receive`: a long
/// mailbox, the size the mailbox's own no-rescan test uses (`crates/proc/src/mailbox.rs`).
const MAILBOX_LEN: usize = 10_000;
/// Messages of another tag appended before each `kept_position` match: a few, so the
/// kept-position scan is visibly proportional to what arrived since, not to the mailbox.
const APPENDED: usize = 10;

/// Tag of the messages that fill the long mailbox.
const FILLER_TAG: u64 = 0;
/// Tag `kept_position` receives by. `cold_scan` uses fresh tags above it.
const KEPT_TAG: u64 = 1;
/// Tag of a ping, to the echo process.
const PING_TAG: u64 = 2;
/// Tag of the echo's reply.
const PONG_TAG: u64 = 3;
/// Tag that ends the echo process.
const STOP_TAG: u64 = 4;

/// A trivial guest, as in `shoal bench spawn`: one memory (as most real guests have) and an
/// empty entry.
const TRIVIAL_WAT: &str = r#"(module (memory (export "memory") 1) (func (export "main")))"#;

/// Measurement settings: short, so the whole file runs in under a minute (~40–50 s).
const WARM_UP: Duration = Duration::from_secs(1);
const MEASUREMENT: Duration = Duration::from_secs(3);
const SAMPLES: usize = 20;

fn runtime(workers: Option<usize>, preemption: Option<Preemption>) -> Runtime {
    let mut builder = Runtime::builder();
    if let Some(n) = workers {
        builder = builder.workers(n);
    }
    if let Some(p) = preemption {
        builder = builder.preemption(p);
    }
    builder.build().expect("build the runtime")
}

fn expect_normal(exit: &Exit, what: &str) {
    assert!(
        exit.reason.is_normal(),
        "{what} ended abnormally: {}",
        exit.reason
    );
}

/// `wait`s for `handle` and checks it exited normally.
fn join(handle: &ProcessHandle, what: &str) -> Exit {
    let exit = handle.wait();
    expect_normal(&exit, what);
    exit
}

/// `elapsed` covered `count` operations; criterion asked for `iters`: the duration
/// `iters` operations take at that rate.
fn scale(elapsed: Duration, count: u64, iters: u64) -> Duration {
    elapsed.mul_f64(iters as f64 / count.max(1) as f64)
}

fn bench_yield(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield");
    group.throughput(Throughput::Elements(1));

    let rt = runtime(
        Some(1),
        Some(Preemption::Fuel {
            quantum: YIELD_QUANTUM,
        }),
    );
    let counter = rt.compile_wat(guests::COUNTER).expect("compile COUNTER");
    group.bench_function("preemption", |b| {
        b.iter_custom(|iters| {
            let n = iters * YIELD_QUANTUM / COUNTER_FUEL_PER_ITER;
            let start = Instant::now();
            let handle = rt.spawn(&counter, "main", n as i64).expect("spawn COUNTER");
            let exit = join(&handle, "COUNTER");
            scale(start.elapsed(), exit.accounting.preemptions, iters)
        })
    });
    drop((counter, rt));

    let rt = runtime(Some(1), None);
    let yielder = rt.compile_wat(guests::YIELDER).expect("compile YIELDER");
    group.bench_function("voluntary", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let handle = rt
                .spawn(&yielder, "main", iters as i64)
                .expect("spawn YIELDER");
            let exit = join(&handle, "YIELDER");
            assert_eq!(
                exit.accounting.voluntary_yields, iters,
                "one yield per call"
            );
            scale(start.elapsed(), exit.accounting.voluntary_yields, iters)
        })
    });
    group.finish();
}

fn bench_spawn(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn");
    let rt = runtime(None, None);
    let trivial = rt
        .compile_wat(TRIVIAL_WAT)
        .expect("compile the trivial guest");

    group.throughput(Throughput::Elements(1));
    group.bench_function("one", |b| {
        b.iter(|| {
            let handle = rt.spawn(&trivial, "main", 0).expect("spawn");
            join(&handle, "the trivial guest")
        })
    });

    group.throughput(Throughput::Elements(SPAWN_BATCH as u64));
    group.bench_function("batch_1000", |b| {
        b.iter(|| {
            let handles: Vec<_> = (0..SPAWN_BATCH)
                .map(|_| rt.spawn(&trivial, "main", 0).expect("spawn"))
                .collect();
            for handle in &handles {
                join(handle, "the trivial guest");
            }
        })
    });
    group.finish();
}

/// Runs `iters` round trips between two native processes on `rt`, timed by the pinging
/// one.
fn native_pingpong(rt: &Runtime, iters: u64) -> Duration {
    let echo = rt
        .spawn_native(SpawnOptions::new(), |cx| async move {
            loop {
                let msg = cx
                    .receive(None, None)
                    .await
                    .expect("a receive without timeout returns a message");
                if msg.tag == STOP_TAG {
                    return 0;
                }
                let from = msg.from.expect("pings come from a process");
                cx.send(from, PONG_TAG, msg.data).expect("pong");
            }
        })
        .expect("spawn the echo process");
    let echo_pid = echo.pid();
    let (tx, rx) = mpsc::channel();
    let ping = rt
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            let start = Instant::now();
            for i in 0..iters {
                cx.send(echo_pid, PING_TAG, i.to_le_bytes()).expect("ping");
                let pong = cx
                    .receive(Some(PONG_TAG), None)
                    .await
                    .expect("a receive without timeout returns a message");
                black_box(pong);
            }
            let elapsed = start.elapsed();
            cx.send(echo_pid, STOP_TAG, Vec::new())
                .expect("stop the echo");
            tx.send(elapsed).expect("the host waits for the time");
            0
        })
        .expect("spawn the ping process");
    let elapsed = rx.recv().expect("the ping process reports its time");
    join(&ping, "the ping process");
    join(&echo, "the echo process");
    elapsed
}

fn bench_send_receive(c: &mut Criterion) {
    let mut group = c.benchmark_group("send_receive");
    // One iteration is one round trip: two messages, each sent and received once.
    group.throughput(Throughput::Elements(2));
    let rt = runtime(Some(1), None);

    group.bench_function("native_pingpong", |b| {
        b.iter_custom(|iters| native_pingpong(&rt, iters))
    });

    let pingpong = rt.compile_wat(guests::PINGPONG).expect("compile PINGPONG");
    group.bench_function("guest_pingpong", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let handle = rt
                .spawn(&pingpong, "main", iters as i64)
                .expect("spawn PINGPONG");
            // Exit codes 1–4 say which step failed (see `guests::PINGPONG`).
            join(&handle, "PINGPONG");
            start.elapsed()
        })
    });
    group.finish();
}

/// Which selective receive a native process times.
#[derive(Copy, Clone)]
enum Scan {
    /// A tag never scanned before: the whole mailbox is examined.
    Cold,
    /// The same tag each time: the scan resumes at its saved position.
    Kept,
}

/// Spawns a native process that fills its mailbox with [`MAILBOX_LEN`] messages, then
/// times `iters` selective receives of kind `scan`; returns the sum of the timed receives.
fn selective_receive(rt: &Runtime, scan: Scan, iters: u64) -> Duration {
    let (tx, rx) = mpsc::channel();
    let handle = rt
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            let me = cx.pid();
            let send_self = |tag| cx.send(me, tag, Vec::new()).expect("send to self");
            for _ in 0..MAILBOX_LEN {
                send_self(FILLER_TAG);
            }
            let mut timed = Duration::ZERO;
            match scan {
                Scan::Cold => {
                    for tag in (KEPT_TAG + 1..).take(iters as usize) {
                        send_self(tag);
                        let start = Instant::now();
                        let msg = cx.try_receive(Some(tag));
                        timed += start.elapsed();
                        assert_eq!(msg.map(|m| m.tag), Some(tag), "the last message matches");
                    }
                }
                Scan::Kept => {
                    // The first receive scans the whole mailbox and saves its position.
                    send_self(KEPT_TAG);
                    assert!(cx.try_receive(Some(KEPT_TAG)).is_some(), "the last matches");
                    for _ in 0..iters {
                        for _ in 0..APPENDED {
                            send_self(FILLER_TAG);
                        }
                        send_self(KEPT_TAG);
                        let start = Instant::now();
                        let msg = cx.try_receive(Some(KEPT_TAG));
                        timed += start.elapsed();
                        assert!(msg.is_some(), "the last message matches");
                        // Trim from the front, so the mailbox stays MAILBOX_LEN long.
                        for _ in 0..APPENDED {
                            cx.try_receive(None).expect("a filler");
                        }
                    }
                }
            }
            tx.send(timed).expect("the host waits for the time");
            0
        })
        .expect("spawn the receiving process");
    let timed = rx.recv().expect("the receiving process reports its time");
    join(&handle, "the receiving process");
    timed
}

fn bench_selective_receive(c: &mut Criterion) {
    let mut group = c.benchmark_group("selective_receive");
    group.throughput(Throughput::Elements(1));
    let rt = runtime(Some(1), None);
    group.bench_function("cold_scan", |b| {
        b.iter_custom(|iters| selective_receive(&rt, Scan::Cold, iters))
    });
    group.bench_function("kept_position", |b| {
        b.iter_custom(|iters| selective_receive(&rt, Scan::Kept, iters))
    });
    group.finish();
}

criterion_group! {
    name = micro;
    config = Criterion::default()
        .warm_up_time(WARM_UP)
        .measurement_time(MEASUREMENT)
        .sample_size(SAMPLES);
    targets = bench_yield, bench_spawn, bench_send_receive, bench_selective_receive
}
criterion_main!(micro);
