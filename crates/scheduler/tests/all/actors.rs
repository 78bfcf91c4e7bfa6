//! Monitors, the registry, request/reply and per-pair ordering, from guests, native
//! processes and the host.

use std::time::Duration;

use shoal_scheduler::{
    ExitReason, MessageKind, Pid, RegisterError, SendError, SignalReason, SpawnOptions,
    split_request,
};

use crate::signals::ACTOR;
use crate::{epoch, exit_of, runtime, wait_until};

/// A guest that monitors the pid it is given twice, waits for both `DOWN`s (by their
/// references) and returns 10 per `DOWN` whose reason is kind `noproc` (5) or 1 per other.
const MONITOR: &str = r#"(module
  (import "shoal" "monitor" (func $monitor (param i64) (result i64)))
  (import "shoal" "receive_tag" (func $receive_tag (param i64 i64) (result i64)))
  (import "shoal" "message_kind" (func $kind (result i32)))
  (import "shoal" "message_read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $down (param $ref i64) (result i32)
    (drop (call $receive_tag (local.get $ref) (i64.const -1)))
    (if (i32.ne (call $kind) (i32.const 2)) (then unreachable))
    (drop (call $read (i32.const 0) (i32.const 5)))
    (select (i32.const 10) (i32.const 1) (i32.eq (i32.load8_u (i32.const 0)) (i32.const 5))))
  (func (export "main") (param $pid i64) (result i32)
    (local $a i64) (local $b i64)
    (local.set $a (call $monitor (local.get $pid)))
    (local.set $b (call $monitor (local.get $pid)))
    (if (i64.eq (local.get $a) (local.get $b)) (then unreachable))
    (i32.add (call $down (local.get $b)) (call $down (local.get $a)))))"#;

#[test]
fn a_guest_monitoring_a_dead_pid_gets_down_noproc_for_each_stacked_monitor() {
    let rt = runtime(2, epoch());
    let m = rt.compile_wat(MONITOR).unwrap();
    let dead = rt
        .spawn_native(SpawnOptions::new(), |_| async { 0 })
        .unwrap();
    exit_of(&dead);
    let g = rt.spawn(&m, "main", dead.pid().to_bits() as i64).unwrap();
    assert_eq!(exit_of(&g).reason, ExitReason::Normal { code: 20 });
}

#[test]
fn a_guest_with_two_monitors_on_a_live_process_gets_a_down_for_each() {
    let rt = runtime(2, epoch());
    let m = rt.compile_wat(MONITOR).unwrap();
    let target = rt
        .spawn_native(SpawnOptions::new(), |cx| async move {
            cx.receive(None, None).await;
            0
        })
        .unwrap();
    let g = rt.spawn(&m, "main", target.pid().to_bits() as i64).unwrap();
    crate::wait_for_state(
        &rt,
        g.pid(),
        shoal_scheduler::State::Waiting(shoal_scheduler::WaitReason::Receive),
    );
    rt.send(target.pid(), 0, vec![]).unwrap();
    assert_eq!(exit_of(&g).reason, ExitReason::Normal { code: 2 });
}

