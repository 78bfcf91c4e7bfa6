//! The epoch-tick verdicts a running process gets (the wasm layer's epoch callback
//! carries them out).

use std::time::Duration;

use shoal_executor::{Interrupt, Preemption, ProcessHandle, ProcessOptions, Tick};
use shoal_proc::ExitReason;

use crate::{config, launch, stop};

fn epoch_config() -> shoal_executor::Config {
    let mut config = config(1);
    config.preemption = Preemption::Epoch {
        tick: Duration::from_millis(1),
        slice_ticks: 2,
    };
    config.fuel_metering = false;
    config
}

#[test]
fn a_process_runs_on_until_its_slice_is_spent_and_another_waits() {
    let executor = launch(epoch_config());
    let ticker = executor
        .spawn(&ProcessOptions::default(), None, |process| {
            let (process, executor) = (process.clone(), executor.clone());
            async move {
                let verdicts = [
                    executor.on_tick(&process, 1, 2),
                    executor.on_tick(&process, 2, 2),
                ];
                assert_eq!(verdicts, [Tick::Continue, Tick::Yield]);
                process.kill();
                assert_eq!(
                    executor.on_tick(&process, 1, 2),
                    Tick::End(Interrupt::Killed)
                );
                ExitReason::Normal { code: 0 }
            }
        })
        .unwrap();
    let other = executor
        .spawn(&ProcessOptions::default(), None, |_| async {
            ExitReason::Normal { code: 0 }
        })
        .unwrap();
    executor.start();
    // Killed during its poll: it ends with the kill's reason, whatever it returned.
    assert_eq!(ProcessHandle::new(ticker).wait().reason, ExitReason::Killed);
    ProcessHandle::new(other).wait();
    stop(&executor);
}

#[test]
fn a_lone_process_runs_on_past_its_slice() {
    let executor = launch(epoch_config());
    let lone = executor
        .spawn(&ProcessOptions::default(), None, |process| {
            let (process, executor) = (process.clone(), executor.clone());
            async move {
                let verdict = executor.on_tick(&process, 10, 2);
                ExitReason::Normal {
                    code: i32::from(verdict == Tick::Continue),
                }
            }
        })
        .unwrap();
    executor.start();
    assert_eq!(
        ProcessHandle::new(lone).wait().reason,
        ExitReason::Normal { code: 1 }
    );
    stop(&executor);
}

#[test]
fn a_running_process_past_its_deadline_is_ended_at_the_tick() {
    let executor = launch(epoch_config());
    let options = ProcessOptions {
        deadline: Some(Duration::from_millis(2)),
        ..ProcessOptions::default()
    };
    let late = executor
        .spawn(&options, None, |process| {
            let (process, executor) = (process.clone(), executor.clone());
            async move {
                // Stands for a guest computing past its deadline without a host call.
                std::thread::sleep(Duration::from_millis(5));
                let verdict = executor.on_tick(&process, 1, 2);
                ExitReason::Normal {
                    code: i32::from(verdict == Tick::End(Interrupt::Deadline)),
                }
            }
        })
        .unwrap();
    executor.start();
    assert_eq!(
        ProcessHandle::new(late).wait().reason,
        ExitReason::Normal { code: 1 }
    );
    stop(&executor);
}
