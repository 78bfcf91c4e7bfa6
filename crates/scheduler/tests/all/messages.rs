//! Messages: ping-pong, timeouts, selective receive, dead pids, bounds.

use shoal_scheduler::{
    DEFAULT_MAILBOX_BYTES, ExitReason, Limit, MESSAGE_OVERHEAD, MessageKind, Pid, Runtime,
    SendError, SpawnOptions, State, WaitReason,
};

use crate::{RECEIVER, SELF_FLOOD, epoch, exit_of, runtime, wait_for_state};

/// `main(n)` spawns `pong` with its own pid, then sends n pings, each answered by a
/// pong; exits with the number of answers. `pong(to)` answers every ping until a
/// message with tag 0 arrives.
const PINGPONG: &str = r#"(module
  (import "shoal" "self" (func $self (result i64)))
  (import "shoal" "spawn" (func $spawn (param i32 i32 i64) (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_tag" (func $tag (result i64)))
  (import "shoal" "message_sender" (func $sender (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "pong")
  (func (export "main") (param $n i64) (result i32) (local $peer i64) (local $i i64) (local $got i32)
    (local.set $peer (call $spawn (i32.const 0) (i32.const 4) (call $self)))
    (if (i64.lt_s (local.get $peer) (i64.const 0)) (then (return (i32.const -100))))
    (block $done
      (loop $l
        (br_if $done (i64.ge_s (local.get $i) (local.get $n)))
        (drop (call $send (local.get $peer) (i64.const 1) (i32.const 0) (i32.const 0)))
        (br_if $done (i64.lt_s (call $receive (i64.const 60000)) (i64.const 0)))
        (if (i64.eq (call $sender) (local.get $peer))
          (then (local.set $got (i32.add (local.get $got) (i32.const 1)))))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $l)))
    (drop (call $send (local.get $peer) (i64.const 0) (i32.const 0) (i32.const 0)))
    (local.get $got))
  (func (export "pong") (param $to i64)
    (loop $l
      (drop (call $receive (i64.const -1)))
      (if (i64.ne (call $tag) (i64.const 0))
        (then
          (drop (call $send (local.get $to) (i64.const 2) (i32.const 0) (i32.const 0)))
          (br $l))))))"#;

#[test]
fn ping_pong_between_two_guests_counts_every_round_trip() {
    let rt = runtime(2, epoch());
    let m = rt.compile_wat(PINGPONG).unwrap();
    let h = rt.spawn(&m, "main", 1_000).unwrap();
    assert_eq!(exit_of(&h).reason, ExitReason::Normal { code: 1_000 });
    // The pong child ends on tag 0. Its exit is counted last, after its table slot is
    // freed (the executor's exit sequence), so wait for the count rather than for `live` to drop.
    crate::wait_until("the pong child to exit", || {
        (rt.stats().exited == 2).then_some(())
    });
    assert_eq!(rt.stats().live, 0);
}

#[test]
fn a_receive_times_out_with_the_timeout_status() {
    let rt = runtime(1, epoch());
    let m = rt
        .compile_wat(
            r#"(module
              (import "shoal" "receive" (func $receive (param i64) (result i64)))
              (func (export "main") (result i32) (i32.wrap_i64 (call $receive (i64.const 10)))))"#,
        )
        .unwrap();
    let exit = exit_of(&rt.spawn(&m, "main", 0).unwrap());
    assert_eq!(
        exit.reason,
        ExitReason::Normal {
            code: shoal_scheduler::status::TIMEOUT
        }
    );
    // It blocked (the exact wait is stamped when it blocked, after the timeout started).
    assert!(exit.accounting.waiting > std::time::Duration::ZERO);
}

#[test]
fn a_tag_filtered_receive_leaves_the_others_in_order() {
    // Takes the tag-2 messages first, then everything else in arrival order, and
    // returns the first byte of each as decimal digits: 24 then 135.
    let rt = runtime(1, epoch());
    let m = rt
        .compile_wat(
            r#"(module
              (import "shoal" "receive" (func $receive (param i64) (result i64)))
              (import "shoal" "receive_tag" (func $receive_tag (param i64 i64) (result i64)))
              (import "shoal" "message_read" (func $read (param i32 i32) (result i32)))
              (memory (export "memory") 1)
              (func $digit (param $acc i32) (result i32)
                (drop (call $read (i32.const 0) (i32.const 1)))
                (i32.add (i32.mul (local.get $acc) (i32.const 10)) (i32.load8_u (i32.const 0))))
              (func (export "main") (result i32) (local $acc i32)
                (drop (call $receive_tag (i64.const 2) (i64.const -1)))
                (local.set $acc (call $digit (local.get $acc)))
                (drop (call $receive_tag (i64.const 2) (i64.const -1)))
                (local.set $acc (call $digit (local.get $acc)))
                (drop (call $receive (i64.const -1)))
                (local.set $acc (call $digit (local.get $acc)))
                (drop (call $receive (i64.const -1)))
                (local.set $acc (call $digit (local.get $acc)))
                (drop (call $receive (i64.const -1)))
                (call $digit (local.get $acc))))"#,
        )
        .unwrap();
    // The host sends all five in order; whether they arrive before or during the first
    // receive_tag, the order the guest takes them in is the same.
    let h = rt.spawn(&m, "main", 0).unwrap();
    for (tag, byte) in [(1, 1u8), (2, 2), (1, 3), (2, 4), (3, 5)] {
        rt.send(h.pid(), tag, [byte]).unwrap();
    }
    assert_eq!(exit_of(&h).reason, ExitReason::Normal { code: 24_135 });
}

#[test]
fn tag_and_sender_of_a_host_message_are_reported() {
    let rt = runtime(1, epoch());
    let m = rt
        .compile_wat(
            r#"(module
              (import "shoal" "receive" (func $receive (param i64) (result i64)))
              (import "shoal" "message_tag" (func $tag (result i64)))
              (import "shoal" "message_sender" (func $sender (result i64)))
              (func (export "main") (result i32)
                (drop (call $receive (i64.const -1)))
                ;; tag * 10 + (sender == -1 for the host)
                (i32.wrap_i64 (i64.add (i64.mul (call $tag) (i64.const 10))
                  (i64.extend_i32_u (i64.eq (call $sender) (i64.const -1)))))))"#,
        )
        .unwrap();
    let h = rt.spawn(&m, "main", 0).unwrap();
    rt.send(h.pid(), 42, Vec::new()).unwrap();
    assert_eq!(exit_of(&h).reason, ExitReason::Normal { code: 421 });
}