#[test]
fn a_native_monitor_gets_down_with_the_reason_and_demonitor_with_flush_removes_it() {
    let rt = runtime(2, epoch());
    let observer = rt
        .spawn_native(SpawnOptions::new(), |cx| async move {
            let victim = cx
                .spawn_native(SpawnOptions::new(), |v| async move {
                    v.receive(None, None).await;
                    0
                })
                .unwrap();
            let (r1, r2) = (cx.monitor(victim.pid()), cx.monitor(victim.pid()));
            assert_ne!(r1, r2, "monitors stack with fresh references");
            cx.exit(victim.pid(), SignalReason::Reason(ExitReason::Shutdown))
                .unwrap();
            let down = cx.receive(Some(r1.to_bits()), None).await.unwrap();
            assert_eq!(down.from, Some(victim.pid()));
            assert_eq!(
                down.kind,
                MessageKind::Down {
                    reference: r1,
                    reason: ExitReason::Shutdown
                }
            );
            // r2's DOWN is queued too; demonitor with flush removes it.
            victim.join().await;
            assert!(!cx.demonitor(r2, true), "it had fired");
            assert!(cx.try_receive(None).is_none(), "flushed");
            // A demonitor before the end means no DOWN at all.
            let other = cx
                .spawn_native(SpawnOptions::new(), |v| async move {
                    v.receive(None, None).await;
                    0
                })
                .unwrap();
            let r3 = cx.monitor(other.pid());
            assert!(cx.demonitor(r3, false));
            cx.send(other.pid(), 0, vec![]).unwrap();
            other.join().await;
            match cx.receive(None, Some(Duration::from_millis(20))).await {
                None => 0,
                Some(m) => panic!("unexpected {m:?}"),
            }
        })
        .unwrap();
    assert_eq!(exit_of(&observer).reason, ExitReason::Normal { code: 0 });
}

#[test]
fn a_name_is_released_when_its_process_dies_and_can_be_taken_again() {
    let rt = runtime(2, epoch());
    let m = rt.compile_wat(ACTOR).unwrap();
    let first = rt.spawn(&m, "waiting", -2).unwrap();
    rt.register("db", first.pid()).unwrap();
    assert_eq!(rt.whereis("db"), Some(first.pid()));
    rt.send_name("db", 0, vec![3]).unwrap();
    assert_eq!(exit_of(&first).reason, ExitReason::Normal { code: 3 });
    // Released before the exit was published.
    assert_eq!(rt.whereis("db"), None);
    assert_eq!(rt.registered(), 0);
    assert_eq!(
        rt.send_name("db", 0, vec![]),
        Err(SendError::NoName("db".into()))
    );
    let second = rt.spawn(&m, "waiting", -2).unwrap();
    rt.register("db", second.pid()).unwrap();
    assert_eq!(rt.whereis("db"), Some(second.pid()));
    rt.kill(second.pid()).unwrap();
    exit_of(&second);
    assert_eq!(rt.whereis("db"), None);
}

#[test]
fn a_second_register_of_a_live_name_fails_and_so_does_naming_a_dead_pid() {
    let rt = runtime(2, epoch());
    let m = rt.compile_wat(ACTOR).unwrap();
    let a = rt.spawn(&m, "waiting", -2).unwrap();
    let b = rt.spawn(&m, "waiting", -2).unwrap();
    rt.register("svc", a.pid()).unwrap();
    assert_eq!(
        rt.register("svc", b.pid()),
        Err(RegisterError::NameTaken {
            name: "svc".into(),
            holder: a.pid()
        })
    );
    assert!(matches!(
        rt.register("other", a.pid()),
        Err(RegisterError::AlreadyNamed { .. })
    ));
    assert_eq!(rt.unregister("svc"), Some(a.pid()));
    rt.register("svc", b.pid()).unwrap();
    rt.register("other", a.pid()).unwrap();
    let dead = rt
        .spawn_native(SpawnOptions::new(), |_| async { 0 })
        .unwrap();
    exit_of(&dead);
    assert_eq!(
        rt.register("late", dead.pid()),
        Err(RegisterError::NoProc(dead.pid()))
    );
}

/// A guest that registers itself under the name at 0..4 ("echo"), then answers one data
/// message by sending its bytes back to `send_name("boss")`, and exits with the status.
const NAMED: &str = r#"(module
  (import "shoal" "self" (func $self (result i64)))
  (import "shoal" "register" (func $register (param i32 i32 i64) (result i32)))
  (import "shoal" "send_name" (func $send_name (param i32 i32 i64 i32 i32) (result i32)))
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "echo")
  (data (i32.const 8) "boss")
  (func (export "main") (result i32)
    (local $len i32)
    (if (call $register (i32.const 0) (i32.const 4) (call $self)) (then unreachable))
    (local.set $len (i32.wrap_i64 (call $receive (i64.const -1))))
    (drop (call $read (i32.const 64) (local.get $len)))
    (call $send_name (i32.const 8) (i32.const 4) (i64.const 5) (i32.const 64) (local.get $len))))"#;

