//! Waiting without a worker: receive, sleep, kills and deadlines of waiting processes.

use std::time::Duration;

use shoal_executor::{ProcessHandle, ProcessOptions, receive, sleep_until};
use shoal_proc::{ExitReason, Message, State, WaitReason};

use crate::{HANG, config, launch, stop};

#[test]
fn a_receive_takes_a_message_sent_before_it_waits_and_one_sent_after() {
    let executor = launch(config(2));
    let process = executor
        .spawn(&ProcessOptions::default(), None, |process| {
            let (process, executor) = (process.clone(), executor.clone());
            async move {
                let (first, waited) = receive(&process, &executor, None, None).await;
                assert!(!waited, "the first message was queued before the run");
                let (second, _) = receive(&process, &executor, Some(7), None).await;
                let sum = first.unwrap().data[0] + second.unwrap().data[0];
                ExitReason::Normal { code: sum.into() }
            }
        })
        .unwrap();
    executor
        .send(process.pid(), Message::data(None, 1, [2]))
        .unwrap();
    executor.start();
    let deadline = std::time::Instant::now() + HANG;
    while executor.process_info(process.pid()).map(|i| i.state)
        != Some(State::Waiting(WaitReason::Receive))
    {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    // A message with another tag is left queued.
    executor
        .send(process.pid(), Message::data(None, 1, [100]))
        .unwrap();
    executor
        .send(process.pid(), Message::data(None, 7, [3]))
        .unwrap();
    assert_eq!(
        ProcessHandle::new(process).wait().reason,
        ExitReason::Normal { code: 5 }
    );
    stop(&executor);
}

#[test]
fn a_receive_times_out_and_a_sleep_ends_on_the_virtual_clock() {
    let mut config = config(1);
    config.deterministic = true;
    let executor = launch(config);
    let process = executor
        .spawn(&ProcessOptions::default(), None, |process| {
            let (process, executor) = (process.clone(), executor.clone());
            async move {
                let start = executor.now_ns();
                let (message, waited) = receive(&process, &executor, None, Some(5_000)).await;
                assert!(message.is_none() && waited);
                sleep_until(&process, &executor, executor.now_ns() + 1_000_000_000).await;
                ExitReason::Normal {
                    code: ((executor.now_ns() - start) / 1_000) as i32,
                }
            }
        })
        .unwrap();
    executor.start();
    // 5 µs of timeout and 1 s of sleep, in virtual time: at once, and exactly.
    assert_eq!(
        ProcessHandle::new(process).wait().reason,
        ExitReason::Normal { code: 1_000_005 }
    );
    assert!(executor.schedule_hash().is_some());
    stop(&executor);
}

#[test]
fn a_killed_waiting_process_ends_at_once_as_killed() {
    let executor = launch(config(1));
    let process = executor
        .spawn(&ProcessOptions::default(), None, |process| {
            let (process, executor) = (process.clone(), executor.clone());
            async move {
                receive(&process, &executor, None, None).await;
                unreachable!("no message is sent");
            }
        })
        .unwrap();
    executor.start();
    let deadline = std::time::Instant::now() + HANG;
    while executor.process_info(process.pid()).map(|i| i.state)
        != Some(State::Waiting(WaitReason::Receive))
    {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    process.kill();
    assert_eq!(
        ProcessHandle::new(process).wait().reason,
        ExitReason::Killed
    );
    stop(&executor);
}

#[test]
fn a_deadline_ends_a_waiting_process_as_deadline() {
    let executor = launch(config(1));
    let options = ProcessOptions {
        deadline: Some(Duration::from_millis(5)),
        ..ProcessOptions::default()
    };
    let process = executor
        .spawn(&options, None, |process| {
            let (process, executor) = (process.clone(), executor.clone());
            async move {
                receive(&process, &executor, None, None).await;
                unreachable!("no message is sent");
            }
        })
        .unwrap();
    executor.start();
    assert_eq!(
        ProcessHandle::new(process).wait().reason,
        ExitReason::Deadline
    );
    stop(&executor);
}
