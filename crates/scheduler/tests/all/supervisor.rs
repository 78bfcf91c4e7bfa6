//! Supervisors: OTP's restart types, strategies, intensity and shutdown order, observed
//! through the children's starts and exits. Every wait is on an exit, a start count or a
//! state, bounded by [`HANG`]; the child list is read by request, which the supervisor
//! answers only after every message queued before it (an `EXIT` included).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shoal_scheduler::{
    ChildInfo, ChildSpec, ExitReason, MessageKind, NativeContext, Pid, ProcessHandle,
    RegisterError, RequestError, Restart, Runtime, SendError, Shutdown, SignalReason, SpawnOptions,
    State, Strategy, Supervisor, SupervisorError, TrapCode, WaitReason,
};

use crate::{HANG, RECEIVER, epoch, exit_of, runtime, wait_for_state, wait_until};

/// A worker ends with [`crash`] on a message with this tag.
const CRASH: u64 = 1;
/// A worker returns 0 (`normal`) on a message with this tag.
const STOP: u64 = 2;
/// A worker exits `shutdown` on its own on a message with this tag.
const QUIT: u64 = 3;

/// The abnormal reason a worker crashes with.
fn crash() -> ExitReason {
    ExitReason::Custom {
        code: 7,
        data: b"crash".to_vec(),
    }
}

/// Ends the calling native process with `reason`: an exit signal to itself, untrapped.
async fn die(cx: &NativeContext, reason: ExitReason) -> i32 {
    cx.trap_exit(false);
    cx.exit(cx.pid(), SignalReason::Reason(reason)).unwrap();
    loop {
        cx.yield_now().await;
    }
}

/// Every start of every child, in start order: its id and its handle.
#[derive(Clone, Default)]
struct Starts(Arc<Mutex<Vec<(&'static str, ProcessHandle)>>>);

impl Starts {
    fn record(&self, id: &'static str, handle: &ProcessHandle) -> Pid {
        self.0.lock().unwrap().push((id, handle.clone()));
        handle.pid()
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn ids(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().iter().map(|(id, _)| *id).collect()
    }

    fn nth(&self, n: usize) -> ProcessHandle {
        self.0.lock().unwrap()[n].1.clone()
    }

    fn of(&self, id: &str) -> Vec<ProcessHandle> {
        let starts = self.0.lock().unwrap();
        starts
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, h)| h.clone())
            .collect()
    }

    /// Waits until exactly `n` starts happened (failing if more do).
    fn wait_for(&self, n: usize) {
        wait_until(format_args!("{n} starts"), || {
            let len = self.len();
            assert!(len <= n, "{len} starts, expected {n}");
            (len == n).then_some(())
        });
    }
}

/// A native worker that does not trap exits and acts on [`CRASH`], [`STOP`] and [`QUIT`];
/// it ignores other messages. Each start is recorded in `starts`.
fn worker(id: &'static str, restart: Restart, starts: &Starts) -> ChildSpec {
    let starts = starts.clone();
    ChildSpec::new(id, restart, move |ctx: &NativeContext| {
        let handle = ctx.spawn_native_link(SpawnOptions::new(), |cx| async move {
            loop {
                let msg = cx.receive(None, None).await.unwrap();
                match msg.tag {
                    CRASH => return die(&cx, crash()).await,
                    STOP => return 0,
                    QUIT => return die(&cx, ExitReason::Shutdown).await,
                    _ => {}
                }
            }
        })?;
        Ok(starts.record(id, &handle))
    })
}

/// A native child that crashes as soon as it runs. Each start is recorded in `starts`.
fn crasher(id: &'static str, starts: &Starts) -> ChildSpec {
    let starts = starts.clone();
    ChildSpec::new(id, Restart::Permanent, move |ctx: &NativeContext| {
        let handle =
            ctx.spawn_native_link(
                SpawnOptions::new(),
                |cx| async move { die(&cx, crash()).await },
            )?;
        Ok(starts.record(id, &handle))
    })
}

/// The supervisor's children, by request from the host.
fn children(rt: &Runtime, supervisor: Pid) -> Vec<ChildInfo> {
    Supervisor::which_children_wait(rt, supervisor, HANG).expect("the supervisor answers")
}

/// `(id, pid)` for each child, from the host's records.
fn running(entries: &[(&str, &ProcessHandle)]) -> Vec<ChildInfo> {
    entries
        .iter()
        .map(|(id, handle)| ChildInfo {
            id: (*id).to_owned(),
            pid: Some(handle.pid()),
        })
        .collect()
}

fn stop_from_host(rt: &Runtime, supervisor: &ProcessHandle) -> ExitReason {
    rt.exit(supervisor.pid(), SignalReason::Reason(ExitReason::Shutdown))
        .unwrap();
    exit_of(supervisor).reason
}

/// Traps `unreachable` while its argument (the attempt number) is below 3, then waits in
/// `receive` forever.
const FLAKY: &str = r#"(module
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (memory (export "memory") 1)
  (func (export "main") (param $attempt i64)
    (if (i64.lt_s (local.get $attempt) (i64.const 3)) (then unreachable))
    (drop (call $receive (i64.const -1)))))"#;

