//! Epoch slices preempt code that never yields; deadlines end it.

use std::time::Duration;

use shoal_scheduler::{ExitReason, Preemption, SpawnOptions, State};

use crate::{LOOP, RECEIVER, SPIN, epoch, exit_of, runtime, wait_until};

#[test]
fn spinners_do_not_starve_a_sender() {
    // 2 workers, 4 processes that never yield: a fifth that only sends a message, and
    // its receiver, still complete.
    let rt = runtime(2, epoch());
    let spin = rt.compile_wat(SPIN).unwrap();
    let spinners: Vec<_> = (0..4)
        .map(|_| rt.spawn(&spin, "main", 0).unwrap())
        .collect();
    // Both workers are busy spinning before the others are spawned, so the receiver and
    // the sender run only if spinners are preempted.
    wait_until("the spinners to take both workers", || {
        let running = spinners
            .iter()
            .filter(|s| rt.process_info(s.pid()).map(|i| i.state) == Some(State::Running))
            .count();
        (running == 2).then_some(())
    });
    let receiver = rt
        .spawn(&rt.compile_wat(RECEIVER).unwrap(), "main", 0)
        .unwrap();
    let sender = rt.compile_wat(crate::SENDER).unwrap();
    let sender = rt
        .spawn(&sender, "main", receiver.pid().to_bits() as i64)
        .unwrap();
    assert_eq!(exit_of(&sender).reason, ExitReason::Normal { code: 0 });
    assert_eq!(exit_of(&receiver).reason, ExitReason::Normal { code: 5 });
    for s in &spinners {
        assert!(s.try_exit().is_none(), "the spinners are still running");
        s.kill();
    }
    let mut preemptions = 0;
    for s in &spinners {
        let exit = exit_of(s);
        assert_eq!(exit.reason, ExitReason::Killed);
        preemptions += exit.accounting.preemptions;
    }
    assert!(preemptions > 0, "spinners gave up their workers");
}

#[test]
fn a_lone_process_is_not_preempted_by_epochs() {
    // A slice ends only when another process is waiting for the worker.
    let rt = runtime(1, epoch());
    let m = rt.compile_wat(LOOP).unwrap();
    let exit = exit_of(&rt.spawn(&m, "main", 300_000_000).unwrap());
    assert!(exit.reason.is_normal());
    assert!(
        exit.accounting.running > Duration::from_millis(5),
        "ran across many ticks"
    );
    assert_eq!(exit.accounting.preemptions, 0);
    assert_eq!(exit.accounting.quanta, 1);
}

fn deadline_ends_a_spinner(preemption: Preemption) {
    let rt = runtime(1, preemption);
    let m = rt.compile_wat(SPIN).unwrap();
    let h = rt
        .spawn_with(
            &m,
            "main",
            0,
            SpawnOptions::new().deadline(Duration::from_millis(50)),
        )
        .unwrap();
    let exit = exit_of(&h);
    assert_eq!(exit.reason, ExitReason::Deadline, "{preemption:?}");
}

#[test]
fn a_deadline_ends_an_infinite_loop_under_epochs() {
    deadline_ends_a_spinner(epoch());
}

#[test]
fn a_deadline_ends_an_infinite_loop_under_fuel() {
    deadline_ends_a_spinner(Preemption::Fuel { quantum: 100_000 });
}

#[test]
fn a_deadline_ends_a_process_waiting_in_receive() {
    let rt = runtime(1, epoch());
    let m = rt.compile_wat(RECEIVER).unwrap();
    let h = rt
        .spawn_with(
            &m,
            "main",
            0,
            SpawnOptions::new().deadline(Duration::from_millis(20)),
        )
        .unwrap();
    assert_eq!(exit_of(&h).reason, ExitReason::Deadline);
}
