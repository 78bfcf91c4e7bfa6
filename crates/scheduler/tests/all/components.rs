//! Preview 2 components as processes: a `wasi:cli/command` compiles to a [`Module`], runs
//! its `run` under the same preemption, limits and kills as any guest, and ends with the
//! exit its result or `exit(n)` gives. The components here are written in WAT; real ones
//! built for `wasm32-wasip2` are in `programs`.

use std::time::Duration;

use shoal_scheduler::{CompileError, ExitReason, Preemption, Runtime, SpawnError, SpawnOptions};

use crate::exit_of;

/// A command whose `run` returns `ok` (core 0) or `err` (core 1) as `main`'s core
/// function says; `$body` is that function's body.
fn command(body: &str) -> String {
    format!(
        r#"(component
  (core module $m
    (func (export "run") (result i32) {body}))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run)))"#
    )
}

fn runtime(preemption: Preemption) -> Runtime {
    Runtime::builder()
        .workers(1)
        .preemption(preemption)
        .build()
        .unwrap()
}

fn epochs() -> Preemption {
    Preemption::Epoch {
        tick: Duration::from_millis(1),
        slice_ticks: 1,
    }
}

#[test]
fn a_command_component_ends_normal_0_on_ok_and_normal_1_on_err() {
    let rt = runtime(epochs());
    for (body, code) in [("(i32.const 0)", 0), ("(i32.const 1)", 1)] {
        let m = rt.compile_wat(&command(body)).unwrap();
        // A command that imports no WASI gets no WASI context.
        assert!(m.is_component() && !m.uses_wasi());
        assert_eq!(m.exports(), ["_start", "wasi:cli/run"]);
        for export in ["_start", "wasi:cli/run"] {
            let exit = exit_of(&rt.spawn(&m, export, 0).unwrap());
            assert_eq!(exit.reason, ExitReason::Normal { code }, "{body}, {export}");
        }
    }
}

#[test]
fn a_component_has_no_entry_but_its_command() {
    let rt = runtime(epochs());
    let m = rt.compile_wat(&command("(i32.const 0)")).unwrap();
    assert!(matches!(
        rt.spawn(&m, "main", 0),
        Err(SpawnError::MissingExport { export }) if export == "main"
    ));
}

#[test]
fn a_spinning_component_is_preempted_and_ended_by_its_deadline_or_a_kill() {
    let spin = command("(loop $l (br $l)) (i32.const 0)");
    for preemption in [epochs(), Preemption::Fuel { quantum: 10_000 }] {
        let rt = runtime(preemption);
        let m = rt.compile_wat(&spin).unwrap();
        let by_deadline = rt
            .spawn_with(
                &m,
                "_start",
                0,
                SpawnOptions::new().deadline(Duration::from_millis(50)),
            )
            .unwrap();
        let killed = rt.spawn(&m, "_start", 0).unwrap();
        // One worker and two spinners: a core guest still gets its turn and finishes.
        let core = rt
            .compile_wat(r#"(module (func (export "main") (result i32) (i32.const 7)))"#)
            .unwrap();
        let exit = exit_of(&rt.spawn(&core, "main", 0).unwrap());
        assert_eq!(
            exit.reason,
            ExitReason::Normal { code: 7 },
            "{preemption:?}"
        );
        assert_eq!(exit_of(&by_deadline).reason, ExitReason::Deadline);
        rt.kill(killed.pid()).unwrap();
        assert_eq!(exit_of(&killed).reason, ExitReason::Killed);
        assert_eq!(rt.stats().memory_used, 0);
    }
}

#[test]
fn a_components_fuel_limit_ends_it_out_of_fuel() {
    let rt = Runtime::builder()
        .workers(1)
        .preemption(Preemption::Fuel { quantum: 10_000 })
        .fuel_limit(1_000_000)
        .build()
        .unwrap();
    let m = rt
        .compile_wat(&command("(loop $l (br $l)) (i32.const 0)"))
        .unwrap();
    let exit = exit_of(&rt.spawn(&m, "_start", 0).unwrap());
    assert_eq!(exit.reason, ExitReason::OutOfFuel);
}

#[test]
fn a_component_that_imports_more_than_wasi_or_is_no_command_is_refused_at_compile() {
    let rt = runtime(epochs());
    let foreign = r#"(component
  (import "acme:db/query@1.0.0" (instance (export "get" (func (result u32)))))
  (core module $m (func (export "run") (result i32) (i32.const 0)))
  (core instance $i (instantiate $m))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run)))"#;
    match rt.compile_wat(foreign) {
        Err(e @ CompileError::UnknownComponentImport { .. }) => {
            assert!(e.to_string().contains("`acme:db/query@1.0.0`"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let no_command = r#"(component (core module $m))"#;
    assert!(matches!(
        rt.compile_wat(no_command),
        Err(CompileError::Unsupported { .. })
    ));
}

/// Sleeps 10 s through preview 2 (`subscribe-duration`, then `pollable.block`), then
/// returns `ok`.
const SLEEPER: &str = r#"(component
  (type $poll_t (instance
    (export "pollable" (type (sub resource)))
    (type (borrow 0))
    (type (func (param "self" 1)))
    (export "[method]pollable.block" (func (type 2)))))
  (import "wasi:io/poll@0.2.0" (instance $poll (type $poll_t)))
  (alias export $poll "pollable" (type $pollable))
  (type $clock_t (instance
    (alias outer 1 $pollable (type))
    (export "pollable" (type (eq 0)))
    (type (own 1))
    (type (func (param "when" u64) (result 2)))
    (export "subscribe-duration" (func (type 3)))))
  (import "wasi:clocks/monotonic-clock@0.2.0" (instance $clock (type $clock_t)))
  (core func $subscribe (canon lower (func $clock "subscribe-duration")))
  (core func $block (canon lower (func $poll "[method]pollable.block")))
  (core func $drop (canon resource.drop $pollable))
  (core module $m
    (import "host" "subscribe" (func $subscribe (param i64) (result i32)))
    (import "host" "block" (func $block (param i32)))
    (import "host" "drop" (func $drop (param i32)))
    (func (export "run") (result i32)
      (local $p i32)
      (local.set $p (call $subscribe (i64.const 10000000000)))
      (call $block (local.get $p))
      (call $drop (local.get $p))
      (i32.const 0)))
  (core instance $host
    (export "subscribe" (func $subscribe))
    (export "block" (func $block))
    (export "drop" (func $drop)))
  (core instance $i (instantiate $m (with "host" (instance $host))))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run)))"#;

#[test]
fn a_component_blocked_in_a_wasi_call_holds_no_worker_and_can_be_killed() {
    let rt = runtime(epochs());
    let m = rt.compile_wat(SLEEPER).unwrap();
    let sleeper = rt.spawn(&m, "_start", 0).unwrap();
    crate::wait_for_state(
        &rt,
        sleeper.pid(),
        shoal_scheduler::State::Waiting(shoal_scheduler::WaitReason::HostCall),
    );
    // The one worker is free: a core guest runs to its end meanwhile.
    let core = rt
        .compile_wat(r#"(module (func (export "main") (result i32) (i32.const 7)))"#)
        .unwrap();
    let exit = exit_of(&rt.spawn(&core, "main", 0).unwrap());
    assert_eq!(exit.reason, ExitReason::Normal { code: 7 });
    assert!(sleeper.try_exit().is_none(), "it still sleeps");
    rt.kill(sleeper.pid()).unwrap();
    assert_eq!(exit_of(&sleeper).reason, ExitReason::Killed);
}