#[test]
fn a_one_for_one_supervisor_restarts_a_crashing_guest_exactly_until_it_stays_up() {
    let rt = runtime(2, epoch());
    let module = rt.compile_wat(FLAKY).unwrap();
    let starts = Starts::default();
    let attempts = Arc::new(AtomicU32::new(0));
    let spec = {
        let (starts, attempts) = (starts.clone(), attempts.clone());
        ChildSpec::new("flaky", Restart::Permanent, move |ctx: &NativeContext| {
            let attempt = attempts.fetch_add(1, Ordering::SeqCst);
            let handle = ctx.spawn_link(&module, "main", i64::from(attempt))?;
            Ok(starts.record("flaky", &handle))
        })
    };
    let sup = Supervisor::builder(Strategy::OneForOne)
        .intensity(3, HANG)
        .child(spec)
        .start(&rt)
        .unwrap();

    starts.wait_for(4);
    let last = starts.nth(3);
    wait_for_state(&rt, last.pid(), State::Waiting(WaitReason::Receive));
    for n in 0..3 {
        assert!(
            matches!(
                exit_of(&starts.nth(n)).reason,
                ExitReason::Trap {
                    code: TrapCode::UnreachableCodeReached,
                    ..
                }
            ),
            "attempt {n} trapped"
        );
    }
    assert_eq!(children(&rt, sup.pid()), running(&[("flaky", &last)]));

    assert_eq!(stop_from_host(&rt, &sup), ExitReason::Shutdown);
    assert_eq!(exit_of(&last).reason, ExitReason::Shutdown);
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        4,
        "three restarts, no more"
    );
}

#[test]
fn a_permanent_child_is_restarted_even_after_a_normal_exit() {
    let rt = runtime(2, epoch());
    let starts = Starts::default();
    let sup = Supervisor::builder(Strategy::OneForOne)
        .child(worker("w", Restart::Permanent, &starts))
        .start(&rt)
        .unwrap();
    starts.wait_for(1);
    rt.send(starts.nth(0).pid(), STOP, vec![]).unwrap();
    assert_eq!(
        exit_of(&starts.nth(0)).reason,
        ExitReason::Normal { code: 0 }
    );
    starts.wait_for(2);
    assert_eq!(children(&rt, sup.pid()), running(&[("w", &starts.nth(1))]));
    assert_eq!(stop_from_host(&rt, &sup), ExitReason::Shutdown);
}

