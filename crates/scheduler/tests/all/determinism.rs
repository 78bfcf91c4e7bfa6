//! Deterministic mode: the same program gives the same schedule on every run.

use std::time::Duration;

use shoal_scheduler::{ExitReason, Runtime};

/// Children pack their report-to pid and their index into one argument:
/// `index << INDEX_SHIFT | pid`. Pids stay below 2^48 in these small runtimes.
const INDEX_SHIFT: u32 = 48;

/// `main(n)` collects `n` reports (tag = the reporter's index, 1..=9) and exits with the
/// indexes as decimal digits in arrival order. `sleeper` sleeps, spins a little, sleeps
/// again, then reports; `looper` spins across many fuel quanta, then reports.
const PROGRAM: &str = r#"(module
  (import "shoal" "sleep" (func $sleep (param i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_tag" (func $tag (result i64)))
  (memory (export "memory") 1)
  (func $spin (param $n i64)
    (loop $l
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $l (i64.gt_s (local.get $n) (i64.const 0)))))
  (func $report (param $arg i64)
    (drop (call $send
      (i64.and (local.get $arg) (i64.const 0xFFFFFFFFFFFF))
      (i64.shr_u (local.get $arg) (i64.const 48))
      (i32.const 0) (i32.const 0))))
  (func (export "main") (param $n i64) (result i32) (local $got i64) (local $order i32)
    (loop $r
      (if (i64.ge_s (call $receive (i64.const 5000)) (i64.const 0))
        (then
          (local.set $order (i32.add (i32.mul (local.get $order) (i32.const 10))
            (i32.wrap_i64 (call $tag))))
          (local.set $got (i64.add (local.get $got) (i64.const 1))))
        (else (return (i32.const -1))))
      (br_if $r (i64.lt_u (local.get $got) (local.get $n))))
    (local.get $order))
  (func (export "sleeper") (param $arg i64)
    (call $sleep (i64.const 30))
    (call $spin (i64.const 200000))
    (call $sleep (i64.const 10))
    (call $report (local.get $arg)))
  (func (export "looper") (param $arg i64)
    (call $spin (i64.const 3000000))
    (call $report (local.get $arg))))"#;

/// What one run observed: the schedule hash, and each process's exit reason and
/// counters, in spawn order.
#[derive(Debug, PartialEq)]
struct Run {
    hash: u64,
    processes: Vec<(ExitReason, u64, u64, u64, u64, [Duration; 3])>,
}

/// One deterministic run: a collector, then `children` (export names) reporting to it.
fn run(children: &[&str]) -> Run {
    let rt = Runtime::builder().deterministic(true).build().unwrap();
    let m = rt.compile_wat(PROGRAM).unwrap();
    let root = rt.spawn(&m, "main", children.len() as i64).unwrap();
    let root_bits = root.pid().to_bits();
    assert!(root_bits < 1 << INDEX_SHIFT);
    let mut handles = vec![root];
    for (i, export) in children.iter().enumerate() {
        let arg = ((i as i64 + 1) << INDEX_SHIFT) | root_bits as i64;
        handles.push(rt.spawn(&m, export, arg).unwrap());
    }
    // Built paused: nothing has run yet, so the schedule depends on the program alone.
    rt.start();
    let processes = handles
        .iter()
        .map(|h| {
            let exit = crate::exit_of(h);
            let a = exit.accounting;
            (
                exit.reason,
                a.fuel,
                a.quanta,
                a.preemptions,
                a.voluntary_yields,
                // On the virtual clock, time is a function of the schedule too.
                [a.runnable, a.running, a.waiting],
            )
        })
        .collect();
    Run {
        hash: rt
            .schedule_hash()
            .expect("deterministic mode has a schedule hash"),
        processes,
    }
}

const CHILDREN: [&str; 6] = [
    "sleeper", "looper", "sleeper", "looper", "sleeper", "looper",
];

#[test]
fn deterministic_runs_give_the_same_schedule_hash_and_accounting() {
    let first = run(&CHILDREN);
    // Every report arrived, and the processes really were preempted and waited.
    let ExitReason::Normal { code } = first.processes[0].0 else {
        panic!("{first:?}");
    };
    let mut order: Vec<char> = code.to_string().chars().collect();
    order.sort();
    assert_eq!(order, ['1', '2', '3', '4', '5', '6'], "{first:?}");
    assert!(first.processes.iter().all(|p| p.0.is_normal()), "{first:?}");
    assert!(
        first.processes.iter().any(|p| p.3 > 0),
        "loopers were preempted"
    );
    assert_eq!(run(&CHILDREN), first);
}

#[test]
fn a_different_program_gives_a_different_schedule_hash() {
    let mut reordered = CHILDREN;
    reordered.reverse();
    assert_ne!(run(&reordered).hash, run(&CHILDREN).hash);
}

#[test]
fn the_schedule_hash_is_only_kept_in_deterministic_mode() {
    let rt = crate::runtime(1, shoal_scheduler::Preemption::Fuel { quantum: 10_000 });
    assert_eq!(rt.schedule_hash(), None);
}

#[test]
fn sleeps_in_deterministic_mode_take_virtual_time() {
    // A 1,000 s sleep completes well within the hang guard; `now` moves by 1,000 s.
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
    let h = rt.spawn(&m, "main", 0).unwrap();
    rt.start();
    assert_eq!(
        crate::exit_of(&h).reason,
        ExitReason::Normal { code: 1_000 }
    );
}

#[test]
fn virtual_running_time_is_the_fuel_of_every_quantum() {
    // One virtual nanosecond per unit of fuel, stamped at the end of each quantum,
    // preempted or final: a process's running time is exactly its fuel.
    let rt = Runtime::builder()
        .deterministic(true)
        .preemption(shoal_scheduler::Preemption::Fuel { quantum: 10_000 })
        .build()
        .unwrap();
    let m = rt.compile_wat(crate::LOOP).unwrap();
    let handles: Vec<_> = (0..3)
        .map(|_| rt.spawn(&m, "main", 100_000).unwrap())
        .collect();
    rt.start();
    for h in handles {
        let a = crate::exit_of(&h).accounting;
        assert!(a.preemptions > 50, "{a:?}");
        assert_eq!(a.running.as_nanos(), u128::from(a.fuel), "{a:?}");
    }
}

#[test]
fn virtual_time_advances_by_exactly_the_fuel_consumed() {
    // A lone loop that reads the clock at its start and end: the difference is the fuel
    // it consumed in between, one virtual nanosecond per unit, however many quanta.
    let rt = Runtime::builder()
        .deterministic(true)
        .preemption(shoal_scheduler::Preemption::Fuel { quantum: 10_000 })
        .build()
        .unwrap();
    let m = rt
        .compile_wat(
            r#"(module
              (import "shoal" "now" (func $now (result i64)))
              (func (export "main") (param $n i64) (result i32) (local $t i64)
                (local.set $t (call $now))
                (loop $l
                  (local.set $n (i64.sub (local.get $n) (i64.const 1)))
                  (br_if $l (i64.gt_s (local.get $n) (i64.const 0))))
                (i32.wrap_i64 (i64.sub (call $now) (local.get $t)))))"#,
        )
        .unwrap();
    let h = rt.spawn(&m, "main", 100_000).unwrap();
    rt.start();
    let exit = crate::exit_of(&h);
    // Virtual time moves only when a quantum ends, by that quantum's fuel: the first
    // `now` runs in the first quantum and the second in the last, so they are apart by
    // the fuel of every preempted quantum, which is exactly one quantum each.
    let ExitReason::Normal { code } = exit.reason else {
        panic!("{}", exit.reason)
    };
    let quantum: u64 = 10_000;
    let preemptions = exit.accounting.preemptions;
    // 8 fuel per iteration; the last fuel check sees all but the final iteration.
    assert_eq!(preemptions, (exit.accounting.fuel - 8) / quantum);
    assert_eq!(preemptions, 79);
    assert_eq!(code as u64, preemptions * quantum);
}