#[test]
fn guests_register_and_send_by_name() {
    let rt = runtime(2, epoch());
    let m = rt.compile_wat(NAMED).unwrap();
    let boss = rt
        .spawn_native(SpawnOptions::new(), |cx| async move {
            cx.register("boss").unwrap();
            let msg = cx.receive(None, None).await.unwrap();
            assert_eq!(msg.data, b"hello");
            msg.tag as i32
        })
        .unwrap();
    wait_until("boss to register", || rt.whereis("boss"));
    let echo = rt.spawn(&m, "main", 0).unwrap();
    let pid = wait_until("echo to register", || rt.whereis("echo"));
    assert_eq!(pid, echo.pid());
    rt.send_name("echo", 0, b"hello".to_vec()).unwrap();
    assert_eq!(exit_of(&echo).reason, ExitReason::Normal { code: 0 });
    assert_eq!(exit_of(&boss).reason, ExitReason::Normal { code: 5 });
    assert_eq!(rt.registered(), 0, "both names released");
}

#[test]
fn a_request_to_a_server_that_ends_before_replying_fails_at_once_with_its_reason() {
    let rt = runtime(2, epoch());
    // Takes one request, then crashes without replying.
    let server = rt
        .spawn_native(SpawnOptions::new(), |cx| async move {
            cx.receive(Some(1), None).await;
            let reason = ExitReason::Custom {
                code: 3,
                data: b"gone".to_vec(),
            };
            let _ = cx.exit(cx.pid(), shoal_scheduler::SignalReason::Reason(reason));
            cx.sleep(Duration::from_secs(3600)).await;
            0
        })
        .unwrap();
    let server = server.pid();
    let client = rt
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            let start = std::time::Instant::now();
            let answer = cx.request(server, 1, &[], Duration::from_secs(3600)).await;
            let expected = shoal_scheduler::RequestError::Ended(ExitReason::Custom {
                code: 3,
                data: b"gone".to_vec(),
            });
            assert_eq!(answer, Err(expected));
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "not at the timeout"
            );
            // Neither the DOWN nor anything else is left behind in the mailbox.
            i32::from(cx.receive(None, Some(Duration::ZERO)).await.is_some())
        })
        .unwrap();
    assert_eq!(exit_of(&client).reason, ExitReason::Normal { code: 0 });
}

#[test]
fn a_request_times_out_and_its_late_reply_is_dropped_not_received_later() {
    let rt = runtime(2, epoch());
    // A server that answers each request after the delay (ms) the request carries.
    let server = rt
        .spawn_native(SpawnOptions::new(), |cx| async move {
            loop {
                let Some(msg) = cx.receive(Some(1), None).await else {
                    return -1;
                };
                let (alias, body) = split_request(&msg.data).expect("a request");
                cx.sleep(Duration::from_millis(u64::from(body[0]))).await;
                let _ = cx.send(msg.from.unwrap(), alias.to_bits(), vec![body[0]]);
            }
        })
        .unwrap();
    let client = rt
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            let server = server.pid();
            // Too slow: times out.
            let slow = cx.request(server, 1, &[50], Duration::from_millis(5)).await;
            assert_eq!(slow, Err(shoal_scheduler::RequestError::Timeout));
            // Fast: answered. The slow reply arrives meanwhile and is dropped.
            let fast = cx
                .request(server, 1, &[0], Duration::from_secs(60))
                .await
                .unwrap();
            assert_eq!(fast.data, vec![0]);
            cx.sleep(Duration::from_millis(100)).await;
            // Nothing left: the late reply to the closed alias was never queued.
            match cx.receive(None, Some(Duration::ZERO)).await {
                None => 0,
                Some(m) => panic!("a late reply landed: {m:?}"),
            }
        })
        .unwrap();
    assert_eq!(exit_of(&client).reason, ExitReason::Normal { code: 0 });
}