#[test]
fn one_for_all_restarts_every_sibling_in_start_order_when_one_crashes() {
    let rt = runtime(2, epoch());
    let starts = Starts::default();
    let sup = Supervisor::builder(Strategy::OneForAll)
        .intensity(10, HANG)
        .child(worker("a", Restart::Permanent, &starts))
        .child(worker("b", Restart::Permanent, &starts))
        .child(worker("c", Restart::Permanent, &starts))
        .start(&rt)
        .unwrap();
    starts.wait_for(3);
    let (a, b, c) = (starts.nth(0), starts.nth(1), starts.nth(2));

    rt.send(b.pid(), CRASH, vec![]).unwrap();
    starts.wait_for(6);
    assert_eq!(starts.ids(), ["a", "b", "c", "a", "b", "c"]);
    assert_eq!(exit_of(&b).reason, crash());
    assert_eq!(
        exit_of(&a).reason,
        ExitReason::Shutdown,
        "stopped by the supervisor"
    );
    assert_eq!(
        exit_of(&c).reason,
        ExitReason::Shutdown,
        "stopped by the supervisor"
    );
    let (a2, b2, c2) = (starts.nth(3), starts.nth(4), starts.nth(5));
    assert_eq!(
        children(&rt, sup.pid()),
        running(&[("a", &a2), ("b", &b2), ("c", &c2)])
    );
    for new in [&a2, &b2, &c2] {
        assert!(new.try_exit().is_none(), "{} runs", new.pid());
    }
    assert_eq!(stop_from_host(&rt, &sup), ExitReason::Shutdown);
}

#[test]
fn rest_for_one_restarts_the_crashed_child_and_only_those_started_after_it() {
    let rt = runtime(2, epoch());
    let starts = Starts::default();
    let sup = Supervisor::builder(Strategy::RestForOne)
        .intensity(10, HANG)
        .child(worker("a", Restart::Permanent, &starts))
        .child(worker("b", Restart::Permanent, &starts))
        .child(worker("c", Restart::Permanent, &starts))
        .start(&rt)
        .unwrap();
    starts.wait_for(3);
    let (a, b, c) = (starts.nth(0), starts.nth(1), starts.nth(2));

    rt.send(b.pid(), CRASH, vec![]).unwrap();
    starts.wait_for(5);
    assert_eq!(starts.ids(), ["a", "b", "c", "b", "c"]);
    assert_eq!(exit_of(&b).reason, crash());
    assert_eq!(exit_of(&c).reason, ExitReason::Shutdown);
    let (b2, c2) = (starts.nth(3), starts.nth(4));
    assert_eq!(
        children(&rt, sup.pid()),
        running(&[("a", &a), ("b", &b2), ("c", &c2)])
    );
    assert!(a.try_exit().is_none(), "a, started before b, kept running");

    // The last child has no younger siblings: it restarts alone.
    rt.send(c2.pid(), CRASH, vec![]).unwrap();
    starts.wait_for(6);
    assert_eq!(starts.ids()[5], "c");
    let c3 = starts.nth(5);
    assert_eq!(
        children(&rt, sup.pid()),
        running(&[("a", &a), ("b", &b2), ("c", &c3)])
    );
    assert_eq!(stop_from_host(&rt, &sup), ExitReason::Shutdown);
}

#[test]
fn a_transient_child_is_restarted_after_a_crash_but_not_after_normal_or_shutdown() {
    let rt = runtime(2, epoch());
    let starts = Starts::default();
    let sup = Supervisor::builder(Strategy::OneForOne)
        .intensity(10, HANG)
        .child(worker("t", Restart::Transient, &starts))
        .child(worker("s", Restart::Transient, &starts))
        .start(&rt)
        .unwrap();
    starts.wait_for(2);
    let (t, s) = (starts.nth(0), starts.nth(1));

    rt.send(t.pid(), CRASH, vec![]).unwrap();
    starts.wait_for(3);
    let t2 = starts.nth(2);
    assert_eq!(starts.ids()[2], "t");

    rt.send(t2.pid(), STOP, vec![]).unwrap();
    assert_eq!(exit_of(&t2).reason, ExitReason::Normal { code: 0 });
    rt.send(s.pid(), QUIT, vec![]).unwrap();
    assert_eq!(exit_of(&s).reason, ExitReason::Shutdown);

    // Both EXITs are queued before the request, so the reply follows both decisions.
    assert_eq!(
        children(&rt, sup.pid()),
        [
            ChildInfo {
                id: "t".into(),
                pid: None
            },
            ChildInfo {
                id: "s".into(),
                pid: None
            },
        ]
    );
    assert_eq!(starts.len(), 3, "no restart after normal or shutdown");
    assert_eq!(stop_from_host(&rt, &sup), ExitReason::Shutdown);
}