#[test]
fn a_send_to_a_dead_pid_is_noproc_from_host_and_guest() {
    let rt = runtime(1, epoch());
    let receiver = rt.compile_wat(RECEIVER).unwrap();
    let dead = rt.spawn(&receiver, "main", 0).unwrap();
    rt.send(dead.pid(), 0, [1, 2]).unwrap();
    exit_of(&dead);
    assert_eq!(
        rt.send(dead.pid(), 0, [1]),
        Err(SendError::NoProc(dead.pid()))
    );
    let sender = rt.compile_wat(crate::SENDER).unwrap();
    let h = rt
        .spawn(&sender, "main", dead.pid().to_bits() as i64)
        .unwrap();
    assert_eq!(
        exit_of(&h).reason,
        ExitReason::Normal {
            code: shoal_scheduler::status::NOPROC
        }
    );
    // A pid that never existed is just as dead.
    assert_eq!(
        rt.send(Pid::new(9_999, 3), 0, []),
        Err(SendError::NoProc(Pid::new(9_999, 3)))
    );
}

/// Sleeps for a minute, never receiving: a mailbox that only fills.
const SLEEPS_A_MINUTE: &str = r#"(module
  (import "shoal" "sleep" (func $sleep (param i64)))
  (func (export "main") (call $sleep (i64.const 60000))))"#;

#[test]
fn a_bounded_mailbox_refuses_the_sender_when_full() {
    let rt = runtime(1, epoch());
    let m = rt.compile_wat(SLEEPS_A_MINUTE).unwrap();
    let h = rt
        .spawn_with(&m, "main", 0, SpawnOptions::new().mailbox_bound(2))
        .unwrap();
    wait_for_state(&rt, h.pid(), State::Waiting(WaitReason::Sleep));
    rt.send(h.pid(), 0, []).unwrap();
    rt.send(h.pid(), 0, []).unwrap();
    assert_eq!(
        rt.send(h.pid(), 0, []),
        Err(SendError::MailboxFull {
            pid: h.pid(),
            limit: Limit::Messages(2)
        })
    );
    assert_eq!(rt.process_info(h.pid()).unwrap().mailbox_len, 2);
    h.kill();
    exit_of(&h);
}

