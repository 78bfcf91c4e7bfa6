//! Deterministic mode: the same program gives the same schedule on every run.

use std::time::{Duration, Instant};

use shoal_scheduler::{ExitReason, Runtime};

/// `main(i)`: process 0 spins a while then sends to everyone; odd ones sleep then
/// receive; even ones loop, send to process 0's pid (arg) and exit.
const PROGRAM: &str = r#"(module
  (import "shoal" "sleep" (func $sleep (param i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "spawn" (func $spawn (param i32 i32 i64) (result i64)))
  (import "shoal" "self" (func $self (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "sleeper" "looper")
  (func $spin (param $n i64)
    (loop $l
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $l (i64.gt_s (local.get $n) (i64.const 0)))))
  (func (export "main") (result i32) (local $i i64) (local $got i32)
    ;; three sleepers and three loopers, all reporting back here
    (loop $l
      (drop (call $spawn (i32.const 0) (i32.const 7) (call $self)))
      (drop (call $spawn (i32.const 7) (i32.const 6) (call $self)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $l (i64.lt_u (local.get $i) (i64.const 3))))
    (loop $r
      (if (i64.ge_s (call $receive (i64.const 5000)) (i64.const 0))
        (then (local.set $got (i32.add (local.get $got) (i32.const 1)))))
      (br_if $r (i32.lt_u (local.get $got) (i32.const 6))))
    (local.get $got))
  (func (export "sleeper") (param $to i64)
    (call $sleep (i64.const 30))
    (call $spin (i64.const 200000))
    (call $sleep (i64.const 10))
    (drop (call $send (local.get $to) (i64.const 1) (i32.const 0) (i32.const 0))))
  (func (export "looper") (param $to i64)
    (call $spin (i64.const 3000000))
    (drop (call $send (local.get $to) (i64.const 2) (i32.const 0) (i32.const 0)))))"#;

/// One deterministic run: (hash, per-root (fuel, quanta, running)).
fn run() -> (u64, u64, u64, Duration) {
    let rt = Runtime::builder().deterministic(true).build().unwrap();
    let m = rt.compile_wat(PROGRAM).unwrap();
    let h = rt.spawn(&m, "main", 0).unwrap();
    rt.start();
    let exit = crate::exit_of(&h);
    assert_eq!(exit.reason, ExitReason::Normal { code: 6 });
    // Children exit before the root has heard from all of them; drain them all.
    let rest = rt.shutdown(crate::HANG);
    assert!(rest.iter().all(|e| e.reason.is_normal()), "{rest:?}");
    let a = exit.accounting;
    (
        rt.schedule_hash().expect("deterministic"),
        a.fuel,
        a.quanta,
        a.running,
    )
}

#[test]
fn deterministic_runs_give_the_same_schedule_hash() {
    let first = run();
    let second = run();
    assert_eq!(first, second);
    assert!(
        first.3 > Duration::ZERO,
        "virtual running time is accounted"
    );
}

#[test]
fn sleeps_in_deterministic_mode_take_virtual_time() {
    // A 1,000 s sleep completes at once in real time; `now` moves by 1,000 s.
    let rt = Runtime::builder().deterministic(true).build().unwrap();
    let m = rt
        .compile_wat(
            r#"(module
              (import "shoal" "sleep" (func $sleep (param i64)))
              (import "shoal" "now" (func $now (result i64)))
              (func (export "main") (result i32) (local $t i64)
                (local.set $t (call $now))
                (call $sleep (i64.const 1000000))
                (i32.wrap_i64 (i64.div_u (i64.sub (call $now) (local.get $t)) (i64.const 1000000000)))))"#,
        )
        .unwrap();
    let started = Instant::now();
    let h = rt.spawn(&m, "main", 0).unwrap();
    rt.start();
    assert_eq!(
        crate::exit_of(&h).reason,
        ExitReason::Normal { code: 1_000 }
    );
    assert!(started.elapsed() < Duration::from_secs(100));
}
