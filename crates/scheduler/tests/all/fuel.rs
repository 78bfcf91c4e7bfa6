//! Fuel quanta are deterministic and exact; the lifetime budget traps.

use shoal_scheduler::{ExitReason, Preemption, SpawnOptions};

use crate::{LOOP, SPIN, exit_of, runtime};

const QUANTUM: u64 = 10_000;

/// Runs LOOP with `n` iterations alone on one worker; (fuel, preemptions, quanta).
fn run_loop(n: i64) -> (u64, u64, u64) {
    let rt = runtime(1, Preemption::Fuel { quantum: QUANTUM });
    let m = rt.compile_wat(LOOP).unwrap();
    let exit = exit_of(&rt.spawn(&m, "main", n).unwrap());
    assert_eq!(exit.reason, ExitReason::Normal { code: 0 });
    let a = exit.accounting;
    (a.fuel, a.preemptions, a.quanta)
}

#[test]
fn a_loop_yields_and_consumes_the_same_fuel_on_every_run() {
    let first = run_loop(1_000_000);
    for _ in 0..2 {
        assert_eq!(run_loop(1_000_000), first);
    }
    let (fuel, preemptions, quanta) = first;
    // 8 fuel per iteration, plus 1 for the function's entry.
    assert_eq!(fuel, 8 * 1_000_000 + 1);
    // Fuel is checked at every loop header, so the last check sees all but the final
    // iteration's 8 units: every quantum boundary up to there is one yield.
    assert_eq!(preemptions, (fuel - 8) / QUANTUM);
    assert_eq!(preemptions, 799);
    // Every quantum but the last ended in a preemption.
    assert_eq!(quanta, preemptions + 1);
}

#[test]
fn each_loop_iteration_costs_exactly_eight_fuel() {
    // local.get, i64.const, i64.sub, local.set, local.get, i64.const, i64.gt_s, br_if:
    // one unit each; `loop` and `end` are free.
    let (small, _, _) = run_loop(100_000);
    let (large, _, _) = run_loop(300_000);
    assert_eq!(large - small, 8 * 200_000);
}

#[test]
fn the_fuel_budget_ends_an_infinite_loop_as_out_of_fuel() {
    let rt = runtime(1, Preemption::Fuel { quantum: QUANTUM });
    let m = rt.compile_wat(SPIN).unwrap();
    let h = rt
        .spawn_with(&m, "main", 0, SpawnOptions::new().fuel_limit(1_000_000))
        .unwrap();
    let exit = exit_of(&h);
    assert_eq!(exit.reason, ExitReason::OutOfFuel);
    assert_eq!(exit.accounting.fuel, 1_000_000, "the whole budget, exactly");
}

#[test]
fn the_runtime_default_fuel_budget_applies_to_every_process() {
    let rt = shoal_scheduler::Runtime::builder()
        .workers(1)
        .preemption(Preemption::Fuel { quantum: QUANTUM })
        .fuel_limit(50_000)
        .build()
        .unwrap();
    let m = rt.compile_wat(SPIN).unwrap();
    let hs: Vec<_> = (0..3).map(|_| rt.spawn(&m, "main", 0).unwrap()).collect();
    for h in hs {
        assert_eq!(exit_of(&h).reason, ExitReason::OutOfFuel);
    }
}

#[test]
fn voluntary_yields_are_counted_apart_from_preemptions() {
    let rt = runtime(1, Preemption::Fuel { quantum: 1_000_000 });
    let m = rt
        .compile_wat(
            r#"(module
              (import "shoal" "yield" (func $yield))
              (func (export "main") (local $i i32)
                (loop $l
                  (call $yield)
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))))"#,
        )
        .unwrap();
    let exit = exit_of(&rt.spawn(&m, "main", 0).unwrap());
    assert!(exit.reason.is_normal());
    assert_eq!(exit.accounting.voluntary_yields, 10);
    assert_eq!(exit.accounting.preemptions, 0);
    assert_eq!(exit.accounting.quanta, 11);
}

#[test]
fn a_start_function_is_metered_like_the_rest() {
    // Fuel is set before instantiation, so an endless start function runs out of fuel
    // rather than hanging a worker.
    let rt = runtime(1, Preemption::Fuel { quantum: QUANTUM });
    let m = rt
        .compile_wat(r#"(module (func $s (loop $l (br $l))) (start $s) (func (export "main")))"#)
        .unwrap();
    let h = rt
        .spawn_with(&m, "main", 0, SpawnOptions::new().fuel_limit(100_000))
        .unwrap();
    assert_eq!(exit_of(&h).reason, ExitReason::OutOfFuel);
}
