//! The runtime's memory budget: growth, spawns and sends are refused past it, nothing
//! running is ended, and every charge is given back when its process ends.

use shoal_scheduler::{
    ALIAS_BYTES, ExitReason, MAILBOX_FREE_BYTES, MONITOR_BYTES, PROCESS_RECORD_BYTES,
    RELATIONS_CHUNK, RELATIONS_FREE_BYTES, Runtime, SpawnError, SpawnOptions, State, WaitReason,
    status,
};

use crate::{RECEIVER, SELF_FLOOD, exit_of, wait_for_state};

const PAGE: usize = 64 << 10;

/// A runtime of one worker with a memory budget of `bytes`.
fn budgeted(bytes: usize) -> Runtime {
    Runtime::builder()
        .workers(1)
        .memory_budget(bytes)
        .build()
        .unwrap()
}

/// Grows its memory a page at a time until `memory.grow` fails; exits with its size in
/// pages.
const GROWER: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "main") (result i32)
    (loop $again
      (br_if $again (i32.ge_s (memory.grow (i32.const 1)) (i32.const 0))))
    (memory.size)))"#;

#[test]
fn a_memory_grow_past_the_budget_returns_minus_one_and_the_process_runs_on() {
    let budget = PROCESS_RECORD_BYTES + 10 * PAGE + PAGE / 2;
    let rt = budgeted(budget);
    let m = rt.compile_wat(GROWER).unwrap();
    let exit = exit_of(&rt.spawn(&m, "main", 0).unwrap());
    assert_eq!(exit.reason, ExitReason::Normal { code: 10 });
    let stats = rt.stats();
    assert_eq!(
        stats.memory_used, 0,
        "the record and the memory were given back"
    );
    assert_eq!(stats.memory_peak, PROCESS_RECORD_BYTES + 10 * PAGE);
    assert_eq!(stats.memory_budget, budget);
}

#[test]
fn a_spawn_past_the_budget_is_refused_with_a_typed_error_and_nothing_running_ends() {
    // Room for two receivers (a record and one page each) and not a third.
    let rt = budgeted(2 * (PROCESS_RECORD_BYTES + PAGE) + PAGE);
    let m = rt.compile_wat(RECEIVER).unwrap();
    let first = rt.spawn(&m, "main", 0).unwrap();
    let second = rt.spawn(&m, "main", 0).unwrap();
    for h in [&first, &second] {
        wait_for_state(&rt, h.pid(), State::Waiting(WaitReason::Receive));
    }
    let refused = rt.spawn(&m, "main", 0).unwrap_err();
    assert!(matches!(refused, SpawnError::MemoryBudget(_)), "{refused}");
    assert!(refused.to_string().contains("--memory-budget"), "{refused}");
    // A module whose initial memory alone does not fit is refused the same way.
    let large = rt
        .compile_wat(r#"(module (memory 64) (func (export "main")))"#)
        .unwrap();
    assert!(matches!(
        rt.spawn(&large, "main", 0),
        Err(SpawnError::MemoryBudget(_))
    ));
    // The two that fit still run, and when they end there is room again.
    for h in [&first, &second] {
        rt.send(h.pid(), 0, [1, 2, 3]).unwrap();
        assert_eq!(exit_of(h).reason, ExitReason::Normal { code: 3 });
    }
    let third = rt.spawn(&m, "main", 0).unwrap();
    rt.send(third.pid(), 0, []).unwrap();
    assert_eq!(exit_of(&third).reason, ExitReason::Normal { code: 0 });
    assert_eq!(rt.stats().memory_used, 0);
}

#[test]
fn a_send_past_the_budget_gets_over_budget_and_a_signal_still_arrives() {
    let budget = PROCESS_RECORD_BYTES + 2 * PAGE + 4 * PAGE;
    let rt = budgeted(budget);
    let m = rt.compile_wat(SELF_FLOOD).unwrap();
    let flooder = rt.spawn_with(&m, "main", 0, SpawnOptions::new()).unwrap();
    let code = match exit_of(&flooder).reason {
        ExitReason::Normal { code } => code,
        other => panic!("the flooder ends normally, got {other}"),
    };
    assert_eq!(code % 100, -status::OVER_BUDGET, "refused by the budget");
    assert!(
        code / 100 >= 2,
        "it sent until the budget was spent: {code}"
    );
    assert!(rt.stats().memory_peak <= budget);
    assert_eq!(
        rt.stats().memory_used,
        0,
        "its queued messages were given back"
    );

    // A native process fills what is left with its own mailbox, then monitors a guest:
    // the DOWN is queued past the budget.
    let rt = budgeted(3 * PROCESS_RECORD_BYTES + PAGE + 2 * PAGE);
    let quick = rt
        .compile_wat(r#"(module (func (export "main") (result i32) (i32.const 7)))"#)
        .unwrap();
    let child = rt.spawn(&quick, "main", 0).unwrap();
    let child_pid = child.pid();
    let watcher = rt
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            let mut refused = None;
            for _ in 0..1_000 {
                if let Err(e) = cx.send(cx.pid(), 1, vec![0; 16 << 10]) {
                    refused = Some(e);
                    break;
                }
            }
            assert!(
                matches!(refused, Some(shoal_scheduler::SendError::MemoryBudget(_))),
                "{refused:?}"
            );
            let reference = cx.monitor(child_pid);
            loop {
                let msg = cx.receive(None, None).await.unwrap();
                if msg.tag == reference.to_bits() && !msg.is_data() {
                    return 0;
                }
            }
        })
        .unwrap();
    exit_of(&child);
    assert_eq!(exit_of(&watcher).reason, ExitReason::Normal { code: 0 });
    assert_eq!(rt.stats().memory_used, 0);
}

