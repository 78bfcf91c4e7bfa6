//! Scale: ten thousand processes exchange messages and none is lost; a hundred thousand
//! pass through a small capacity, reusing every slot with a new generation; the
//! memory-mapping budget refuses guests with a typed error while native processes and
//! later guests still spawn.

use std::collections::HashMap;

use shoal_scheduler::{
    ExitReason, MAPPINGS_PER_GUEST, MappingBudget, MemoryLayout, Runtime, SpawnError, SpawnOptions,
};

use crate::{RECEIVER, epoch, exit_of};

const N: usize = 10_000;

/// `main(n)` receives `n` messages. Each must carry its sender's pid (8 bytes); the
/// collector echoes it back to that sender. Exits with the number received, or -1 at the
/// first message whose payload is not its sender or whose echo could not be sent.
const COLLECTOR: &str = r#"(module
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_read" (func $read (param i32 i32) (result i32)))
  (import "shoal" "message_sender" (func $sender (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "main") (param $n i64) (result i32) (local $got i32)
    (block $done
      (loop $l
        (br_if $done (i64.ge_s (i64.extend_i32_u (local.get $got)) (local.get $n)))
        (br_if $done (i64.ne (call $receive (i64.const 60000)) (i64.const 8)))
        (drop (call $read (i32.const 0) (i32.const 8)))
        (if (i64.ne (i64.load (i32.const 0)) (call $sender))
          (then (return (i32.const -1))))
        (if (call $send (call $sender) (i64.const 8) (i32.const 0) (i32.const 8))
          (then (return (i32.const -1))))
        (local.set $got (i32.add (local.get $got) (i32.const 1)))
        (br $l)))
    (local.get $got)))"#;

/// `main(collector)` sends its own pid (8 bytes) to the collector, then waits for the
/// echo. Exits with 0 if the echo is its own pid from the collector; otherwise with the
/// failed send's status, the receive's status, or 100 + which check failed.
const WORKER: &str = r#"(module
  (import "shoal" "self" (func $self (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_read" (func $read (param i32 i32) (result i32)))
  (import "shoal" "message_sender" (func $sender (result i64)))
  (memory (export "memory") 1)
  (func (export "main") (param $to i64) (result i32) (local $status i32) (local $len i64)
    (i64.store (i32.const 0) (call $self))
    (local.set $status (call $send (local.get $to) (i64.const 7) (i32.const 0) (i32.const 8)))
    (if (local.get $status) (then (return (local.get $status))))
    (local.set $len (call $receive (i64.const 60000)))
    (if (i64.lt_s (local.get $len) (i64.const 0))
      (then (return (i32.wrap_i64 (local.get $len)))))
    (if (i64.ne (local.get $len) (i64.const 8)) (then (return (i32.const 101))))
    (drop (call $read (i32.const 8) (i32.const 8)))
    (if (i64.ne (i64.load (i32.const 8)) (call $self)) (then (return (i32.const 102))))
    (if (i64.ne (call $sender) (local.get $to)) (then (return (i32.const 103))))
    (i32.const 0)))"#;

#[test]
fn ten_thousand_processes_exchange_messages_and_none_is_lost() {
    let rt = Runtime::builder()
        .workers(2)
        .preemption(epoch())
        .capacity(N + 1)
        .build()
        .unwrap();
    let collector = rt.compile_wat(COLLECTOR).unwrap();
    let worker = rt.compile_wat(WORKER).unwrap();
    let c = rt.spawn(&collector, "main", N as i64).unwrap();
    let to = c.pid().to_bits() as i64;
    let workers: Vec<_> = (0..N)
        .map(|_| rt.spawn(&worker, "main", to).unwrap())
        .collect();
    for w in &workers {
        assert_eq!(
            exit_of(w).reason,
            ExitReason::Normal { code: 0 },
            "{} got its own pid back",
            w.pid()
        );
    }
    assert_eq!(exit_of(&c).reason, ExitReason::Normal { code: N as i32 });
    let stats = rt.stats();
    assert_eq!(stats.spawned, N as u64 + 1);
    assert_eq!(stats.exited, N as u64 + 1);
    assert_eq!(stats.live, 0);
}

/// One page of memory that the guest writes, so that a reused memory slot that was not
/// zeroed would show: `main` returns the byte it found at address 0 before writing it.
const DIRTY: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "main") (result i32) (local $old i32)
    (local.set $old (i32.load8_u (i32.const 0)))
    (i32.store8 (i32.const 0) (i32.const 255))
    (i32.store8 (i32.const 65535) (i32.const 255))
    (local.get $old)))"#;

