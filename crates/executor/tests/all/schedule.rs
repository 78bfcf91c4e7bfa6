//! Where runnable processes go: round robin for yields, the wake class first.

use std::sync::Arc;

use parking_lot::Mutex;
use shoal_executor::{ProcessHandle, ProcessOptions, yield_now};
use shoal_proc::{ExitReason, Message};

use crate::{config, launch, stop};

#[test]
fn yields_go_round_robin_behind_every_runnable_process() {
    let executor = launch(config(1));
    let log = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..3)
        .map(|id| {
            let log = log.clone();
            let process = executor
                .spawn(&ProcessOptions::default(), None, |process| {
                    let process = process.clone();
                    async move {
                        for _ in 0..3 {
                            log.lock().push(id);
                            yield_now(&process).await;
                        }
                        ExitReason::Normal { code: id }
                    }
                })
                .unwrap();
            ProcessHandle::new(process)
        })
        .collect();
    executor.start();
    for (id, handle) in handles.iter().enumerate() {
        let exit = handle.wait();
        assert_eq!(exit.reason, ExitReason::Normal { code: id as i32 });
        assert_eq!(exit.accounting.voluntary_yields, 3);
    }
    assert_eq!(*log.lock(), [0, 1, 2, 0, 1, 2, 0, 1, 2]);
    stop(&executor);
}

#[test]
fn a_woken_process_runs_before_the_cpu_bound_ones_queued_ahead_of_it() {
    let executor = launch(config(1));
    let log = Arc::new(Mutex::new(Vec::new()));
    let receiver = {
        let (executor, log) = (executor.clone(), log.clone());
        executor
            .clone()
            .spawn(&ProcessOptions::default(), None, move |process| {
                let process = process.clone();
                async move {
                    let (message, waited) =
                        shoal_executor::receive(&process, &executor, None, None).await;
                    assert!(message.is_some() && waited);
                    log.lock().push("receiver");
                    ExitReason::Normal { code: 0 }
                }
            })
            .unwrap()
    };
    let spinners: Vec<_> = (0..3)
        .map(|_| {
            let log = log.clone();
            executor
                .spawn(&ProcessOptions::default(), None, |process| {
                    let process = process.clone();
                    async move {
                        for _ in 0..4 {
                            log.lock().push("spinner");
                            yield_now(&process).await;
                        }
                        ExitReason::Normal { code: 0 }
                    }
                })
                .unwrap()
        })
        .collect();
    let to = receiver.pid();
    let sender = {
        let (executor, log) = (executor.clone(), log.clone());
        executor
            .clone()
            .spawn(&ProcessOptions::default(), None, move |process| {
                let process = process.clone();
                async move {
                    yield_now(&process).await;
                    executor.send(to, Message::data(None, 1, [])).unwrap();
                    log.lock().push("sent");
                    yield_now(&process).await;
                    ExitReason::Normal { code: 0 }
                }
            })
            .unwrap()
    };
    executor.start();
    for process in spinners.into_iter().chain([receiver, sender]) {
        ProcessHandle::new(process).wait();
    }
    let log = log.lock();
    let sent = log.iter().position(|&e| e == "sent").unwrap();
    assert_eq!(log[sent + 1], "receiver", "{log:?}");
    assert!(
        log[sent + 2..].contains(&"spinner"),
        "spinners were still runnable: {log:?}"
    );
    drop(log);
    stop(&executor);
}

#[test]
fn spawns_past_capacity_and_after_shutdown_begins_are_refused() {
    let mut config = config(1);
    config.capacity = 2;
    let executor = launch(config);
    let spawn = || {
        executor.spawn(&ProcessOptions::default(), None, |_| async {
            ExitReason::Normal { code: 0 }
        })
    };
    let a = spawn().unwrap();
    let b = spawn().unwrap();
    assert_eq!(
        spawn().err(),
        Some(shoal_executor::SpawnRefused::Capacity { capacity: 2 })
    );
    executor.begin_shutdown();
    for process in [a, b] {
        ProcessHandle::new(process).wait();
    }
    assert_eq!(
        spawn().err(),
        Some(shoal_executor::SpawnRefused::ShuttingDown)
    );
    stop(&executor);
}
