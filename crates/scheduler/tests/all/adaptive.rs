//! Adaptive preemption, the default: epoch ticks shorter than the ticker thread's from
//! per-worker timers as runnable processes multiply, and slices counted in time.

use std::time::Duration;

use shoal_scheduler::{DEFAULT_EPOCH_TICK, Pid, Preemption, Runtime};

use crate::SPIN;

fn adaptive_runtime(workers: usize) -> Runtime {
    let rt = Runtime::builder().workers(workers).build().unwrap();
    assert_eq!(rt.preemption().name(), "adaptive", "the default");
    rt
}

fn spawn_spinners(rt: &Runtime, n: usize) -> Vec<Pid> {
    let m = rt.compile_wat(SPIN).unwrap();
    (0..n)
        .map(|_| rt.spawn(&m, "main", 0).unwrap().pid())
        .collect()
}

/// (running time, quanta, preemptions) summed over `pids`.
fn totals(rt: &Runtime, pids: &[Pid]) -> (Duration, u64, u64) {
    pids.iter()
        .map(|&p| rt.process_info(p).expect("spinners run on").accounting)
        .fold((Duration::ZERO, 0, 0), |(r, q, p), a| {
            (r + a.running, q + a.quanta, p + a.preemptions)
        })
}

#[test]
fn two_spinners_share_one_worker_at_the_fixed_tick() {
    let rt = adaptive_runtime(1);
    let pids = spawn_spinners(&rt, 2);
    std::thread::sleep(Duration::from_millis(300));
    let running: Vec<Duration> = pids
        .iter()
        .map(|&p| rt.process_info(p).unwrap().accounting.running)
        .collect();
    let (_, _, preemptions) = totals(&rt, &pids);
    // Two runnable processes want no tick shorter than the ticker thread's.
    assert!(preemptions >= 20, "the ticker preempts: {preemptions}");
    let ratio = running[0].as_secs_f64() / running[1].as_secs_f64();
    assert!((0.5..2.0).contains(&ratio), "shares {running:?}");
}

#[test]
fn a_thousand_spinners_get_slices_shorter_than_the_tick() {
    let rt = adaptive_runtime(2);
    let pids = spawn_spinners(&rt, 1_000);
    std::thread::sleep(Duration::from_millis(500));
    let (running, quanta, _) = totals(&rt, &pids);
    let mean = running / quanta.max(1) as u32;
    // 1,000 runnable on 2 workers: a 50 us tick, which only the workers' timers give,
    // and slices of about 100 us, against 0.5-1 ms under the fixed tick. Half the fixed
    // tick leaves room for a slow machine.
    assert!(
        mean < DEFAULT_EPOCH_TICK / 2,
        "mean slice {mean:?} over {quanta} quanta"
    );
}

#[test]
fn a_lone_spinner_runs_uninterrupted() {
    let rt = adaptive_runtime(2);
    let pids = spawn_spinners(&rt, 1);
    std::thread::sleep(Duration::from_millis(100));
    let (running, quanta, preemptions) = totals(&rt, &pids);
    assert!(running > Duration::from_millis(20), "it ran: {running:?}");
    assert_eq!(
        (quanta, preemptions),
        (1, 0),
        "nothing else wants the worker"
    );
}

#[test]
fn explicit_epoch_preemption_keeps_its_fixed_tick() {
    let rt = Runtime::builder()
        .workers(1)
        .preemption(Preemption::Epoch {
            tick: Duration::from_millis(1),
            slice_ticks: 2,
        })
        .build()
        .unwrap();
    let pids = spawn_spinners(&rt, 100);
    std::thread::sleep(Duration::from_millis(300));
    let (running, quanta, _) = totals(&rt, &pids);
    let mean = running / quanta.max(1) as u32;
    // One to two ticks of 1 ms, whatever the number of processes.
    assert!(mean >= Duration::from_micros(900), "mean slice {mean:?}");
}