#[test]
fn a_hundred_thousand_processes_pass_through_a_thousand_slots_with_new_generations_and_zeroed_memory()
 {
    const TOTAL: usize = 100_000;
    const CAPACITY: usize = 1_000;
    let rt = Runtime::builder()
        .workers(2)
        .capacity(CAPACITY)
        .build()
        .unwrap();
    let m = rt.compile_wat(DIRTY).unwrap();
    let mut generations: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut batch = Vec::with_capacity(CAPACITY);
    for _ in 0..TOTAL / CAPACITY {
        batch.extend((0..CAPACITY).map(|_| rt.spawn(&m, "main", 0).unwrap()));
        for handle in batch.drain(..) {
            assert_eq!(
                exit_of(&handle).reason,
                ExitReason::Normal { code: 0 },
                "{} saw a byte left by an earlier process",
                handle.pid()
            );
            generations
                .entry(handle.pid().index())
                .or_default()
                .push(handle.pid().generation());
        }
    }
    // A process can exit while its batch is still being spawned, so a slot may serve
    // twice in one batch and how the uses spread over slots depends on the schedule.
    // What holds on every schedule: no more slots than the capacity, every use counted,
    // and each reuse under a new generation.
    assert!(
        generations.len() <= CAPACITY,
        "{} slots used, capacity {CAPACITY}",
        generations.len()
    );
    assert_eq!(generations.values().map(Vec::len).sum::<usize>(), TOTAL);
    for (index, gens) in &generations {
        assert!(
            gens.windows(2).all(|w| w[0] < w[1]),
            "slot {index} was reused with a new generation each time: {gens:?}"
        );
    }
    let stats = rt.stats();
    assert_eq!(
        (stats.spawned, stats.exited, stats.live),
        (TOTAL as u64, TOTAL as u64, 0)
    );
    assert!(
        stats.stack_slots <= CAPACITY,
        "{} stack slots",
        stats.stack_slots
    );
}

#[test]
fn a_spawn_past_the_mapping_budget_setting_is_a_typed_error_naming_the_setting() {
    let rt = Runtime::builder()
        .workers(1)
        .preemption(epoch())
        .capacity(10)
        .mapping_budget(3 * MAPPINGS_PER_GUEST)
        .build()
        .unwrap();
    assert_eq!(rt.stats().guest_limit, 3);
    let m = rt.compile_wat(RECEIVER).unwrap();
    let live: Vec<_> = (0..3).map(|_| rt.spawn(&m, "main", 0).unwrap()).collect();
    let error = rt.spawn(&m, "main", 0).unwrap_err();
    assert_eq!(
        error,
        SpawnError::MappingSetting {
            guests: 3,
            per_guest: MAPPINGS_PER_GUEST,
            setting: 3 * MAPPINGS_PER_GUEST,
            capacity: 10
        }
    );
    let message = error.to_string();
    assert!(
        message.contains("RuntimeBuilder::mapping_budget(6)") && !message.contains("sysctl"),
        "the setting is the limit, not the kernel: {message}"
    );
    // Native processes cost no mappings and still spawn.
    let native = rt
        .spawn_native(SpawnOptions::new(), |_| async { 5 })
        .unwrap();
    assert_eq!(exit_of(&native).reason, ExitReason::Normal { code: 5 });
    // A guest's exit frees its place.
    rt.send(live[0].pid(), 0, [1, 2]).unwrap();
    assert_eq!(exit_of(&live[0]).reason, ExitReason::Normal { code: 2 });
    let again = rt.spawn(&m, "main", 0).unwrap();
    rt.send(again.pid(), 0, []).unwrap();
    assert_eq!(exit_of(&again).reason, ExitReason::Normal { code: 0 });
}

#[test]
fn the_kernel_mapping_budget_error_names_the_sysctl_that_raises_it() {
    let budget = MappingBudget::of_host();
    let wanted = budget.max_map_count_for(1_000_000, MemoryLayout::Dense);
    let error = SpawnError::MappingBudget {
        guests: budget.guests(MemoryLayout::Dense),
        per_guest: MAPPINGS_PER_GUEST,
        max_map_count: budget.max_map_count,
        wanted,
        capacity: 1_000_000,
    };
    assert!(wanted > 1_000_000 * MAPPINGS_PER_GUEST);
    let message = error.to_string();
    assert!(
        message.contains(&format!("vm.max_map_count = {}", budget.max_map_count))
            && message.contains(&format!("sysctl -w vm.max_map_count={wanted}")),
        "{message}"
    );
}

#[test]
fn a_mapping_budget_larger_than_the_kernel_allows_is_refused_by_name() {
    let error = Runtime::builder()
        .mapping_budget(usize::MAX / 2)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            error,
            shoal_scheduler::ConfigError::Invalid {
                setting: "mapping_budget",
                ..
            }
        ),
        "{error}"
    );
}