#[test]
fn a_temporary_child_is_never_restarted_and_leaves_the_child_list() {
    let rt = runtime(2, epoch());
    let starts = Starts::default();
    let sup = Supervisor::builder(Strategy::OneForOne)
        .child(worker("tmp", Restart::Temporary, &starts))
        .child(worker("keep", Restart::Permanent, &starts))
        .start(&rt)
        .unwrap();
    starts.wait_for(2);
    let (tmp, keep) = (starts.nth(0), starts.nth(1));
    rt.send(tmp.pid(), CRASH, vec![]).unwrap();
    assert_eq!(exit_of(&tmp).reason, crash());
    assert_eq!(children(&rt, sup.pid()), running(&[("keep", &keep)]));
    assert_eq!(starts.len(), 2);
    assert_eq!(stop_from_host(&rt, &sup), ExitReason::Shutdown);
}

#[test]
fn a_temporary_sibling_stopped_by_one_for_all_is_not_restarted() {
    let rt = runtime(2, epoch());
    let starts = Starts::default();
    let sup = Supervisor::builder(Strategy::OneForAll)
        .child(worker("tmp", Restart::Temporary, &starts))
        .child(worker("p", Restart::Permanent, &starts))
        .start(&rt)
        .unwrap();
    starts.wait_for(2);
    let (tmp, p) = (starts.nth(0), starts.nth(1));
    rt.send(p.pid(), CRASH, vec![]).unwrap();
    starts.wait_for(3);
    assert_eq!(starts.ids(), ["tmp", "p", "p"]);
    assert_eq!(exit_of(&tmp).reason, ExitReason::Shutdown);
    assert_eq!(children(&rt, sup.pid()), running(&[("p", &starts.nth(2))]));
    assert_eq!(stop_from_host(&rt, &sup), ExitReason::Shutdown);
}

#[test]
fn exceeding_the_intensity_stops_the_children_and_the_supervisor_with_shutdown() {
    let rt = runtime(2, epoch());
    let starts = Starts::default();
    let sup = Supervisor::builder(Strategy::OneForOne)
        .intensity(2, HANG)
        .child(worker("steady", Restart::Permanent, &starts))
        .child(crasher("crasher", &starts))
        .start(&rt)
        .unwrap();
    assert_eq!(exit_of(&sup).reason, ExitReason::Shutdown);
    let crashes = starts.of("crasher");
    assert_eq!(crashes.len(), 3, "the first start and two restarts");
    for crashed in &crashes {
        assert_eq!(exit_of(crashed).reason, crash());
    }
    let steady = starts.of("steady");
    assert_eq!(steady.len(), 1);
    assert_eq!(
        steady[0].try_exit().map(|e| e.reason),
        Some(ExitReason::Shutdown),
        "stopped before the supervisor exited"
    );
}

#[test]
fn the_default_intensity_allows_one_restart() {
    let rt = runtime(2, epoch());
    let starts = Starts::default();
    let sup = Supervisor::builder(Strategy::OneForOne)
        .child(crasher("crasher", &starts))
        .start(&rt)
        .unwrap();
    assert_eq!(exit_of(&sup).reason, ExitReason::Shutdown);
    assert_eq!(starts.len(), 2);
}

