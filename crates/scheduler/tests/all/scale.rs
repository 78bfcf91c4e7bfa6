//! Ten thousand processes spawn, exchange messages and exit, and none is lost.

use shoal_scheduler::{ExitReason, Runtime};

use crate::{epoch, exit_of};

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
