//! Native processes: Rust futures with a pid and a mailbox, beside the guests.

use std::time::Duration;

use shoal_scheduler::{ExitReason, SendError, SpawnOptions, State, WaitReason};

use crate::{SENDER, epoch, exit_of, runtime, wait_for_state};

#[test]
fn a_guest_sends_to_a_native_process_which_sees_the_sender_and_bytes() {
    let rt = runtime(2, epoch());
    let m = rt.compile_wat(SENDER).unwrap();
    let native = rt
        .spawn_native(SpawnOptions::new(), |cx| async move {
            let msg = cx.receive(None, None).await.expect("no timeout");
            msg.data.len() as i32 * 100 + msg.tag as i32
        })
        .unwrap();
    let guest = rt.spawn(&m, "main", native.pid().to_bits() as i64).unwrap();
    assert_eq!(exit_of(&guest).reason, ExitReason::Normal { code: 0 });
    assert_eq!(exit_of(&native).reason, ExitReason::Normal { code: 501 });
}

#[test]
fn a_waiting_native_process_is_waiting_in_receive_and_holds_no_worker() {
    let rt = runtime(1, epoch());
    let native = rt
        .spawn_native(SpawnOptions::new(), |cx| async move {
            cx.receive(Some(7), None)
                .await
                .map_or(-1, |m| m.data[0] as i32)
        })
        .unwrap();
    wait_for_state(&rt, native.pid(), State::Waiting(WaitReason::Receive));
    // The only worker is free: a second native process runs to its end meanwhile.
    let other = rt
        .spawn_native(SpawnOptions::new(), |_| async { 3 })
        .unwrap();
    assert_eq!(exit_of(&other).reason, ExitReason::Normal { code: 3 });
    rt.send(native.pid(), 6, vec![1]).unwrap(); // wrong tag: stays queued
    rt.send(native.pid(), 7, vec![42]).unwrap();
    assert_eq!(exit_of(&native).reason, ExitReason::Normal { code: 42 });
}

#[test]
fn a_native_receive_times_out_with_none_after_its_timeout() {
    let rt = runtime(1, epoch());
    let native = rt
        .spawn_native(SpawnOptions::new(), |cx| async move {
            let before = cx.now();
            let got = cx.receive(None, Some(Duration::from_millis(20))).await;
            let waited = cx.now() - before;
            match got {
                Some(_) => -1,
                None if waited >= Duration::from_millis(20) => 0,
                None => -2,
            }
        })
        .unwrap();
    assert_eq!(exit_of(&native).reason, ExitReason::Normal { code: 0 });
}

#[test]
fn a_native_process_spawns_a_guest_and_hears_back_from_it() {
    let rt = runtime(2, epoch());
    let m = rt.compile_wat(SENDER).unwrap();
    let native = rt
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            let child = cx.spawn(&m, "main", cx.pid().to_bits() as i64).unwrap();
            let msg = cx.receive(None, None).await.unwrap();
            i32::from(msg.from == Some(child.pid()))
        })
        .unwrap();
    assert_eq!(exit_of(&native).reason, ExitReason::Normal { code: 1 });
}

#[test]
fn a_panicking_native_process_ends_as_host_error_with_the_message() {
    let rt = runtime(1, epoch());
    let native = rt
        .spawn_native(SpawnOptions::new(), |_| async { panic!("boom in native") })
        .unwrap();
    match exit_of(&native).reason {
        ExitReason::HostError { message } => {
            assert!(message.contains("boom in native"), "{message}")
        }
        other => panic!("expected host_error, got {other}"),
    }
    // The worker survived: another process still runs.
    let after = rt
        .spawn_native(SpawnOptions::new(), |_| async { 0 })
        .unwrap();
    assert_eq!(exit_of(&after).reason, ExitReason::Normal { code: 0 });
}

#[test]
fn killing_a_native_process_that_waits_ends_it_as_killed_and_its_pid_is_dead() {
    let rt = runtime(1, epoch());
    let native = rt
        .spawn_native(SpawnOptions::new(), |cx| async move {
            cx.sleep(Duration::from_secs(3600)).await;
            0
        })
        .unwrap();
    wait_for_state(&rt, native.pid(), State::Waiting(WaitReason::Sleep));
    native.kill();
    assert_eq!(exit_of(&native).reason, ExitReason::Killed);
    assert!(matches!(
        rt.send(native.pid(), 0, vec![]),
        Err(SendError::NoProc(_))
    ));
}

#[test]
fn a_native_process_awaiting_a_foreign_future_waits_in_a_host_call() {
    let rt = runtime(1, epoch());
    let (tx, rx) = futures::channel::oneshot::channel::<i32>();
    let native = rt
        .spawn_native(
            SpawnOptions::new(),
            |_| async move { rx.await.unwrap_or(-1) },
        )
        .unwrap();
    wait_for_state(&rt, native.pid(), State::Waiting(WaitReason::HostCall));
    tx.send(9).unwrap();
    assert_eq!(exit_of(&native).reason, ExitReason::Normal { code: 9 });
}

#[test]
fn a_yielding_native_process_counts_voluntary_yields_and_finishes() {
    let rt = runtime(1, epoch());
    let native = rt
        .spawn_native(SpawnOptions::new(), |cx| async move {
            for _ in 0..10 {
                cx.yield_now().await;
            }
            0
        })
        .unwrap();
    let exit = exit_of(&native);
    assert_eq!(exit.reason, ExitReason::Normal { code: 0 });
    assert_eq!(exit.accounting.voluntary_yields, 10);
    assert_eq!(exit.accounting.quanta, 11);
}