/// Checks that [`SELF_FLOOD`] in `rt` sends as many 64 KiB messages as `bound` bytes
/// hold, then gets `MAILBOX_FULL`.
fn assert_flood_stops_at(rt: &Runtime, bound: usize) {
    let m = rt.compile_wat(SELF_FLOOD).unwrap();
    let sent = bound / (MESSAGE_OVERHEAD + 65_536);
    assert_eq!(
        exit_of(&rt.spawn(&m, "main", 0).unwrap()).reason,
        ExitReason::Normal {
            code: sent as i32 * 100 - shoal_scheduler::status::MAILBOX_FULL
        }
    );
}

#[test]
fn a_flood_to_a_mailbox_that_is_never_read_stops_at_its_bound_in_bytes_with_mailbox_full() {
    let bound = 1 << 20;
    let rt = Runtime::builder()
        .workers(1)
        .mailbox_bytes(bound)
        .build()
        .unwrap();
    assert_flood_stops_at(&rt, bound);
}

#[test]
fn the_default_mailbox_is_bounded_in_bytes() {
    assert_flood_stops_at(&runtime(1, epoch()), DEFAULT_MAILBOX_BYTES);
}

#[test]
fn a_down_reaches_a_mailbox_full_of_data() {
    let rt = Runtime::builder()
        .workers(1)
        .mailbox_bytes(1_000)
        .build()
        .unwrap();
    let m = rt
        .compile_wat(r#"(module (func (export "main") (result i32) (i32.const 0)))"#)
        .unwrap();
    let child = rt.spawn(&m, "main", 0).unwrap();
    let child_pid = child.pid();
    let watcher = rt
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            let mut sent = 0;
            while cx.send(cx.pid(), 1, [0; 100]).is_ok() {
                sent += 1;
            }
            let reference = cx.monitor(child_pid);
            // Every data message first, then the DOWN the full mailbox still took.
            for _ in 0..sent {
                assert!(cx.receive(None, None).await.unwrap().is_data());
            }
            let down = cx.receive(None, None).await.unwrap();
            assert!(
                matches!(down.kind, MessageKind::Down { reference: r, .. } if r == reference),
                "{down:?}"
            );
            sent
        })
        .unwrap();
    exit_of(&child);
    let expected = (1_000 / (MESSAGE_OVERHEAD + 100)) as i32;
    assert_eq!(
        exit_of(&watcher).reason,
        ExitReason::Normal { code: expected }
    );
}

#[test]
fn a_mailbox_that_kills_when_full_ends_its_process_with_mailbox_overflow_and_its_monitor_says_so() {
    let rt = runtime(1, epoch());
    let m = rt.compile_wat(SLEEPS_A_MINUTE).unwrap();
    let options = SpawnOptions::new()
        .mailbox_bound(2)
        .kill_on_full_mailbox(true);
    let h = rt.spawn_with(&m, "main", 0, options).unwrap();
    let target = h.pid();
    wait_for_state(&rt, target, State::Waiting(WaitReason::Sleep));
    let watcher = rt
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            let reference = cx.monitor(target);
            let down = cx.receive(None, None).await.unwrap();
            let expected = MessageKind::Down {
                reference,
                reason: ExitReason::MailboxOverflow,
            };
            i32::from(down.kind == expected)
        })
        .unwrap();
    wait_for_state(&rt, watcher.pid(), State::Waiting(WaitReason::Receive));
    rt.send(target, 0, []).unwrap();
    rt.send(target, 0, []).unwrap();
    // The third finds the bound: the sender is not refused, the receiver ends.
    assert_eq!(rt.send(target, 0, []), Ok(()));
    assert_eq!(exit_of(&h).reason, ExitReason::MailboxOverflow);
    assert_eq!(exit_of(&watcher).reason, ExitReason::Normal { code: 1 });
}

#[test]
fn a_runtime_whose_mailboxes_kill_when_full_ends_a_self_flood_instead_of_refusing_it() {
    let rt = Runtime::builder()
        .workers(1)
        .mailbox_bytes(1 << 20)
        .kill_on_full_mailbox(true)
        .build()
        .unwrap();
    let m = rt.compile_wat(SELF_FLOOD).unwrap();
    let flood = rt.spawn(&m, "main", 0).unwrap();
    assert_eq!(exit_of(&flood).reason, ExitReason::MailboxOverflow);
    // A process spawned to refuse keeps the old behaviour beside it.
    let refusing = rt
        .spawn_with(
            &m,
            "main",
            0,
            SpawnOptions::new().kill_on_full_mailbox(false),
        )
        .unwrap();
    assert!(matches!(
        exit_of(&refusing).reason,
        ExitReason::Normal { .. }
    ));
}