/// A root that spawns eight monitored workers from the guest (`spawn_monitor`), each of
/// which computes for a while, reports to its parent and then exits or traps; the root
/// takes every report and every `DOWN` in arrival order and folds them into its exit code.
/// It exercises spawns from guests, fuel preemption, sends, receives, monitors and the
/// exit sequence: the hot paths a refactor of the scheduler could reorder.
const MONITORED_WORKERS: &str = r#"(module
  (import "shoal" "spawn_monitor" (func $spawn_monitor (param i32 i32 i64 i32) (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_tag" (func $tag (result i64)))
  (import "shoal" "message_kind" (func $kind (result i32)))
  (import "shoal" "parent" (func $parent (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "worker")
  (func $spin (param $n i64)
    (loop $l
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $l (i64.gt_s (local.get $n) (i64.const 0)))))
  (func (export "main") (result i32) (local $i i64) (local $seen i32) (local $fold i32)
    (loop $s
      (drop (call $spawn_monitor (i32.const 0) (i32.const 6) (local.get $i) (i32.const 64)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br_if $s (i64.lt_u (local.get $i) (i64.const 8))))
    (loop $r
      (if (i64.lt_s (call $receive (i64.const 10000)) (i64.const 0))
        (then (return (i32.const -1))))
      ;; fold = fold * 31 + (kind * 16 + tag, with tag 0 for a DOWN)
      (local.set $fold (i32.add (i32.mul (local.get $fold) (i32.const 31))
        (i32.add (i32.mul (call $kind) (i32.const 16))
          (select (i32.wrap_i64 (call $tag)) (i32.const 0) (i32.eqz (call $kind))))))
      (local.set $seen (i32.add (local.get $seen) (i32.const 1)))
      (br_if $r (i32.lt_u (local.get $seen) (i32.const 16))))
    (local.get $fold))
  (func (export "worker") (param $i i64)
    (call $spin (i64.mul (i64.sub (i64.const 8) (local.get $i)) (i64.const 60000)))
    (drop (call $send (call $parent) (local.get $i) (i32.const 0) (i32.const 0)))
    (if (i64.eq (i64.and (local.get $i) (i64.const 1)) (i64.const 1))
      (then unreachable))))"#;

/// The schedule hash and root exit of one deterministic run of [`MONITORED_WORKERS`].
fn monitored_workers_run() -> (u64, ExitReason) {
    let rt = Runtime::builder().deterministic(true).build().unwrap();
    let m = rt.compile_wat(MONITORED_WORKERS).unwrap();
    let root = rt.spawn(&m, "main", 0).unwrap();
    rt.start();
    let exit = crate::exit_of(&root);
    // The workers' exits are published before their DOWNs reach the root.
    (rt.schedule_hash().expect("deterministic"), exit.reason)
}

/// Pinned values: a change to the scheduler that reorders its decisions (which process
/// runs when, for how much fuel) changes these, and must say why in its commit. They
/// depend only on the programs and the scheduling rules, not on the machine.
const GOLDEN_SLEEPERS_AND_LOOPERS: u64 = 0x0e03_1de6_2079_8e79;
const GOLDEN_MONITORED_WORKERS: u64 = 0xe192_1cd0_abc2_f49c;
/// The root's exit code folds the arrival order of every report and `DOWN`.
const GOLDEN_MONITORED_WORKERS_FOLD: i32 = 2_019_071_844;

#[test]
fn fixed_programs_give_their_pinned_schedule_hashes() {
    let sleepers = run(&CHILDREN);
    let (workers, reason) = monitored_workers_run();
    assert_eq!(sleepers.hash, GOLDEN_SLEEPERS_AND_LOOPERS, "{sleepers:?}");
    assert_eq!(
        reason,
        ExitReason::Normal {
            code: GOLDEN_MONITORED_WORKERS_FOLD
        }
    );
    assert_eq!(workers, GOLDEN_MONITORED_WORKERS, "{workers:#018x}");
}
