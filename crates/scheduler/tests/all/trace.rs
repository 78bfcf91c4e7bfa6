//! The schedule trace: quanta on worker tracks, spawn, wake and exit instants.

use shoal_scheduler::{ExitReason, Runtime, State, TraceKind, Track};

use crate::{LOOP, exit_of, wait_until};

const SLEEP_ONCE: &str = r#"(module
  (import "shoal" "sleep" (func $sleep (param i64)))
  (func (export "main") (call $sleep (i64.const 1))))"#;

#[test]
fn a_trace_records_each_quantum_of_a_process_and_its_spawn_wake_and_exit() {
    let rt = Runtime::builder().workers(1).trace(10_000).build().unwrap();
    let m = rt.compile_wat(SLEEP_ONCE).unwrap();
    let h = rt.spawn(&m, "main", 0).unwrap();
    assert_eq!(exit_of(&h).reason, ExitReason::Normal { code: 0 });
    let trace = rt.take_trace().expect("tracing was on");
    let mine: Vec<_> = trace.events.iter().filter(|e| e.pid == h.pid()).collect();
    let kinds: Vec<TraceKind> = mine.iter().map(|e| e.kind).collect();
    // Spawned from the host, a quantum that ends in the sleep, woken, a quantum that
    // ends at the exit (the exit instant is recorded inside that quantum).
    assert_eq!(kinds.first(), Some(&TraceKind::Spawn));
    assert_eq!(mine[0].track, Track::Other);
    let quanta: Vec<_> = mine
        .iter()
        .filter(|e| matches!(e.kind, TraceKind::Quantum { .. }))
        .collect();
    assert_eq!(quanta.len(), 2, "{kinds:?}");
    assert!(
        quanta
            .iter()
            .all(|q| q.track == Track::Worker(0) && q.end_ns >= q.start_ns)
    );
    assert!(matches!(
        quanta[0].kind,
        TraceKind::Quantum {
            after: State::Waiting(_)
        }
    ));
    assert!(matches!(
        quanta[1].kind,
        TraceKind::Quantum {
            after: State::Exited
        }
    ));
    assert_eq!(kinds.iter().filter(|k| **k == TraceKind::Wake).count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == TraceKind::Exit).count(), 1);
    assert_eq!(trace.dropped, 0);
}

#[test]
fn a_trace_is_bounded_and_keeps_the_most_recent_events() {
    let rt = Runtime::builder()
        .workers(1)
        .preemption(shoal_scheduler::Preemption::Fuel { quantum: 1_000 })
        .trace(2_000)
        .build()
        .unwrap();
    let m = rt.compile_wat(LOOP).unwrap();
    let h = rt.spawn(&m, "main", 2_000_000).unwrap();
    exit_of(&h);
    let trace = rt.take_trace().unwrap();
    assert!(trace.dropped > 0, "a long loop overflows a small trace");
    // The newest event, the exit, survived.
    assert!(trace.events.iter().any(|e| e.kind == TraceKind::Exit));
    wait_until("the runtime to drain", || {
        (rt.stats().live == 0).then_some(())
    });
}

#[test]
fn a_runtime_without_tracing_has_no_trace() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    assert!(rt.take_trace().is_none());
}