#[test]
fn restarts_further_apart_than_the_period_never_reach_the_intensity() {
    const NAP: Duration = Duration::from_millis(50);
    let rt = runtime(2, epoch());
    let starts = Starts::default();
    let attempts = Arc::new(AtomicU32::new(0));
    // Crashes four times, each at least NAP after its start; the period is shorter, so
    // each restart is alone in its window.
    let spec = {
        let (starts, attempts) = (starts.clone(), attempts.clone());
        ChildSpec::new("slow", Restart::Permanent, move |ctx: &NativeContext| {
            let attempt = attempts.fetch_add(1, Ordering::SeqCst);
            let handle = ctx.spawn_native_link(SpawnOptions::new(), move |cx| async move {
                if attempt < 4 {
                    cx.sleep(NAP).await;
                    return die(&cx, crash()).await;
                }
                cx.receive(None, None).await;
                0
            })?;
            Ok(starts.record("slow", &handle))
        })
    };
    let sup = Supervisor::builder(Strategy::OneForOne)
        .intensity(1, NAP / 5)
        .child(spec)
        .start(&rt)
        .unwrap();
    starts.wait_for(5);
    let last = starts.nth(4);
    wait_for_state(&rt, last.pid(), State::Waiting(WaitReason::Receive));
    assert_eq!(children(&rt, sup.pid()), running(&[("slow", &last)]));
    assert!(sup.try_exit().is_none());
    assert_eq!(stop_from_host(&rt, &sup), ExitReason::Shutdown);
}

#[test]
fn a_child_that_fails_to_start_at_init_stops_the_started_ones_and_the_supervisor() {
    let rt = runtime(2, epoch());
    let module = rt.compile_wat(RECEIVER).unwrap();
    let starts = Starts::default();
    let calls = Arc::new(AtomicU32::new(0));
    let broken = {
        let calls = calls.clone();
        ChildSpec::new("broken", Restart::Permanent, move |ctx: &NativeContext| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(ctx.spawn_link(&module, "no_such_export", 0)?.pid())
        })
    };
    let sup = Supervisor::builder(Strategy::OneForOne)
        .child(worker("a", Restart::Permanent, &starts))
        .child(broken)
        .child(worker("c", Restart::Permanent, &starts))
        .start(&rt)
        .unwrap();
    assert_eq!(exit_of(&sup).reason, ExitReason::Shutdown);
    assert_eq!(starts.ids(), ["a"], "c never started");
    assert_eq!(exit_of(&starts.nth(0)).reason, ExitReason::Shutdown);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no retry at init");
}

#[test]
fn a_start_that_fails_during_a_restart_counts_against_the_intensity() {
    let rt = runtime(2, epoch());
    let module = rt.compile_wat(RECEIVER).unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let first = Arc::new(Mutex::new(None));
    let spec = {
        let (calls, first) = (calls.clone(), first.clone());
        ChildSpec::new("once", Restart::Permanent, move |ctx: &NativeContext| {
            let export = match calls.fetch_add(1, Ordering::SeqCst) {
                0 => "main",
                _ => "no_such_export",
            };
            let handle = ctx.spawn_link(&module, export, 0)?;
            *first.lock().unwrap() = Some(handle.clone());
            Ok(handle.pid())
        })
    };
    let sup = Supervisor::builder(Strategy::OneForOne)
        .intensity(3, HANG)
        .child(spec)
        .start(&rt)
        .unwrap();
    let child = wait_until("the first start", || first.lock().unwrap().clone());
    rt.exit(child.pid(), SignalReason::Kill).unwrap();
    assert_eq!(exit_of(&sup).reason, ExitReason::Shutdown);
    // The first start, then three failed attempts within the intensity; the fourth
    // attempt exceeded it before calling the start function.
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(exit_of(&child).reason, ExitReason::Killed);
}