#[test]
fn growers_racing_for_the_budget_end_normally_or_are_refused_at_spawn_never_as_host_errors() {
    let rt = Runtime::builder()
        .workers(2)
        .memory_budget(4 << 20)
        .build()
        .unwrap();
    let m = rt.compile_wat(GROWER).unwrap();
    let mut running = Vec::new();
    for _ in 0..64 {
        match rt.spawn(&m, "main", 0) {
            Ok(handle) => running.push(handle),
            Err(SpawnError::MemoryBudget(_)) => {}
            Err(other) => panic!("refused for another reason: {other}"),
        }
    }
    assert!(!running.is_empty());
    for handle in &running {
        let reason = exit_of(handle).reason;
        assert!(matches!(reason, ExitReason::Normal { .. }), "{reason}");
    }
    assert_eq!(rt.stats().memory_used, 0);
    assert!(rt.stats().memory_peak <= 4 << 20);
}

/// Monitors itself until `monitor` fails, then opens aliases until `alias` fails; each
/// failure must be `OVER_BUDGET` (else it exits with -1), and `monitor_alias` and
/// `monitor_node` must then be refused too (else -2). Exits with
/// `monitors * 10_000 + aliases`.
const RELATION_BOMB: &str = r#"(module
  (import "shoal" "self" (func $self (result i64)))
  (import "shoal" "monitor" (func $monitor (param i64) (result i64)))
  (import "shoal" "monitor_alias" (func $monitor_alias (param i64) (result i64)))
  (import "shoal" "monitor_node" (func $monitor_node (param i32) (result i64)))
  (import "shoal" "alias" (func $alias (result i64)))
  (memory (export "memory") 1)
  (func (export "main") (result i32)
    (local $r i64) (local $monitors i32) (local $aliases i32)
    (block $refused
      (loop $again
        (local.set $r (call $monitor (call $self)))
        (br_if $refused (i64.lt_s (local.get $r) (i64.const 0)))
        (local.set $monitors (i32.add (local.get $monitors) (i32.const 1)))
        (br $again)))
    (if (i64.ne (local.get $r) (i64.const -13)) (then (return (i32.const -1))))
    (block $refused
      (loop $again
        (local.set $r (call $alias))
        (br_if $refused (i64.lt_s (local.get $r) (i64.const 0)))
        (local.set $aliases (i32.add (local.get $aliases) (i32.const 1)))
        (br $again)))
    (if (i64.ne (local.get $r) (i64.const -13)) (then (return (i32.const -1))))
    (if (i64.ne (call $monitor_alias (call $self)) (i64.const -13))
      (then (return (i32.const -2))))
    (if (i64.ne (call $monitor_node (i32.const 7)) (i64.const -13))
      (then (return (i32.const -2))))
    (i32.add (i32.mul (local.get $monitors) (i32.const 10000)) (local.get $aliases))))"#;

#[test]
fn monitors_and_aliases_past_the_budget_are_refused_with_over_budget_and_given_back_at_exit() {
    // The record, one page, and two steps of relations: nothing left for the mailbox.
    let rt = budgeted(PROCESS_RECORD_BYTES + PAGE + 2 * RELATIONS_CHUNK);
    let m = rt.compile_wat(RELATION_BOMB).unwrap();
    let exit = exit_of(&rt.spawn(&m, "main", 0).unwrap());
    let monitors = (RELATIONS_FREE_BYTES + 2 * RELATIONS_CHUNK) / MONITOR_BYTES;
    let aliases = MAILBOX_FREE_BYTES / ALIAS_BYTES;
    assert_eq!(
        exit.reason,
        ExitReason::Normal {
            code: (monitors * 10_000 + aliases) as i32
        }
    );
    let stats = rt.stats();
    assert_eq!(
        stats.memory_used, 0,
        "every monitor and alias was given back"
    );
    assert_eq!(
        stats.memory_peak,
        PROCESS_RECORD_BYTES + PAGE + 2 * RELATIONS_CHUNK
    );
}
