//! Ten thousand processes spawn, exchange messages and exit, and none is lost.

use shoal_scheduler::{ExitReason, Runtime};

use crate::{epoch, exit_of};

const N: usize = 10_000;

/// Receives `n` messages (the argument), then exits with how many it got.
const COLLECTOR: &str = r#"(module
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (memory (export "memory") 1)
  (func (export "main") (param $n i64) (result i32) (local $got i32)
    (block $done
      (loop $l
        (br_if $done (i64.ge_s (i64.extend_i32_u (local.get $got)) (local.get $n)))
        (br_if $done (i64.lt_s (call $receive (i64.const 60000)) (i64.const 0)))
        (local.set $got (i32.add (local.get $got) (i32.const 1)))
        (br $l)))
    (local.get $got)))"#;

/// Sends its own pid (8 bytes) to the collector (the argument) and exits with the
/// send status.
const WORKER: &str = r#"(module
  (import "shoal" "self" (func $self (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "main") (param $to i64) (result i32)
    (i64.store (i32.const 0) (call $self))
    (call $send (local.get $to) (i64.const 7) (i32.const 0) (i32.const 8))))"#;

#[test]
fn ten_thousand_processes_spawn_exchange_messages_and_exit() {
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
            "send status"
        );
    }
    assert_eq!(exit_of(&c).reason, ExitReason::Normal { code: N as i32 });
    let stats = rt.stats();
    assert_eq!(stats.spawned, N as u64 + 1);
    assert_eq!(stats.exited, N as u64 + 1);
    assert_eq!(stats.live, 0);
}