/// A child that traps exits and, on its supervisor's `shutdown`, reports `digit` to the
/// process registered as `recorder`, then returns `digit`.
fn reporter(id: &'static str, digit: u8) -> ChildSpec {
    ChildSpec::new(id, Restart::Permanent, move |ctx: &NativeContext| {
        let supervisor = ctx.pid();
        let handle = ctx.spawn_native_link(SpawnOptions::new(), move |cx| async move {
            cx.trap_exit(true);
            loop {
                let msg = cx.receive(None, None).await.unwrap();
                if msg.from == Some(supervisor)
                    && msg.kind
                        == (MessageKind::Exit {
                            reason: ExitReason::Shutdown,
                        })
                {
                    cx.send_name("recorder", 0, vec![digit]).unwrap();
                    return i32::from(digit);
                }
            }
        })?;
        Ok(handle.pid())
    })
}

#[test]
fn shutdown_stops_the_children_one_at_a_time_in_reverse_start_order() {
    let rt = runtime(2, epoch());
    // Exits with the digits it got, in arrival order, as a decimal number.
    let recorder = rt
        .spawn_native(SpawnOptions::new(), |cx| async move {
            cx.register("recorder").unwrap();
            let mut order = 0;
            for _ in 0..3 {
                let msg = cx.receive(None, None).await.unwrap();
                order = order * 10 + i32::from(msg.data[0]);
            }
            order
        })
        .unwrap();
    wait_until("the recorder's name", || rt.whereis("recorder"));
    let sup = Supervisor::builder(Strategy::OneForOne)
        .child(reporter("one", 1))
        .child(reporter("two", 2))
        .child(reporter("three", 3))
        .start(&rt)
        .unwrap();
    let kids = wait_until("three children", || {
        let kids = children(&rt, sup.pid());
        kids.iter().all(|c| c.pid.is_some()).then_some(kids)
    });
    let handles: Vec<_> = kids
        .iter()
        .map(|c| rt.handle(c.pid.unwrap()).unwrap())
        .collect();
    for handle in &handles {
        wait_for_state(&rt, handle.pid(), State::Waiting(WaitReason::Receive));
    }

    assert_eq!(stop_from_host(&rt, &sup), ExitReason::Shutdown);
    for (handle, code) in handles.iter().zip(1..) {
        assert_eq!(
            handle.try_exit().map(|e| e.reason),
            Some(ExitReason::Normal { code }),
            "every child ended before the supervisor"
        );
    }
    assert_eq!(exit_of(&recorder).reason, ExitReason::Normal { code: 321 });
}

/// A child that traps exits and ignores every message; `saw_shutdown` is set when its
/// supervisor's `shutdown` arrives.
fn stubborn(id: &'static str, saw_shutdown: &Arc<AtomicBool>, starts: &Starts) -> ChildSpec {
    let (saw_shutdown, starts) = (saw_shutdown.clone(), starts.clone());
    ChildSpec::new(id, Restart::Permanent, move |ctx: &NativeContext| {
        let saw_shutdown = saw_shutdown.clone();
        let handle = ctx.spawn_native_link(SpawnOptions::new(), move |cx| async move {
            cx.trap_exit(true);
            loop {
                let msg = cx.receive(None, None).await.unwrap();
                if let MessageKind::Exit {
                    reason: ExitReason::Shutdown,
                } = msg.kind
                {
                    saw_shutdown.store(true, Ordering::SeqCst);
                }
            }
        })?;
        Ok(starts.record(id, &handle))
    })
}