#[test]
fn a_million_messages_from_eight_senders_arrive_in_each_senders_order() {
    const SENDERS: u64 = 8;
    const EACH: u64 = 125_000;
    let rt = runtime(2, epoch());
    let receiver = rt
        .spawn_native(SpawnOptions::new(), |cx| async move {
            let mut next = [0u64; SENDERS as usize];
            for _ in 0..SENDERS * EACH {
                let msg = cx.receive(None, None).await.unwrap();
                let seq = u64::from_le_bytes(msg.data[..8].try_into().unwrap());
                let sender = msg.tag as usize;
                assert_eq!(seq, next[sender], "sender {sender} out of order");
                next[sender] += 1;
            }
            assert!(next.iter().all(|n| *n == EACH));
            0
        })
        .unwrap();
    let to: Pid = receiver.pid();
    let senders: Vec<_> = (0..SENDERS)
        .map(|tag| {
            rt.spawn_native(SpawnOptions::new(), move |cx| async move {
                for seq in 0..EACH {
                    cx.send(to, tag, seq.to_le_bytes().to_vec()).unwrap();
                    if seq % 1024 == 0 {
                        cx.yield_now().await;
                    }
                }
                0
            })
            .unwrap()
        })
        .collect();
    for s in &senders {
        assert_eq!(exit_of(s).reason, ExitReason::Normal { code: 0 });
    }
    assert_eq!(exit_of(&receiver).reason, ExitReason::Normal { code: 0 });
}

/// `monitor_alias` of the pid given as its argument: a data message tagged with the
/// reference gets through (the alias), then, once the target ends on the message it is
/// sent, the `DOWN` with the same reference. 0, or the step that went wrong.
const MONITOR_ALIAS: &str = r#"(module
  (import "shoal" "self" (func $self (result i64)))
  (import "shoal" "monitor_alias" (func $monitor_alias (param i64) (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "shoal" "receive_tag" (func $receive_tag (param i64 i64) (result i64)))
  (import "shoal" "message_kind" (func $kind (result i32)))
  (memory (export "memory") 1)
  (func (export "main") (param $target i64) (result i32)
    (local $r i64)
    (local.set $r (call $monitor_alias (local.get $target)))
    (if (i64.lt_s (local.get $r) (i64.const 0)) (then (return (i32.const 1))))
    (drop (call $send (call $self) (local.get $r) (i32.const 0) (i32.const 3)))
    (if (i64.ne (call $receive_tag (local.get $r) (i64.const 0)) (i64.const 3)) (then (return (i32.const 2))))
    (if (i32.ne (call $kind) (i32.const 0)) (then (return (i32.const 3))))
    (drop (call $send (local.get $target) (i64.const 1) (i32.const 0) (i32.const 0)))
    (if (i64.lt_s (call $receive_tag (local.get $r) (i64.const -1)) (i64.const 0)) (then (return (i32.const 4))))
    (if (i32.ne (call $kind) (i32.const 2)) (then (return (i32.const 5))))
    (i32.const 0)))"#;

#[test]
fn a_monitor_alias_takes_a_reply_and_the_down_under_one_reference() {
    let rt = runtime(2, epoch());
    let target = rt
        .spawn_native(SpawnOptions::new(), |cx| async move {
            cx.receive(None, None).await;
            5
        })
        .unwrap();
    let m = rt.compile_wat(MONITOR_ALIAS).unwrap();
    let g = rt.spawn(&m, "main", target.pid().to_bits() as i64).unwrap();
    assert_eq!(exit_of(&g).reason, ExitReason::Normal { code: 0 });
    assert_eq!(exit_of(&target).reason, ExitReason::Normal { code: 5 });
}
