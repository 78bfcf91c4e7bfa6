//! The exit sequence: every process ends once, with a reason, and leaves nothing behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use shoal_executor::{Hooks, ProcessHandle, ProcessOptions, SendError};
use shoal_proc::{ExitReason, Message, Pid};

use crate::{config, launch, launch_with, stop};

#[test]
fn a_run_that_returns_ends_with_its_reason_and_frees_its_table_slot() {
    let executor = launch(config(2));
    let process = executor
        .spawn(&ProcessOptions::default(), None, |_| async {
            ExitReason::Custom {
                code: 5,
                data: b"why".to_vec(),
            }
        })
        .unwrap();
    let pid = process.pid();
    executor.start();
    let exit = ProcessHandle::new(process).wait();
    assert_eq!(
        exit.reason,
        ExitReason::Custom {
            code: 5,
            data: b"why".to_vec()
        }
    );
    assert_eq!(exit.accounting.quanta, 1);
    assert_eq!(executor.live(), 0);
    assert_eq!(
        executor.send(pid, Message::data(None, 0, [])),
        Err(SendError::NoProc(pid))
    );
    assert_eq!(executor.stats().exited, 1);
    stop(&executor);
}

#[test]
fn a_panicking_run_ends_as_host_error_and_its_worker_runs_on() {
    let executor = launch(config(1));
    let panicking = executor
        .spawn(&ProcessOptions::default(), None, |_| async {
            panic!("boom");
        })
        .unwrap();
    let after = executor
        .spawn(&ProcessOptions::default(), None, |_| async {
            ExitReason::Normal { code: 1 }
        })
        .unwrap();
    executor.start();
    let exit = ProcessHandle::new(panicking).wait();
    assert_eq!(
        exit.reason,
        ExitReason::HostError {
            message: "host function panicked: boom".into()
        }
    );
    assert_eq!(
        ProcessHandle::new(after).wait().reason,
        ExitReason::Normal { code: 1 }
    );
    stop(&executor);
}

#[test]
fn the_severed_hook_runs_before_the_exit_is_published() {
    let severed = Arc::new(Mutex::new(Vec::<(Pid, ExitReason, Vec<Pid>)>::new()));
    let hook = {
        let severed = severed.clone();
        Box::new(
            move |_: &shoal_executor::Executor,
                  pid,
                  reason: &ExitReason,
                  s: shoal_proc::Severed| {
                severed.lock().push((pid, reason.clone(), s.links));
            },
        )
    };
    let executor = launch_with(
        config(1),
        Hooks {
            severed: Some(hook),
            ..Hooks::default()
        },
    );
    let waiting = executor
        .spawn(&ProcessOptions::default(), None, |_| {
            std::future::pending::<ExitReason>()
        })
        .unwrap();
    let linked = executor
        .spawn(&ProcessOptions::default(), None, |process| {
            let _ = process.core.link(waiting.pid(), Some(&waiting.core));
            async { ExitReason::Normal { code: 3 } }
        })
        .unwrap();
    let unrelated = executor
        .spawn(&ProcessOptions::default(), None, |_| async {
            ExitReason::Normal { code: 3 }
        })
        .unwrap();
    executor.start();
    ProcessHandle::new(linked.clone()).wait();
    ProcessHandle::new(unrelated).wait();
    assert_eq!(
        *severed.lock(),
        [(
            linked.pid(),
            ExitReason::Normal { code: 3 },
            vec![waiting.pid()]
        )],
        "called once, for the process with a relation, before its exit"
    );
    // The hook here does not sever the far side as the actor layer does, so the waiting
    // process still holds its half of the link and is reported too.
    waiting.kill();
    let (waiting_pid, linked_pid) = (waiting.pid(), linked.pid());
    assert_eq!(
        ProcessHandle::new(waiting).wait().reason,
        ExitReason::Killed
    );
    assert_eq!(
        severed.lock()[1..],
        [(waiting_pid, ExitReason::Killed, vec![linked_pid])]
    );
    stop(&executor);
}

#[test]
fn worker_hooks_run_once_on_every_worker_as_it_starts_and_stops() {
    let started = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let hooks = Hooks {
        worker_start: Some(Box::new({
            let started = started.clone();
            move |index| {
                assert!(index < 3);
                started.fetch_add(1 << (8 * index), Ordering::SeqCst);
            }
        })),
        worker_stop: Some(Box::new({
            let stopped = stopped.clone();
            move |index| {
                stopped.fetch_add(1 << (8 * index), Ordering::SeqCst);
            }
        })),
        severed: None,
    };
    let executor = launch_with(config(3), hooks);
    executor.start();
    stop(&executor);
    assert_eq!(started.load(Ordering::SeqCst), 0x01_01_01);
    assert_eq!(stopped.load(Ordering::SeqCst), 0x01_01_01);
}

#[test]
fn a_panicking_severed_hook_still_publishes_the_exit() {
    let hook = Box::new(
        |_: &shoal_executor::Executor, _: Pid, _: &ExitReason, _: shoal_proc::Severed| {
            panic!("a bug in the layer above");
        },
    );
    let executor = launch_with(
        config(1),
        Hooks {
            severed: Some(hook),
            ..Hooks::default()
        },
    );
    let waiting = executor
        .spawn(&ProcessOptions::default(), None, |_| {
            std::future::pending::<ExitReason>()
        })
        .unwrap();
    let linked = executor
        .spawn(&ProcessOptions::default(), None, |process| {
            let _ = process.core.link(waiting.pid(), Some(&waiting.core));
            async { ExitReason::Normal { code: 4 } }
        })
        .unwrap();
    executor.start();
    assert_eq!(
        ProcessHandle::new(linked).wait().reason,
        ExitReason::Normal { code: 4 }
    );
    assert_eq!(executor.live(), 1, "only the waiting process is left");
    waiting.kill();
    assert_eq!(
        ProcessHandle::new(waiting).wait().reason,
        ExitReason::Killed
    );
    stop(&executor);
}