#[test]
fn a_child_ignoring_shutdown_is_killed_after_its_timeout_and_brutal_kill_sends_none() {
    let rt = runtime(2, epoch());
    let starts = Starts::default();
    let (timed_saw, brutal_saw) = (Arc::default(), Arc::default());
    let sup = Supervisor::builder(Strategy::OneForOne)
        .child(
            stubborn("timed", &timed_saw, &starts)
                .shutdown(Shutdown::Timeout(Duration::from_millis(50))),
        )
        .child(stubborn("brutal", &brutal_saw, &starts).shutdown(Shutdown::BrutalKill))
        .child(worker("plain", Restart::Permanent, &starts))
        .start(&rt)
        .unwrap();
    starts.wait_for(3);
    let (timed, brutal, plain) = (starts.nth(0), starts.nth(1), starts.nth(2));
    for handle in [&timed, &brutal] {
        wait_for_state(&rt, handle.pid(), State::Waiting(WaitReason::Receive));
    }

    assert_eq!(stop_from_host(&rt, &sup), ExitReason::Shutdown);
    assert_eq!(exit_of(&plain).reason, ExitReason::Shutdown);
    assert_eq!(exit_of(&brutal).reason, ExitReason::Killed);
    assert!(
        !brutal_saw.load(Ordering::SeqCst),
        "killed without a shutdown first"
    );
    assert_eq!(exit_of(&timed).reason, ExitReason::Killed);
    assert!(timed_saw.load(Ordering::SeqCst), "asked to shut down first");
}

#[test]
fn an_exit_from_a_process_that_is_not_a_child_is_ignored() {
    let rt = runtime(2, epoch());
    let starts = Starts::default();
    let sup = Supervisor::builder(Strategy::OneForAll)
        .intensity(0, HANG)
        .child(worker("w", Restart::Permanent, &starts))
        .start(&rt)
        .unwrap();
    starts.wait_for(1);
    let sup_pid = sup.pid();
    let stranger = rt
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.link(sup_pid);
            die(&cx, crash()).await
        })
        .unwrap();
    assert_eq!(exit_of(&stranger).reason, crash());
    assert_eq!(children(&rt, sup.pid()), running(&[("w", &starts.nth(0))]));
    assert!(sup.try_exit().is_none());
    assert_eq!(starts.len(), 1);
    assert_eq!(stop_from_host(&rt, &sup), ExitReason::Shutdown);
}

#[test]
fn a_nested_supervisor_is_restarted_by_its_parent_and_stopped_through_it() {
    let rt = runtime(2, epoch());
    let starts = Starts::default();
    let inner =
        Supervisor::builder(Strategy::OneForOne).child(worker("w", Restart::Permanent, &starts));
    let top = Supervisor::builder(Strategy::OneForOne)
        .child(ChildSpec::supervisor("inner", Restart::Permanent, inner))
        .start(&rt)
        .unwrap();
    starts.wait_for(1);
    let w1 = starts.nth(0);
    let inner1 = children(&rt, top.pid())[0].pid.expect("inner runs");
    assert_eq!(children(&rt, inner1), running(&[("w", &w1)]));

    // Killing the inner supervisor takes its worker down through the link; the top one
    // restarts it, and it starts a new worker.
    rt.exit(inner1, SignalReason::Kill).unwrap();
    assert_eq!(exit_of(&w1).reason, ExitReason::Killed);
    starts.wait_for(2);
    let w2 = starts.nth(1);
    let inner2 = children(&rt, top.pid())[0].pid.expect("inner runs again");
    assert_ne!(inner2, inner1);
    assert_eq!(children(&rt, inner2), running(&[("w", &w2)]));
    let inner2 = rt.handle(inner2).unwrap();

    // The top supervisor's shutdown reaches the worker through the inner one.
    assert_eq!(stop_from_host(&rt, &top), ExitReason::Shutdown);
    assert_eq!(
        inner2.try_exit().map(|e| e.reason),
        Some(ExitReason::Shutdown)
    );
    assert_eq!(w2.try_exit().map(|e| e.reason), Some(ExitReason::Shutdown));
}

#[test]
fn a_named_supervisor_is_registered_before_start_returns_and_a_taken_name_is_refused() {
    let rt = runtime(2, epoch());
    let starts = Starts::default();
    let sup = Supervisor::builder(Strategy::OneForOne)
        .name("the-sup")
        .child(worker("w", Restart::Permanent, &starts))
        .start(&rt)
        .unwrap();
    assert_eq!(rt.whereis("the-sup"), Some(sup.pid()));

    let other = Starts::default();
    let refused = Supervisor::builder(Strategy::OneForOne)
        .name("the-sup")
        .child(worker("w", Restart::Permanent, &other))
        .start(&rt)
        .unwrap_err();
    assert_eq!(
        refused,
        SupervisorError::Name {
            name: "the-sup".into(),
            error: RegisterError::NameTaken {
                name: "the-sup".into(),
                holder: sup.pid(),
            },
        }
    );
    assert_eq!(rt.whereis("the-sup"), Some(sup.pid()));
    assert_eq!(stop_from_host(&rt, &sup), ExitReason::Shutdown);
    assert_eq!(other.len(), 0, "the refused supervisor started no child");
}

