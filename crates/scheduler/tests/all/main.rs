//! The scheduler's integration tests: one binary, a module per feature (as wasmtime
//! does), so two cores link one test executable rather than many.
//!
//! Tests assert behaviour, never speed: the only time limits are generous guards that
//! turn a hang into a failure.

mod actor_world;
mod actors;
mod adaptive;
mod bad_input;
mod budget;
mod chaos;
mod components;
mod determinism;
mod epoch;
mod fuel;
mod groups;
mod host_api;
mod kill;
mod layers;
mod layouts;
mod messages;
mod native;
mod programs;
mod remote;
mod scale;
mod signals;
mod supervisor;
mod trace;
mod traps;
mod wasi;
mod weights;

use std::time::{Duration, Instant};

use shoal_scheduler::{Exit, Pid, Preemption, ProcessHandle, Runtime, State};

/// How long a test waits for something that should take milliseconds before calling it
/// a hang. Generous: CI machines are shared and slow.
pub const HANG: Duration = Duration::from_secs(60);

/// SplitMix64: the next of a seeded sequence, the same on every machine, for the seeded
/// tests (chaos).
pub fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An epoch configuration with a short tick, so tests that need preemption finish fast.
pub fn epoch() -> Preemption {
    Preemption::Epoch {
        tick: Duration::from_millis(1),
        slice_ticks: 1,
    }
}

/// A runtime with `workers` workers and the given preemption.
pub fn runtime(workers: usize, preemption: Preemption) -> Runtime {
    Runtime::builder()
        .workers(workers)
        .preemption(preemption)
        .build()
        .expect("valid settings")
}

/// Polls `check` every millisecond until it gives a value, failing the test with
/// `what` after [`HANG`].
pub fn wait_until<T>(what: impl std::fmt::Display, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + HANG;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// What a share is measured in: fuel, or time on a worker (epochs: a loop without
/// calls keeps its fuel count in a register, so only time is exact there).
#[derive(Copy, Clone)]
pub enum Measure {
    /// Fuel consumed.
    Fuel,
    /// Time on a worker.
    Running,
}

/// What each of `pids` consumed over `window`, after a warm-up.
pub fn measure_over(rt: &Runtime, pids: &[Pid], window: Duration, measure: Measure) -> Vec<f64> {
    let fuel = || -> Vec<u64> {
        pids.iter()
            .map(|&p| {
                let a = rt.process_info(p).expect("spinners run on").accounting;
                match measure {
                    Measure::Fuel => a.fuel,
                    Measure::Running => a.running.as_nanos() as u64,
                }
            })
            .collect()
    };
    std::thread::sleep(Duration::from_millis(50));
    let before = fuel();
    std::thread::sleep(window);
    fuel()
        .iter()
        .zip(&before)
        .map(|(a, b)| (a - b) as f64)
        .collect()
}

/// Waits for an exit, failing the test after [`HANG`].
pub fn exit_of(handle: &ProcessHandle) -> Exit {
    wait_until(format_args!("{} to exit", handle.pid()), || {
        handle.try_exit()
    })
}

/// Waits until `pid` is in `state`, failing the test after [`HANG`].
pub fn wait_for_state(rt: &Runtime, pid: Pid, state: State) {
    wait_until(format_args!("{pid} to reach {state:?}"), || {
        (rt.process_info(pid).map(|i| i.state) == Some(state)).then_some(())
    })
}

/// `(loop forever)`, exported as `main`.
pub const SPIN: &str = r#"(module (func (export "main") (loop $l (br $l))))"#;

/// Loops `n` times (the argument) with no host call, then returns 0.
pub const LOOP: &str = r#"(module
  (func (export "main") (param $n i64)
    (loop $l
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $l (i64.gt_s (local.get $n) (i64.const 0))))))"#;

/// Blocks in `receive` forever, then exits with the received length.
pub const RECEIVER: &str = r#"(module
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (memory (export "memory") 1)
  (func (export "main") (result i32) (i32.wrap_i64 (call $receive (i64.const -1)))))"#;

/// Sends 64 KiB messages to itself until a send fails; exits with
/// `sent * 100 - status`.
pub const SELF_FLOOD: &str = r#"(module
  (import "shoal" "self" (func $self (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "main") (result i32)
    (local $sent i32) (local $status i32)
    (loop $again
      (local.set $status
        (call $send (call $self) (i64.const 0) (i32.const 0) (i32.const 65536)))
      (if (i32.eqz (local.get $status))
        (then (local.set $sent (i32.add (local.get $sent) (i32.const 1))) (br $again))))
    (i32.sub (i32.mul (local.get $sent) (i32.const 100)) (local.get $status))))"#;

/// Sends 5 bytes with tag 1 to the pid given as its argument, then exits with the send's
/// status (0, or a negative status from docs/ABI.md).
pub const SENDER: &str = r#"(module
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "main") (param $to i64) (result i32)
    (call $send (local.get $to) (i64.const 1) (i32.const 0) (i32.const 5))))"#;
