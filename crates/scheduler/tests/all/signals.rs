//! Exit signals: one test per row of Erlang's table (docs/ABI.md), for each pairing of
//! guest and native processes and the host, and a chain of links brought down by one trap.

use std::time::Duration;

use shoal_scheduler::{
    ExitReason, MessageKind, Module, NativeContext, Pid, ProcessHandle, Runtime, SignalReason,
    SpawnOptions, State, TrapCode, WaitReason,
};

use crate::{epoch, exit_of, runtime, wait_for_state};

/// Guests for every row. `report` takes the next message and returns
/// `1000 (if from the expected pid) + kind * 100 + its first byte`: an `EXIT` with a normal
/// reason from the expected pid is 1100, a data message `[9]` from someone else is 9.
pub const ACTOR: &str = r#"(module
  (import "shoal" "self" (func $self (result i64)))
  (import "shoal" "link" (func $link (param i64) (result i32)))
  (import "shoal" "trap_exit" (func $trap_exit (param i32) (result i32)))
  (import "shoal" "exit_signal" (func $exit_signal (param i64 i32 i32 i32 i32) (result i32)))
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_kind" (func $kind (result i32)))
  (import "shoal" "message_sender" (func $sender (result i64)))
  (import "shoal" "message_read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "why")
  (func $report (param $expect i64) (result i32)
    (drop (call $receive (i64.const -1)))
    (drop (call $read (i32.const 0) (i32.const 1)))
    (i32.add
      (select (i32.const 1000) (i32.const 0) (i64.eq (call $sender) (local.get $expect)))
      (i32.add (i32.mul (call $kind) (i32.const 100)) (i32.load8_u (i32.const 0)))))
  (func (export "linked") (param $pid i64) (result i32)
    (drop (call $link (local.get $pid)))
    (call $report (local.get $pid)))
  (func (export "linked_trapping") (param $pid i64) (result i32)
    (drop (call $trap_exit (i32.const 1)))
    (drop (call $link (local.get $pid)))
    (call $report (local.get $pid)))
  (func (export "waiting") (param $from i64) (result i32)
    (call $report (local.get $from)))
  (func (export "waiting_trapping") (param $from i64) (result i32)
    (drop (call $trap_exit (i32.const 1)))
    (call $report (local.get $from)))
  (func (export "ender") (param $how i64) (result i32)
    (drop (call $receive (i64.const -1)))
    (if (i64.eq (local.get $how) (i64.const 1)) (then unreachable))
    (i32.const 0))
  (func (export "kill") (param $pid i64) (result i32)
    (call $exit_signal (local.get $pid) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 0)))
  (func (export "custom") (param $pid i64) (result i32)
    (call $exit_signal (local.get $pid) (i32.const 8) (i32.const 42) (i32.const 64) (i32.const 3)))
  (func (export "normal") (param $pid i64) (result i32)
    (call $exit_signal (local.get $pid) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
  (func (export "self_normal") (param $trap i64) (result i32)
    (drop (call $trap_exit (i32.wrap_i64 (local.get $trap))))
    (drop (call $exit_signal (call $self) (i32.const 0) (i32.const 7) (i32.const 0) (i32.const 0)))
    unreachable)
  (func (export "link_chain") (param $next i64) (result i32)
    (if (i64.ge_s (local.get $next) (i64.const 0)) (then (drop (call $link (local.get $next)))))
    (drop (call $receive (i64.const -1)))
    unreachable))"#;

const NORMAL: ExitReason = ExitReason::Normal { code: 0 };

fn custom() -> ExitReason {
    ExitReason::Custom {
        code: 42,
        data: b"why".to_vec(),
    }
}

fn unreachable_trap(reason: &ExitReason) -> bool {
    matches!(
        reason,
        ExitReason::Trap {
            code: TrapCode::UnreachableCodeReached,
            ..
        }
    )
}

struct Rig {
    rt: Runtime,
    m: Module,
}

impl Rig {
    fn new() -> Rig {
        let rt = runtime(2, epoch());
        let m = rt.compile_wat(ACTOR).unwrap();
        Rig { rt, m }
    }

    fn guest(&self, export: &str, arg: i64) -> ProcessHandle {
        self.rt.spawn(&self.m, export, arg).unwrap()
    }

    fn waiting(&self, handle: &ProcessHandle) {
        wait_for_state(&self.rt, handle.pid(), State::Waiting(WaitReason::Receive));
    }

    /// Asserts `handle` is alive and still waiting for a message: the signal was dropped.
    /// Then proves it with a data message, which it reports.
    fn assert_dropped(&self, handle: &ProcessHandle) {
        assert!(handle.try_exit().is_none(), "{} ended", handle.pid());
        self.waiting(handle);
        self.rt.send(handle.pid(), 0, vec![9]).unwrap();
        assert_eq!(exit_of(handle).reason, ExitReason::Normal { code: 9 });
    }

    fn native(
        &self,
        f: impl FnOnce(NativeContext) -> std::pin::Pin<Box<dyn Future<Output = i32> + Send>>,
    ) -> ProcessHandle {
        self.rt.spawn_native(SpawnOptions::new(), f).unwrap()
    }
}

fn bits(pid: Pid) -> i64 {
    pid.to_bits() as i64
}

/// A native process that sets `trap`, links to `to` if given, and reports its next
/// message like the guests' `report`.
fn native_reporter(rig: &Rig, trap: bool, link: Option<Pid>, expect: Option<Pid>) -> ProcessHandle {
    rig.native(move |cx| {
        Box::pin(async move {
            cx.trap_exit(trap);
            if let Some(pid) = link {
                cx.link(pid);
            }
            let msg = cx.receive(None, None).await.unwrap();
            let kind = match msg.kind {
                MessageKind::Data => 0,
                MessageKind::Exit { .. } => 1,
                MessageKind::Down { .. } => 2,
            };
            let from = if msg.from.is_some() && msg.from == expect {
                1000
            } else {
                0
            };
            from + kind * 100 + i32::from(msg.data[0])
        })
    })
}

/// A native process that ends on its first message: normally (code 0), or with a custom
/// reason by an exit signal to itself.
fn native_ender(rig: &Rig, abnormal: bool) -> ProcessHandle {
    rig.native(move |cx| {
        Box::pin(async move {
            cx.receive(None, None).await;
            if abnormal {
                cx.exit(cx.pid(), SignalReason::Reason(custom())).unwrap();
                // Killed by the signal at this await, which never completes.
                cx.receive(None, None).await;
                return -1;
            }
            0
        })
    })
}

// ---- guest ↔ guest ----

#[test]
fn guest_a_linked_normal_exit_is_dropped_by_a_guest_not_trapping() {
    let rig = Rig::new();
    let ender = rig.guest("ender", 0);
    let linked = rig.guest("linked", bits(ender.pid()));
    rig.waiting(&linked);
    rig.rt.send(ender.pid(), 0, vec![0]).unwrap();
    assert_eq!(exit_of(&ender).reason, NORMAL);
    rig.assert_dropped(&linked);
}

#[test]
fn guest_a_linked_normal_exit_is_a_message_to_a_guest_trapping_exits() {
    let rig = Rig::new();
    let ender = rig.guest("ender", 0);
    let linked = rig.guest("linked_trapping", bits(ender.pid()));
    rig.waiting(&linked);
    rig.rt.send(ender.pid(), 0, vec![0]).unwrap();
    assert_eq!(exit_of(&linked).reason, ExitReason::Normal { code: 1100 });
}

#[test]
fn guest_a_linked_trap_kills_a_guest_with_the_same_reason() {
    let rig = Rig::new();
    let ender = rig.guest("ender", 1);
    let linked = rig.guest("linked", bits(ender.pid()));
    rig.waiting(&linked);
    rig.rt.send(ender.pid(), 0, vec![0]).unwrap();
    let reason = exit_of(&ender).reason;
    assert!(unreachable_trap(&reason), "{reason}");
    assert_eq!(exit_of(&linked).reason, reason);
}

#[test]
fn guest_a_linked_trap_is_a_message_to_a_guest_trapping_exits() {
    let rig = Rig::new();
    let ender = rig.guest("ender", 1);
    let linked = rig.guest("linked_trapping", bits(ender.pid()));
    rig.waiting(&linked);
    rig.rt.send(ender.pid(), 0, vec![0]).unwrap();
    // EXIT (1) with a trap reason (kind 1) from the linked pid.
    assert_eq!(exit_of(&linked).reason, ExitReason::Normal { code: 1101 });
}

#[test]
fn guest_kill_cannot_be_trapped_by_a_guest() {
    let rig = Rig::new();
    for export in ["waiting", "waiting_trapping"] {
        let target = rig.guest(export, -2);
        rig.waiting(&target);
        let killer = rig.guest("kill", bits(target.pid()));
        assert_eq!(exit_of(&killer).reason, NORMAL, "the signal was sent");
        assert_eq!(exit_of(&target).reason, ExitReason::Killed, "{export}");
    }
}

#[test]
fn guest_an_exit_with_a_reason_kills_a_guest_not_trapping_with_that_reason() {
    let rig = Rig::new();
    let target = rig.guest("waiting", -2);
    rig.waiting(&target);
    let sender = rig.guest("custom", bits(target.pid()));
    assert_eq!(exit_of(&sender).reason, NORMAL);
    assert_eq!(exit_of(&target).reason, custom());
}

#[test]
fn guest_an_exit_with_a_reason_is_a_message_to_a_guest_trapping_exits() {
    let rig = Rig::new();
    let target = rig.guest("waiting_trapping", -2);
    rig.waiting(&target);
    let sender = rig.guest("custom", bits(target.pid()));
    assert_eq!(exit_of(&sender).reason, NORMAL);
    assert_eq!(exit_of(&target).reason, ExitReason::Normal { code: 108 });
}

#[test]
fn guest_an_exit_normal_from_another_guest_is_dropped_unless_trapped() {
    let rig = Rig::new();
    let plain = rig.guest("waiting", -2);
    let trapping = rig.guest("waiting_trapping", -2);
    rig.waiting(&plain);
    rig.waiting(&trapping);
    for target in [&plain, &trapping] {
        let sender = rig.guest("normal", bits(target.pid()));
        assert_eq!(exit_of(&sender).reason, NORMAL);
    }
    assert_eq!(exit_of(&trapping).reason, ExitReason::Normal { code: 100 });
    rig.assert_dropped(&plain);
}

#[test]
fn guest_an_exit_normal_to_itself_ends_a_guest_normally_even_when_trapping() {
    let rig = Rig::new();
    for trap in [0, 1] {
        let g = rig.guest("self_normal", trap);
        assert_eq!(exit_of(&g).reason, ExitReason::Normal { code: 7 });
    }
}

#[test]
fn a_guest_linking_to_a_dead_pid_dies_noproc_or_gets_exit_noproc_when_trapping() {
    let rig = Rig::new();
    let dead = rig.guest("ender", 0);
    rig.rt.send(dead.pid(), 0, vec![0]).unwrap();
    exit_of(&dead);
    let plain = rig.guest("linked", bits(dead.pid()));
    assert_eq!(exit_of(&plain).reason, ExitReason::NoProc);
    let trapping = rig.guest("linked_trapping", bits(dead.pid()));
    // EXIT (1) with reason noproc (kind 5) from the dead pid.
    assert_eq!(exit_of(&trapping).reason, ExitReason::Normal { code: 1105 });
}

// ---- host ↔ guest: the host's exit signals, and links between guests and native ----

#[test]
fn host_kill_cannot_be_trapped_by_a_guest() {
    let rig = Rig::new();
    let target = rig.guest("waiting_trapping", -2);
    rig.waiting(&target);
    rig.rt.exit(target.pid(), SignalReason::Kill).unwrap();
    assert_eq!(exit_of(&target).reason, ExitReason::Killed);
}

#[test]
fn host_an_exit_with_a_reason_kills_a_guest_or_is_a_message_when_trapping() {
    let rig = Rig::new();
    let plain = rig.guest("waiting", -2);
    let trapping = rig.guest("waiting_trapping", -1);
    rig.waiting(&plain);
    rig.waiting(&trapping);
    for target in [&plain, &trapping] {
        let reason = SignalReason::Reason(ExitReason::Shutdown);
        rig.rt.exit(target.pid(), reason).unwrap();
    }
    assert_eq!(exit_of(&plain).reason, ExitReason::Shutdown);
    // From the host: the sender is -1, which the guest expected.
    assert_eq!(exit_of(&trapping).reason, ExitReason::Normal { code: 1106 });
}

#[test]
fn host_an_exit_normal_is_dropped_by_a_guest_unless_trapped() {
    let rig = Rig::new();
    let plain = rig.guest("waiting", -2);
    let trapping = rig.guest("waiting_trapping", -2);
    rig.waiting(&plain);
    rig.waiting(&trapping);
    for target in [&plain, &trapping] {
        rig.rt
            .exit(target.pid(), SignalReason::Reason(NORMAL))
            .unwrap();
    }
    assert_eq!(exit_of(&trapping).reason, ExitReason::Normal { code: 100 });
    rig.assert_dropped(&plain);
}

#[test]
fn host_an_exit_signal_to_a_dead_pid_is_noproc() {
    let rig = Rig::new();
    let g = rig.guest("self_normal", 0);
    exit_of(&g);
    assert!(rig.rt.exit(g.pid(), SignalReason::Kill).is_err());
}

#[test]
fn native_linked_to_a_guest_gets_its_trap_as_a_message_when_trapping_and_dies_otherwise() {
    let rig = Rig::new();
    let ender = rig.guest("ender", 1);
    let trapping = native_reporter(&rig, true, Some(ender.pid()), Some(ender.pid()));
    let plain = native_reporter(&rig, false, Some(ender.pid()), None);
    rig.waiting(&trapping);
    rig.waiting(&plain);
    rig.rt.send(ender.pid(), 0, vec![0]).unwrap();
    let reason = exit_of(&ender).reason;
    assert_eq!(exit_of(&trapping).reason, ExitReason::Normal { code: 1101 });
    assert_eq!(exit_of(&plain).reason, reason);
}

#[test]
fn a_guest_linked_to_a_native_process_follows_its_normal_and_abnormal_ends() {
    let rig = Rig::new();
    // Normal: dropped by the plain guest, a message to the trapping one.
    let ender = native_ender(&rig, false);
    let plain = rig.guest("linked", bits(ender.pid()));
    let trapping = rig.guest("linked_trapping", bits(ender.pid()));
    rig.waiting(&plain);
    rig.waiting(&trapping);
    rig.rt.send(ender.pid(), 0, vec![0]).unwrap();
    assert_eq!(exit_of(&ender).reason, NORMAL);
    assert_eq!(exit_of(&trapping).reason, ExitReason::Normal { code: 1100 });
    rig.assert_dropped(&plain);
    // Abnormal: the plain guest dies with the same reason.
    let ender = native_ender(&rig, true);
    let plain = rig.guest("linked", bits(ender.pid()));
    let trapping = rig.guest("linked_trapping", bits(ender.pid()));
    rig.waiting(&plain);
    rig.waiting(&trapping);
    rig.rt.send(ender.pid(), 0, vec![0]).unwrap();
    assert_eq!(exit_of(&ender).reason, custom());
    assert_eq!(exit_of(&plain).reason, custom());
    assert_eq!(exit_of(&trapping).reason, ExitReason::Normal { code: 1108 });
}

// ---- native ↔ native ----

#[test]
fn native_a_linked_normal_exit_is_dropped_unless_trapped() {
    let rig = Rig::new();
    let ender = native_ender(&rig, false);
    let plain = native_reporter(&rig, false, Some(ender.pid()), None);
    let trapping = native_reporter(&rig, true, Some(ender.pid()), Some(ender.pid()));
    rig.waiting(&plain);
    rig.waiting(&trapping);
    rig.rt.send(ender.pid(), 0, vec![0]).unwrap();
    assert_eq!(exit_of(&ender).reason, NORMAL);
    assert_eq!(exit_of(&trapping).reason, ExitReason::Normal { code: 1100 });
    rig.assert_dropped(&plain);
}

#[test]
fn native_a_linked_abnormal_exit_kills_with_its_reason_unless_trapped() {
    let rig = Rig::new();
    let ender = native_ender(&rig, true);
    let plain = native_reporter(&rig, false, Some(ender.pid()), None);
    let trapping = native_reporter(&rig, true, Some(ender.pid()), Some(ender.pid()));
    rig.waiting(&plain);
    rig.waiting(&trapping);
    rig.rt.send(ender.pid(), 0, vec![0]).unwrap();
    assert_eq!(exit_of(&ender).reason, custom());
    assert_eq!(exit_of(&plain).reason, custom());
    assert_eq!(exit_of(&trapping).reason, ExitReason::Normal { code: 1108 });
}

/// A native process that sends `reason` to `to` as an exit signal, then ends.
fn native_signaller(rig: &Rig, to: Pid, reason: SignalReason) -> ProcessHandle {
    rig.native(move |cx| {
        Box::pin(async move {
            match cx.exit(to, reason) {
                Ok(()) => 0,
                Err(_) => -1,
            }
        })
    })
}

#[test]
fn native_kill_cannot_be_trapped() {
    let rig = Rig::new();
    for trap in [false, true] {
        let target = native_reporter(&rig, trap, None, None);
        rig.waiting(&target);
        let killer = native_signaller(&rig, target.pid(), SignalReason::Kill);
        assert_eq!(exit_of(&killer).reason, NORMAL);
        assert_eq!(exit_of(&target).reason, ExitReason::Killed, "trap {trap}");
    }
}

#[test]
fn native_an_exit_with_a_reason_kills_unless_trapped() {
    let rig = Rig::new();
    let plain = native_reporter(&rig, false, None, None);
    rig.waiting(&plain);
    let trapping = native_reporter(&rig, true, None, None);
    rig.waiting(&trapping);
    for target in [&plain, &trapping] {
        let s = native_signaller(&rig, target.pid(), SignalReason::Reason(custom()));
        assert_eq!(exit_of(&s).reason, NORMAL);
    }
    assert_eq!(exit_of(&plain).reason, custom());
    assert_eq!(exit_of(&trapping).reason, ExitReason::Normal { code: 108 });
}

#[test]
fn native_an_exit_normal_from_another_is_dropped_unless_trapped() {
    let rig = Rig::new();
    let plain = native_reporter(&rig, false, None, None);
    let trapping = native_reporter(&rig, true, None, None);
    rig.waiting(&plain);
    rig.waiting(&trapping);
    for target in [&plain, &trapping] {
        let s = native_signaller(&rig, target.pid(), SignalReason::Reason(NORMAL));
        assert_eq!(exit_of(&s).reason, NORMAL);
    }
    assert_eq!(exit_of(&trapping).reason, ExitReason::Normal { code: 100 });
    rig.assert_dropped(&plain);
}

#[test]
fn native_an_exit_normal_to_itself_ends_normally_even_when_trapping() {
    let rig = Rig::new();
    for trap in [false, true] {
        let p = rig.native(move |cx| {
            Box::pin(async move {
                cx.trap_exit(trap);
                cx.exit(
                    cx.pid(),
                    SignalReason::Reason(ExitReason::Normal { code: 7 }),
                )
                .unwrap();
                cx.sleep(Duration::from_secs(3600)).await;
                -1
            })
        });
        assert_eq!(exit_of(&p).reason, ExitReason::Normal { code: 7 });
    }
}

// ---- propagation ----

#[test]
fn a_chain_of_ten_thousand_links_comes_down_with_the_reason_of_the_trap_at_its_end() {
    const N: usize = 10_000;
    let rig = Rig::new();
    // Each process links to the one spawned before it; the first links to nobody.
    let mut chain: Vec<ProcessHandle> = Vec::with_capacity(N);
    for i in 0..N {
        let next = chain.last().map_or(-1, |h| bits(h.pid()));
        chain.push(rig.guest("link_chain", next));
        if i % 1000 == 999 {
            rig.waiting(chain.last().unwrap());
        }
    }
    for h in &chain {
        rig.waiting(h);
    }
    // The last one traps (`unreachable` after its receive).
    let last = chain.last().unwrap();
    rig.rt.send(last.pid(), 0, vec![0]).unwrap();
    let reason = exit_of(last).reason;
    assert!(unreachable_trap(&reason), "{reason}");
    for h in &chain {
        assert_eq!(exit_of(h).reason, reason, "{}", h.pid());
    }
    assert_eq!(rig.rt.stats().live, 0);
}

#[test]
fn a_native_exit_signal_to_itself_takes_effect_even_if_it_returns_at_once() {
    let rig = Rig::new();
    let p = rig.native(|cx| {
        Box::pin(async move {
            cx.exit(cx.pid(), SignalReason::Reason(custom())).unwrap();
            0
        })
    });
    assert_eq!(exit_of(&p).reason, custom());
}