#[test]
fn a_supervisor_answers_a_native_request_for_its_children() {
    let rt = runtime(2, epoch());
    let starts = Starts::default();
    let sup = Supervisor::builder(Strategy::OneForOne)
        .child(worker("a", Restart::Permanent, &starts))
        .child(worker("b", Restart::Permanent, &starts))
        .start(&rt)
        .unwrap();
    starts.wait_for(2);
    let sup_pid = sup.pid();
    let (tx, rx) = std::sync::mpsc::channel();
    let asker = rt
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            tx.send(Supervisor::which_children(&cx, sup_pid, HANG).await)
                .unwrap();
            0
        })
        .unwrap();
    assert_eq!(exit_of(&asker).reason, ExitReason::Normal { code: 0 });
    assert_eq!(
        rx.recv().unwrap().unwrap(),
        running(&[("a", &starts.nth(0)), ("b", &starts.nth(1))])
    );
    assert_eq!(stop_from_host(&rt, &sup), ExitReason::Shutdown);
    assert_eq!(
        Supervisor::which_children_wait(&rt, sup_pid, HANG),
        Err(SupervisorError::Request(RequestError::Send(
            SendError::NoProc(sup_pid)
        ))),
        "an ended supervisor cannot be asked"
    );
}

#[test]
fn invalid_supervisor_settings_are_refused_at_start() {
    let rt = runtime(1, epoch());
    let starts = Starts::default();
    let zero = Supervisor::builder(Strategy::OneForOne).intensity(1, Duration::ZERO);
    assert_eq!(zero.start(&rt).unwrap_err(), SupervisorError::ZeroPeriod);
    let twice = Supervisor::builder(Strategy::OneForOne)
        .child(worker("w", Restart::Permanent, &starts))
        .child(worker("w", Restart::Permanent, &starts));
    assert_eq!(
        twice.start(&rt).unwrap_err(),
        SupervisorError::DuplicateId { id: "w".into() }
    );
    let unnamed =
        Supervisor::builder(Strategy::OneForOne).child(worker("", Restart::Permanent, &starts));
    assert_eq!(
        unnamed.start(&rt).unwrap_err(),
        SupervisorError::BadId { len: 0 }
    );
    assert_eq!(starts.len(), 0);
    assert_eq!(rt.stats().spawned, 0, "nothing was spawned");
}

#[test]
fn a_supervisor_whose_parent_dies_stops_its_children_and_exits_with_the_parents_reason() {
    let rt = runtime(2, epoch());
    let starts = Starts::default();
    let builder =
        Supervisor::builder(Strategy::OneForOne).child(worker("w", Restart::Permanent, &starts));
    let (tx, rx) = std::sync::mpsc::channel();
    let parent = rt
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            tx.send(builder.start_link(&cx).unwrap()).unwrap();
            // Stays up until told to crash.
            cx.receive(Some(CRASH), None).await;
            die(&cx, crash()).await
        })
        .unwrap();
    let sup = rx.recv().unwrap();
    starts.wait_for(1);
    rt.send(parent.pid(), CRASH, vec![]).unwrap();
    assert_eq!(exit_of(&parent).reason, crash());
    assert_eq!(exit_of(&sup).reason, crash());
    assert_eq!(
        starts.nth(0).try_exit().map(|e| e.reason),
        Some(ExitReason::Shutdown),
        "stopped before the supervisor exited"
    );
}
