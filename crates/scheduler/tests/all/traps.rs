//! A trap ends one process and nothing else.

use shoal_scheduler::{ExitReason, TrapCode};

use crate::{LOOP, epoch, exit_of, runtime};

/// Waits for a message, spins `arg` iterations, then exits with the message's length.
const WAIT_THEN_LOOP: &str = r#"(module
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (memory (export "memory") 1)
  (func (export "main") (param $n i64) (result i32) (local $len i64)
    (local.set $len (call $receive (i64.const -1)))
    (loop $l
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $l (i64.gt_s (local.get $n) (i64.const 0))))
    (i32.wrap_i64 (local.get $len))))"#;

#[test]
fn a_trap_leaves_a_hundred_others_running_to_completion() {
    let rt = runtime(2, epoch());
    // Half are spinning when the trap happens, half are waiting for a message: all of
    // them are alive then.
    let looper = rt.compile_wat(LOOP).unwrap();
    let waiter = rt.compile_wat(WAIT_THEN_LOOP).unwrap();
    let loopers: Vec<_> = (0..50)
        .map(|_| rt.spawn(&looper, "main", 1_000_000).unwrap())
        .collect();
    let waiters: Vec<_> = (0..50)
        .map(|_| rt.spawn(&waiter, "main", 100_000).unwrap())
        .collect();
    let trapper = rt
        .compile_wat(r#"(module (func (export "main") unreachable))"#)
        .unwrap();
    let t = rt.spawn(&trapper, "main", 0).unwrap();
    match exit_of(&t).reason {
        ExitReason::Trap { code, message } => {
            assert_eq!(code, TrapCode::UnreachableCodeReached);
            assert!(message.contains("unreachable"), "{message}");
        }
        other => panic!("expected a trap, got {other}"),
    }
    for (i, w) in waiters.iter().enumerate() {
        assert!(w.try_exit().is_none(), "waiters wait for their message");
        rt.send(w.pid(), 0, vec![0; i]).unwrap();
    }
    for h in loopers {
        assert_eq!(exit_of(&h).reason, ExitReason::Normal { code: 0 });
    }
    for (i, w) in waiters.iter().enumerate() {
        assert_eq!(exit_of(w).reason, ExitReason::Normal { code: i as i32 });
    }
    assert_eq!(rt.stats().exited, 101);
}

#[test]
fn deep_recursion_is_a_stack_overflow_of_that_process_only() {
    let rt = runtime(1, epoch());
    let m = rt
        .compile_wat(r#"(module (func $f (export "main") (call $f)))"#)
        .unwrap();
    let h = rt.spawn(&m, "main", 0).unwrap();
    assert!(matches!(
        exit_of(&h).reason,
        ExitReason::Trap {
            code: TrapCode::StackOverflow,
            ..
        }
    ));
    let ok = rt.compile_wat(LOOP).unwrap();
    assert!(
        exit_of(&rt.spawn(&ok, "main", 10).unwrap())
            .reason
            .is_normal()
    );
}

#[test]
fn a_division_by_zero_names_its_trap() {
    let rt = runtime(1, epoch());
    let m = rt
        .compile_wat(
            r#"(module (func (export "main") (param $x i64) (result i32)
                 (i32.wrap_i64 (i64.div_s (i64.const 1) (local.get $x)))))"#,
        )
        .unwrap();
    assert!(matches!(
        exit_of(&rt.spawn(&m, "main", 0).unwrap()).reason,
        ExitReason::Trap {
            code: TrapCode::IntegerDivisionByZero,
            ..
        }
    ));
}

#[test]
fn memory_growth_past_the_cap_fails_in_the_guest_not_the_host() {
    // max_memory is 1 MiB for this process: growing to 2 MiB returns -1.
    let rt = runtime(1, epoch());
    let m = rt
        .compile_wat(
            r#"(module (memory (export "memory") 1)
                 (func (export "main") (result i32) (memory.grow (i32.const 31))))"#,
        )
        .unwrap();
    let h = rt
        .spawn_with(
            &m,
            "main",
            0,
            shoal_scheduler::SpawnOptions::new().max_memory(1 << 20),
        )
        .unwrap();
    assert_eq!(exit_of(&h).reason, ExitReason::Normal { code: -1 });
}
