//! Where runnable processes go: round robin for yields, the wake class first, and a
//! yielder behind its share ahead of those that used theirs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use shoal_executor::{Preemption, ProcessHandle, ProcessOptions, yield_now};
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
fn a_yielder_that_runs_little_goes_ahead_of_processes_that_use_their_slices() {
    let mut config = config(1);
    // Time is the measure: a slice is 100 us.
    config.preemption = Preemption::Epoch {
        tick: Duration::from_micros(100),
        slice_ticks: 1,
    };
    config.fuel_metering = false;
    let executor = launch(config);
    const HOG_TURNS: u64 = 40;
    let hog_turns = Arc::new(AtomicU64::new(0));
    let hogs: Vec<_> = (0..3)
        .map(|_| {
            let turns = hog_turns.clone();
            let process = executor
                .spawn(&ProcessOptions::default(), None, |process| {
                    let process = process.clone();
                    async move {
                        for _ in 0..HOG_TURNS {
                            // Three slices of work between yields.
                            let start = Instant::now();
                            while start.elapsed() < Duration::from_micros(300) {
                                std::hint::spin_loop();
                            }
                            turns.fetch_add(1, Ordering::Relaxed);
                            yield_now(&process).await;
                        }
                        ExitReason::Normal { code: 0 }
                    }
                })
                .unwrap();
            ProcessHandle::new(process)
        })
        .collect();
    let seen = Arc::new(AtomicU64::new(u64::MAX));
    let light = {
        let (turns, seen) = (hog_turns.clone(), seen.clone());
        let process = executor
            .spawn(&ProcessOptions::default(), None, |process| {
                let process = process.clone();
                async move {
                    for _ in 0..100 {
                        yield_now(&process).await;
                    }
                    seen.store(turns.load(Ordering::Relaxed), Ordering::Relaxed);
                    ExitReason::Normal { code: 0 }
                }
            })
            .unwrap();
        ProcessHandle::new(process)
    };
    executor.start();
    assert!(light.wait().reason.is_normal());
    for hog in &hogs {
        assert!(hog.wait().reason.is_normal());
    }
    // Round-robin by turns, its 100 yields would take 100 rounds, and the hogs would be
    // done after 40: it runs again while it is behind, so it ends within a few rounds.
    let seen = seen.load(Ordering::Relaxed);
    assert!(
        seen < 3 * HOG_TURNS / 2,
        "the light yielder ended after {seen} of the hogs' {} turns",
        3 * HOG_TURNS
    );
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
