//! The host API from plain and tokio code: spawn, join, info, stats, shutdown, pids.

use std::time::Duration;

use shoal_scheduler::{ExitReason, NoProc, Runtime, SendError, State};

use crate::{LOOP, RECEIVER, epoch, exit_of, runtime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_and_join_from_tokio_without_blocking_it() {
    let rt = runtime(2, epoch());
    let m = rt.compile_wat(LOOP).unwrap();
    let handles: Vec<_> = (0..100)
        .map(|i| rt.spawn(&m, "main", 1_000 * i).unwrap())
        .collect();
    // A tokio timer keeps ticking while the joins wait: the joins do not block tokio.
    let ticker = tokio::spawn(async {
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let joins: Vec<_> = handles
        .into_iter()
        .map(|h| tokio::spawn(async move { h.join().await }))
        .collect();
    for j in joins {
        assert_eq!(j.await.unwrap().reason, ExitReason::Normal { code: 0 });
    }
    ticker.await.unwrap();
    let exits = rt.shutdown_async(Duration::ZERO).await;
    assert!(exits.is_empty(), "{exits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_join_pending_in_tokio_does_not_block_its_thread() {
    // The join and the send that lets the process finish run on one tokio task: if
    // polling the join blocked the thread, the send would never happen. A watchdog
    // thread turns that deadlock into a kill, and so into a failed assertion.
    let rt = runtime(1, epoch());
    let h = rt
        .spawn(&rt.compile_wat(RECEIVER).unwrap(), "main", 0)
        .unwrap();
    let (joined, joined_rx) = std::sync::mpsc::channel::<()>();
    let guard = {
        let h = h.clone();
        std::thread::spawn(move || {
            if joined_rx.recv_timeout(crate::HANG).is_err() {
                h.kill();
            }
        })
    };
    let send = async {
        tokio::task::yield_now().await;
        rt.send(h.pid(), 0, vec![0; 3]).unwrap();
    };
    let (by_pid, by_handle, ()) = tokio::join!(rt.join(h.pid()), h.join(), send);
    joined.send(()).unwrap();
    guard.join().unwrap();
    assert_eq!(by_pid.unwrap().reason, ExitReason::Normal { code: 3 });
    assert_eq!(by_handle.reason, ExitReason::Normal { code: 3 });
    // Once the slot is free, a join by the old pid has nothing to wait for.
    assert_eq!(rt.join(h.pid()).await.unwrap_err(), NoProc(h.pid()));
    assert_eq!(h.join().await.reason, ExitReason::Normal { code: 3 });
}

#[test]
fn shutdown_returns_the_exits_of_live_processes_as_killed() {
    let rt = runtime(2, epoch());
    let m = rt.compile_wat(RECEIVER).unwrap();
    let spin = rt.compile_wat(crate::SPIN).unwrap();
    let mut pids: Vec<_> = (0..5)
        .map(|_| rt.spawn(&m, "main", 0).unwrap().pid())
        .collect();
    pids.push(rt.spawn(&spin, "main", 0).unwrap().pid());
    let mut exits = rt.shutdown(Duration::from_millis(20));
    exits.sort_by_key(|e| e.pid);
    pids.sort();
    assert_eq!(exits.iter().map(|e| e.pid).collect::<Vec<_>>(), pids);
    assert!(exits.iter().all(|e| e.reason == ExitReason::Killed));
    // After shutdown, spawns are refused.
    assert_eq!(
        rt.spawn(&m, "main", 0).unwrap_err(),
        shoal_scheduler::SpawnError::ShuttingDown
    );
}

#[test]
fn shutdown_gives_processes_their_grace_period() {
    let rt = runtime(1, epoch());
    let m = rt.compile_wat(LOOP).unwrap();
    let h = rt.spawn(&m, "main", 20_000_000).unwrap();
    let exits = rt.shutdown(crate::HANG);
    assert_eq!(exits.len(), 1);
    assert_eq!(exits[0].reason, ExitReason::Normal { code: 0 });
    assert_eq!(h.try_exit().unwrap(), exits[0]);
}

#[test]
fn a_reused_slot_gets_a_new_generation_and_the_old_pid_is_dead() {
    let rt = Runtime::builder()
        .workers(1)
        .preemption(epoch())
        .capacity(1)
        .build()
        .unwrap();
    let m = rt.compile_wat(RECEIVER).unwrap();
    let first = rt.spawn(&m, "main", 0).unwrap();
    rt.send(first.pid(), 0, []).unwrap();
    exit_of(&first);
    let second = rt.spawn(&m, "main", 0).unwrap();
    assert_eq!(second.pid().index(), first.pid().index());
    assert_eq!(second.pid().generation(), first.pid().generation() + 1);
    assert_eq!(
        rt.send(first.pid(), 0, [9]),
        Err(SendError::NoProc(first.pid()))
    );
    assert!(rt.process_info(first.pid()).is_none());
    assert_eq!(rt.wait(first.pid()).unwrap_err(), NoProc(first.pid()));
    // The handle still has the old process's exit.
    assert_eq!(
        first.try_exit().unwrap().reason,
        ExitReason::Normal { code: 0 }
    );
    rt.send(second.pid(), 0, [1, 2]).unwrap();
    assert_eq!(exit_of(&second).reason, ExitReason::Normal { code: 2 });
}

#[test]
fn exit_codes_come_from_exit_and_from_the_return_value() {
    let rt = runtime(1, epoch());
    let m = rt
        .compile_wat(
            r#"(module
              (import "shoal" "exit" (func $exit (param i32)))
              (func (export "by_exit") (call $exit (i32.const 7)) unreachable)
              (func (export "by_return") (result i32) (i32.const 42)))"#,
        )
        .unwrap();
    assert_eq!(
        exit_of(&rt.spawn(&m, "by_exit", 0).unwrap()).reason,
        ExitReason::Normal { code: 7 }
    );
    assert_eq!(
        exit_of(&rt.spawn(&m, "by_return", 0).unwrap()).reason,
        ExitReason::Normal { code: 42 }
    );
}

#[test]
fn process_info_and_stats_report_the_live_state() {
    let rt = runtime(1, epoch());
    let m = rt.compile_wat(RECEIVER).unwrap();
    let h = rt.spawn(&m, "main", 0).unwrap();
    crate::wait_for_state(
        &rt,
        h.pid(),
        State::Waiting(shoal_scheduler::WaitReason::Receive),
    );
    let info = rt.process_info(h.pid()).unwrap();
    assert_eq!(info.pid, h.pid());
    assert_eq!(info.mailbox_len, 0);
    assert!(info.accounting.quanta >= 1);
    let stats = rt.stats();
    assert_eq!((stats.workers, stats.live, stats.spawned), (1, 1, 1));
    rt.send(h.pid(), 5, []).unwrap();
    exit_of(&h);
    assert_eq!(rt.stats().exited, 1);
}

/// `main` spawns `child`, which sends its `parent()` back to whoever spawned it; `main`
/// exits 1 if that pid is its own. `orphan` exits with `parent()` (-1 from the host).
const PARENT: &str = r#"(module
  (import "shoal" "self" (func $self (result i64)))
  (import "shoal" "parent" (func $parent (result i64)))
  (import "shoal" "spawn" (func $spawn (param i32 i32 i64) (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_tag" (func $tag (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "child")
  (func (export "main") (result i32)
    (drop (call $spawn (i32.const 0) (i32.const 5) (i64.const 0)))
    (drop (call $receive (i64.const 60000)))
    (i64.eq (call $tag) (call $self)))
  (func (export "child")
    (drop (call $send (call $parent) (call $parent) (i32.const 0) (i32.const 0))))
  (func (export "orphan") (result i32) (i32.wrap_i64 (call $parent))))"#;

#[test]
fn parent_is_the_spawning_process_or_minus_one_for_the_host() {
    let rt = runtime(2, epoch());
    let m = rt.compile_wat(PARENT).unwrap();
    let main = rt.spawn(&m, "main", 0).unwrap();
    assert_eq!(exit_of(&main).reason, ExitReason::Normal { code: 1 });
    let orphan = rt.spawn(&m, "orphan", 0).unwrap();
    assert_eq!(exit_of(&orphan).reason, ExitReason::Normal { code: -1 });
}
