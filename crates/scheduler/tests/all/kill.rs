//! Kill ends a running process within a tick or quantum, a waiting one at once.

use shoal_scheduler::{ExitReason, NoProc, Preemption, State, WaitReason};

use crate::{RECEIVER, SPIN, epoch, exit_of, runtime, wait_for_state};

fn kill_a_spinner(preemption: Preemption) {
    let rt = runtime(1, preemption);
    let m = rt.compile_wat(SPIN).unwrap();
    let h = rt.spawn(&m, "main", 0).unwrap();
    wait_for_state(&rt, h.pid(), State::Running);
    rt.kill(h.pid()).unwrap();
    assert_eq!(exit_of(&h).reason, ExitReason::Killed);
}

#[test]
fn a_spinning_process_is_killed_under_epochs() {
    kill_a_spinner(epoch());
}

#[test]
fn a_spinning_process_is_killed_under_fuel() {
    kill_a_spinner(Preemption::Fuel { quantum: 10_000 });
}

#[test]
fn a_waiting_process_is_killed() {
    let rt = runtime(1, epoch());
    let m = rt.compile_wat(RECEIVER).unwrap();
    let h = rt.spawn(&m, "main", 0).unwrap();
    wait_for_state(&rt, h.pid(), State::Waiting(WaitReason::Receive));
    h.kill();
    let exit = exit_of(&h);
    assert_eq!(exit.reason, ExitReason::Killed);
    assert!(exit.accounting.waiting > std::time::Duration::ZERO);
}

#[test]
fn killing_an_exited_pid_is_noproc() {
    let rt = runtime(1, epoch());
    let m = rt.compile_wat(RECEIVER).unwrap();
    let h = rt.spawn(&m, "main", 0).unwrap();
    h.kill();
    exit_of(&h);
    assert_eq!(rt.kill(h.pid()), Err(NoProc(h.pid())));
    h.kill(); // through a handle: nothing happens
    assert_eq!(h.try_exit().unwrap().reason, ExitReason::Killed);
}
