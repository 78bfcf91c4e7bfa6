//! Two or three nodes of one cluster: they find each other, messages cross in order and
//! without loss, links and monitors cross, and a node that leaves or dies fires them.

use std::time::Duration;

use shoal_cluster::{ClusterError, Credentials};
use shoal_scheduler::{ExitReason, MessageKind, Pid, SendError, SpawnOptions};

use crate::{HANG, config, node, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_find_each_other_and_a_message_and_its_reply_cross() {
    let nats = server(&[]);
    let a = node(config(&nats, "a")).await;
    let b = node(config(&nats, "b")).await;
    assert_ne!(a.id(), b.id());
    let seen = a.wait_for_nodes(1, HANG).await.unwrap();
    assert_eq!((seen[0].id, seen[0].name.as_str()), (b.id(), "b"));
    b.wait_for_nodes(1, HANG).await.unwrap();

    let echo = b
        .runtime()
        .spawn_native(SpawnOptions::new(), |cx| async move {
            let m = cx.receive(None, Some(HANG)).await.unwrap();
            cx.send(m.from.unwrap(), m.tag + 1, m.data).unwrap();
            0
        })
        .unwrap();
    let to = echo.pid();
    assert_eq!(to.node(), b.id());
    let asker = a
        .runtime()
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.send(to, 41, b"ping".to_vec()).unwrap();
            let reply = cx.receive(None, Some(HANG)).await.unwrap();
            assert_eq!(
                (reply.from, reply.tag, &reply.data[..]),
                (Some(to), 42, &b"ping"[..])
            );
            7
        })
        .unwrap();
    assert_eq!(asker.join().await.reason, ExitReason::Normal { code: 7 });
    assert_eq!(echo.join().await.reason, ExitReason::Normal { code: 0 });
    // A ping goes with every heartbeat: the round trip to b is known soon, and the
    // message each way was counted.
    let start = std::time::Instant::now();
    while a.nodes()[0].round_trip.is_none() {
        assert!(start.elapsed() < HANG, "no ping came back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sa.messages_out, sa.messages_in), (1, 1));
    assert_eq!((sb.messages_out, sb.messages_in), (1, 1));
    let figures = a.metrics().render();
    let line = format!("shoal_peer_up{{peer=\"{}\",name=\"b\"}} 1", b.id());
    assert!(figures.contains(&line), "{figures}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_cross_in_order_and_none_is_lost() {
    const N: u64 = 10_000;
    let nats = server(&[]);
    let (a, b) = two_nodes(&nats).await;
    let counter = b
        .runtime()
        .spawn_native(SpawnOptions::new(), |cx| async move {
            for expected in 0..N {
                let m = cx.receive(None, Some(HANG)).await.unwrap();
                assert_eq!(m.tag, expected, "in order, none missing");
            }
            0
        })
        .unwrap();
    let to = counter.pid();
    let sender = a
        .runtime()
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            for tag in 0..N {
                loop {
                    match cx.send(to, tag, vec![0; 64]) {
                        Ok(()) => break,
                        Err(SendError::NodeBacklog { .. }) => cx.yield_now().await,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            0
        })
        .unwrap();
    assert_eq!(sender.join().await.reason, ExitReason::Normal { code: 0 });
    assert_eq!(counter.join().await.reason, ExitReason::Normal { code: 0 });
}

/// Nodes a and b on `nats`, once a has heard of b.
async fn two_nodes(nats: &crate::Server) -> (shoal_cluster::Node, shoal_cluster::Node) {
    let a = node(config(nats, "a")).await;
    let b = node(config(nats, "b")).await;
    a.wait_for_nodes(1, HANG).await.unwrap();
    (a, b)
}

/// A process on `node`, spawned with `options`, that sleeps through any test.
fn sleeper(node: &shoal_cluster::Node, options: SpawnOptions) -> Pid {
    node.runtime()
        .spawn_native(options, |cx| async move {
            cx.sleep(HANG).await;
            0
        })
        .unwrap()
        .pid()
}

/// The sender and kind of the `EXIT` a process trapping exits gets when its link to
/// `from` fires with `noconnection`.
fn noconnection_from(from: Pid) -> (Option<Pid>, MessageKind) {
    (
        Some(from),
        MessageKind::Exit {
            reason: ExitReason::NoConnection,
        },
    )
}

/// A process on `node` that waits for a message, then ends with `reason`.
fn ends_on_message(node: &shoal_cluster::Node, reason: ExitReason) -> Pid {
    node.runtime()
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.receive(None, Some(HANG)).await;
            let me = cx.pid();
            let _ = cx.exit(me, shoal_scheduler::SignalReason::Reason(reason));
            cx.sleep(HANG).await;
            0
        })
        .unwrap()
        .pid()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_and_a_monitor_across_nodes_carry_the_exit_reason() {
    let nats = server(&[]);
    let (a, b) = two_nodes(&nats).await;
    let custom = ExitReason::Custom {
        code: 3,
        data: b"bye".to_vec(),
    };
    let far = ends_on_message(&b, custom.clone());
    let watched = ends_on_message(&b, ExitReason::Shutdown);
    let expected = custom.clone();
    let trapper = a
        .runtime()
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.trap_exit(true);
            cx.link(far);
            let r = cx.monitor(watched);
            // The link and monitor reach b's node before these messages do.
            cx.send(far, 0, vec![]).unwrap();
            cx.send(watched, 0, vec![]).unwrap();
            let mut seen = Vec::new();
            for _ in 0..2 {
                let m = cx.receive(None, Some(HANG)).await.unwrap();
                seen.push((m.from, m.kind));
            }
            assert!(seen.contains(&(Some(far), MessageKind::Exit { reason: expected })));
            assert!(seen.contains(&(
                Some(watched),
                MessageKind::Down {
                    reference: r,
                    reason: ExitReason::Shutdown
                }
            )));
            0
        })
        .unwrap();
    assert_eq!(trapper.join().await.reason, ExitReason::Normal { code: 0 });
    assert_eq!(
        b.stats().remote_watchers,
        0,
        "the fired monitor is forgotten"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_a_dead_pid_of_another_node_is_noproc() {
    let nats = server(&[]);
    let (a, b) = two_nodes(&nats).await;
    let gone = b
        .runtime()
        .spawn_native(SpawnOptions::new(), |_| async { 0 })
        .unwrap();
    gone.join().await;
    let gone = gone.pid();
    let linker = a
        .runtime()
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.link(gone);
            cx.sleep(HANG).await;
            0
        })
        .unwrap();
    assert_eq!(linker.join().await.reason, ExitReason::NoProc);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_fires_its_links_and_one_that_falls_silent_gives_noconnection() {
    let nats = server(&[]);
    let a = node(config(&nats, "a")).await;
    let b = node(config(&nats, "b")).await;
    let c = node(config(&nats, "c")).await;
    a.wait_for_nodes(2, HANG).await.unwrap();
    b.wait_for_nodes(2, HANG).await.unwrap();
    c.wait_for_nodes(2, HANG).await.unwrap();
    let (on_b, on_c) = (
        sleeper(&b, SpawnOptions::new()),
        sleeper(&c, SpawnOptions::new()),
    );
    let watcher = a
        .runtime()
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.trap_exit(true);
            cx.link(on_b);
            cx.link(on_c);
            let mut seen = Vec::new();
            for _ in 0..2 {
                let m = cx.receive(None, Some(HANG)).await.unwrap();
                seen.push((m.from.unwrap(), m.kind));
            }
            seen.sort_by_key(|(p, _)| *p == on_c);
            assert_eq!(
                seen,
                [
                    // b stopped in order: its runtime killed the process after the
                    // grace, and the link carried that reason before b's goodbye.
                    (
                        on_b,
                        MessageKind::Exit {
                            reason: ExitReason::Killed
                        }
                    ),
                    // c's tasks died with it: silence, then noconnection.
                    (
                        on_c,
                        MessageKind::Exit {
                            reason: ExitReason::NoConnection
                        }
                    ),
                ]
            );
            0
        })
        .unwrap();
    // Both links are in place before either node goes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    b.stop(Duration::from_secs(1)).await;
    drop(c);
    assert_eq!(watcher.join().await.reason, ExitReason::Normal { code: 0 });
    let stats = a.stats();
    assert_eq!((stats.nodes_up, stats.nodes_down), (0, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_or_exit_signal_to_a_node_that_is_down_is_refused_and_its_id_is_never_reused() {
    let nats = server(&[]);
    let (a, b) = two_nodes(&nats).await;
    let far = sleeper(&b, SpawnOptions::new());
    let b_id = b.id();
    b.stop(Duration::from_millis(100)).await;
    let start = std::time::Instant::now();
    while a.stats().nodes_down == 0 {
        assert!(start.elapsed() < HANG, "b's goodbye never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        a.runtime().send(far, 0, vec![]),
        Err(SendError::NoProc(far))
    );
    assert_eq!(
        a.runtime().exit(far, shoal_scheduler::SignalReason::Kill),
        Err(shoal_scheduler::NoProc(far))
    );
    let again = node(config(&nats, "b")).await;
    assert_ne!(again.id(), b_id, "a restarted node draws another id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_wrong_credentials_cannot_join() {
    let nats = server(&["--user", "shoal", "--pass", "right"]);
    let mut wrong = config(&nats, "intruder");
    wrong.credentials = Credentials::UserPassword {
        user: "shoal".into(),
        password: "wrong".into(),
    };
    let refused =
        shoal_cluster::Node::start(wrong, shoal_scheduler::Runtime::builder().workers(1)).await;
    assert!(
        matches!(refused, Err(ClusterError::Connect { .. })),
        "{refused:?}"
    );
    let mut right = config(&nats, "member");
    right.credentials = Credentials::UserPassword {
        user: "shoal".into(),
        password: "right".into(),
    };
    node(right).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_loses_nothing_silently_and_a_link_across_it_fires_noconnection() {
    const N: u64 = 2_000;
    let mut nats = server(&[]);
    let (a, b) = two_nodes(&nats).await;
    // A counter on b, linked to a sender on a.
    let counter = b
        .runtime()
        .spawn_native(SpawnOptions::new(), |cx| async move {
            cx.trap_exit(true);
            let mut seen = Vec::new();
            loop {
                let m = cx.receive(None, Some(HANG)).await.unwrap();
                if m.kind != MessageKind::Data {
                    // Its side of the link fires too.
                    assert_eq!(
                        m.kind,
                        MessageKind::Exit {
                            reason: ExitReason::NoConnection
                        }
                    );
                    break;
                }
                seen.push(m.tag);
            }
            // Every number at most once, in increasing order, however many were lost.
            assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
            0
        })
        .unwrap();
    let to = counter.pid();
    let sender = a
        .runtime()
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.trap_exit(true);
            cx.link(to);
            for tag in 0..N {
                if cx.send(to, tag, vec![]).is_err() {
                    break;
                }
                cx.sleep(Duration::from_micros(500)).await;
            }
            // The server went away for longer than the liveness window: the link fired.
            let m = cx.receive(None, Some(HANG)).await.unwrap();
            assert_eq!((m.from, m.kind), noconnection_from(to));
            0
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let url = nats.url.clone();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    drop(nats);
    // Down for twice the liveness window, then back on the same port.
    tokio::time::sleep(Duration::from_millis(600)).await;
    nats = crate::server_on(port, &[]);
    assert_eq!(sender.join().await.reason, ExitReason::Normal { code: 0 });
    assert_eq!(counter.join().await.reason, ExitReason::Normal { code: 0 });
    drop(nats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_system_accounts_events_a_node_whose_connection_closes_is_down_at_once() {
    let nats = crate::server_with_system_account();
    let member = |name: &str| {
        let mut c = config(&nats, name);
        c.credentials = Credentials::UserPassword {
            user: "app".into(),
            password: "app".into(),
        };
        c.system = Some(Credentials::UserPassword {
            user: "sys".into(),
            password: "sys".into(),
        });
        // Silence alone would take a minute: only the event can be this quick.
        c.heartbeat = Duration::from_secs(1);
        c.down_after = Duration::from_secs(60);
        c
    };
    let a = node(member("a")).await;
    let c = node(member("c")).await;
    a.wait_for_nodes(1, HANG).await.unwrap();
    let far = sleeper(&c, SpawnOptions::new());
    let watcher = a
        .runtime()
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.trap_exit(true);
            cx.link(far);
            let m = cx.receive(None, Some(HANG)).await.unwrap();
            assert_eq!((m.from, m.kind), noconnection_from(far));
            0
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Dropped without a goodbye: its connection closes, as a killed node's does.
    drop(c);
    // The watcher's wait (HANG, 30 s) ends before silence could (60 s).
    assert_eq!(watcher.join().await.reason, ExitReason::Normal { code: 0 });
}

/// Nodes a, b (which accepts spawns) and c (which does not), all up.
async fn spawning_nodes(
    nats: &crate::Server,
) -> (
    shoal_cluster::Node,
    shoal_cluster::Node,
    shoal_cluster::Node,
) {
    let a = node(config(nats, "a")).await;
    let mut accepting = config(nats, "b");
    accepting.accept_spawn = true;
    let b = node(accepting).await;
    let c = node(config(nats, "c")).await;
    a.wait_for_nodes(2, HANG).await.unwrap();
    (a, b, c)
}

/// Sends `tag` to the `WAITER` process `pid` (wherever it runs) and checks, by a
/// monitor, that it ended `normal(code)`.
async fn waiter_ends(cx: &shoal_scheduler::NativeContext, pid: Pid, tag: u64, code: i32) {
    let r = cx.monitor(pid);
    cx.send(pid, tag, vec![]).unwrap();
    let down = cx.receive(Some(r.to_bits()), Some(HANG)).await.unwrap();
    let reason = ExitReason::Normal { code };
    assert_eq!(
        down.kind,
        MessageKind::Down {
            reference: r,
            reason
        }
    );
}

/// Waits for one message, then exits with its tag plus the spawn argument.
const WAITER: &str = r#"(module
  (import "shoal" "receive" (func $receive (param i64) (result i64)))
  (import "shoal" "message_tag" (func $tag (result i64)))
  (memory (export "memory") 1)
  (func (export "main") (param $arg i64) (result i32)
    (drop (call $receive (i64.const -1)))
    (i32.wrap_i64 (i64.add (call $tag) (local.get $arg)))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_spawned_on_another_node_runs_there_and_bad_spawns_are_refused_by_kind() {
    use shoal_cluster::{RemoteSpawnError, RemoteSpawnOptions, SpawnRefusal};
    let nats = server(&[]);
    let (a, b, c) = spawning_nodes(&nats).await;
    let options = RemoteSpawnOptions::default();

    // The module, and one made larger than two chunks by a comment; each twice: the
    // first spawn sends it, the second finds it compiled.
    let large = format!("{WAITER}\n;; {}", "x".repeat(300_000));
    for (module, arg) in [
        (WAITER, 1),
        (WAITER, 2),
        (large.as_str(), 3),
        (large.as_str(), 4),
    ] {
        let pid = a
            .spawn_on(b.id(), module.as_bytes(), "main", arg, options)
            .await
            .unwrap();
        assert_eq!(pid.node(), b.id());
        let watcher = a
            .runtime()
            .spawn_native(SpawnOptions::new(), move |cx| async move {
                waiter_ends(&cx, pid, 40, 40 + arg as i32).await;
                0
            })
            .unwrap();
        assert_eq!(watcher.join().await.reason, ExitReason::Normal { code: 0 });
    }

    let refused = |node, refusal| RemoteSpawnError::Refused { node, refusal };
    assert_eq!(
        a.spawn_on(c.id(), WAITER.as_bytes(), "main", 0, options)
            .await,
        Err(refused(c.id(), SpawnRefusal::NotAccepted))
    );
    assert!(matches!(
        a.spawn_on(b.id(), b"not wasm", "main", 0, options).await,
        Err(RemoteSpawnError::Refused {
            refusal: SpawnRefusal::Compile(_),
            ..
        })
    ));
    assert!(matches!(
        a.spawn_on(b.id(), WAITER.as_bytes(), "nope", 0, options)
            .await,
        Err(RemoteSpawnError::Refused {
            refusal: SpawnRefusal::Spawn(_),
            ..
        })
    ));
    let nowhere = (1..)
        .filter_map(shoal_scheduler::NodeId::new)
        .find(|n| ![a.id(), b.id(), c.id()].contains(n))
        .unwrap();
    assert_eq!(
        a.spawn_on(nowhere, WAITER.as_bytes(), "main", 0, options)
            .await,
        Err(RemoteSpawnError::NodeDown(nowhere))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joinable_remote_process_sends_its_exit_back_and_one_whose_node_dies_is_noconnection() {
    use shoal_cluster::RemoteSpawnOptions;
    let nats = server(&[]);
    let (a, b, _c) = spawning_nodes(&nats).await;
    let options = RemoteSpawnOptions::default();
    let done = a
        .spawn_on_joinable(b.id(), WAITER.as_bytes(), "main", 2, options)
        .await
        .unwrap();
    let held = a
        .spawn_on_joinable(b.id(), WAITER.as_bytes(), "main", 0, options)
        .await
        .unwrap();
    let pid = done.pid();
    a.runtime().send(pid, 5, vec![]).unwrap();
    let exit = done.join().await;
    assert_eq!(
        (exit.pid, exit.reason),
        (pid, ExitReason::Normal { code: 7 })
    );
    // It ran and waited there: its accounting came back with it.
    assert!(exit.accounting.quanta >= 1, "{:?}", exit.accounting);
    let (spawned, exited) = (exit.accounting.spawned_at, exit.accounting.exited_at);
    assert!(spawned.unwrap() <= exited.unwrap());
    // b goes silent with `held` still waiting: its exit is noconnection.
    let held_pid = held.pid();
    drop(b);
    let exit = held.join().await;
    assert_eq!(
        (exit.pid, exit.reason),
        (held_pid, ExitReason::NoConnection)
    );
}

/// Sends 2,000 messages of 200 bytes, tagged 0, 1, 2, ..., to the pid given as its
/// argument; a send refused with `NODE_BUSY` (-15) waits with `wait_node` and is tried
/// again. Returns how many times it waited.
const PATIENT_SENDER: &str = r#"(module
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "shoal" "wait_node" (func $wait_node (result i32)))
  (memory (export "memory") 1)
  (func (export "main") (param $to i64) (result i32)
    (local $tag i64) (local $status i32) (local $waits i32)
    (loop $next
      (block $sent
        (loop $try
          (local.set $status (call $send (local.get $to) (local.get $tag) (i32.const 0) (i32.const 200)))
          (br_if $sent (i32.eqz (local.get $status)))
          (if (i32.ne (local.get $status) (i32.const -15)) (then (unreachable)))
          (local.set $waits (i32.add (local.get $waits) (i32.const 1)))
          (drop (call $wait_node))
          (br $try)))
      (local.set $tag (i64.add (local.get $tag) (i64.const 1)))
      (br_if $next (i64.lt_u (local.get $tag) (i64.const 2000))))
    (local.get $waits)))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_to_a_slow_node_waits_for_room_and_loses_nothing() {
    let nats = server(&[]);
    // A backlog of 8 KiB holds some thirty such messages.
    let mut small = config(&nats, "a");
    small.backlog_bytes = 8 << 10;
    let a = node(small).await;
    let b = node(config(&nats, "b")).await;
    a.wait_for_nodes(1, HANG).await.unwrap();
    let counter = b
        .runtime()
        .spawn_native(SpawnOptions::new(), |cx| async move {
            for expected in 0..2000 {
                let m = cx.receive(None, Some(HANG)).await.unwrap();
                assert_eq!(m.tag, expected, "in order, none missing");
            }
            0
        })
        .unwrap();
    let to = counter.pid();
    let module = a.runtime().compile_wat(PATIENT_SENDER).unwrap();
    let guest = a
        .runtime()
        .spawn(&module, "main", to.to_bits() as i64)
        .unwrap();
    let waited = match guest.join().await.reason {
        ExitReason::Normal { code } => code,
        other => panic!("{other:?}"),
    };
    assert!(waited > 0, "the backlog never filled");
    assert_eq!(counter.join().await.reason, ExitReason::Normal { code: 0 });
    // A native process does the same with `wait_node_room`.
    let counter = b
        .runtime()
        .spawn_native(SpawnOptions::new(), |cx| async move {
            for expected in 0..2000 {
                let m = cx.receive(None, Some(HANG)).await.unwrap();
                assert_eq!(m.tag, expected);
            }
            0
        })
        .unwrap();
    let to = counter.pid();
    let sender = a
        .runtime()
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            let mut waits = 0;
            for tag in 0..2000 {
                while let Err(e) = cx.send(to, tag, vec![0; 200]) {
                    assert!(matches!(e, SendError::NodeBacklog { .. }), "{e}");
                    cx.wait_node_room().await;
                    waits += 1;
                }
            }
            waits
        })
        .unwrap();
    assert!(matches!(sender.join().await.reason, ExitReason::Normal { code } if code > 0));
    assert_eq!(counter.join().await.reason, ExitReason::Normal { code: 0 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_a_full_mailbox_cannot_take_are_counted_where_they_are_dropped() {
    let nats = server(&[]);
    let (a, b) = two_nodes(&nats).await;
    // A receiver that holds at most 2 messages and never takes one.
    let full = sleeper(&b, SpawnOptions::new().mailbox_bound(2));
    for tag in 0..5 {
        a.runtime().send(full, tag, vec![]).unwrap();
    }
    let start = std::time::Instant::now();
    while b.stats().refused_in < 3 {
        assert!(start.elapsed() < HANG, "{:?}", b.stats());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(b.stats().refused_in, 3);
}

/// Spawns its own `child` export on the node given as the argument and exits with the
/// node of the pid it got, or with the status `spawn_on` returned.
const SPAWNER: &str = r#"(module
  (import "shoal" "spawn_on" (func $spawn_on (param i32 i32 i32 i64) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "child")
  (func (export "child") (param i64) (result i32) (i32.const 0))
  (func (export "main") (param $node i64) (result i32)
    (local $pid i64)
    (local.set $pid (call $spawn_on (i32.wrap_i64 (local.get $node)) (i32.const 0) (i32.const 5) (i64.const 0)))
    (if (result i32) (i64.lt_s (local.get $pid) (i64.const 0))
      (then (i32.wrap_i64 (local.get $pid)))
      (else (i32.wrap_i64 (i64.shr_u (local.get $pid) (i64.const 48)))))))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_and_a_native_process_spawn_on_another_node_and_hear_refusals() {
    let nats = server(&[]);
    let (a, b, c) = spawning_nodes(&nats).await;

    // A guest: its own export, on b (the node's id comes back), on c (refused), and on
    // a node that is not up.
    let spawner = a.runtime().compile_wat(SPAWNER).unwrap();
    let nowhere = (1..)
        .filter_map(shoal_scheduler::NodeId::new)
        .find(|n| ![a.id(), b.id(), c.id()].contains(n))
        .unwrap();
    for (node, code) in [
        (b.id(), i32::from(b.id().get())),
        (c.id(), shoal_scheduler::status::REFUSED),
        (nowhere, shoal_scheduler::status::NOPROC),
    ] {
        let g = a
            .runtime()
            .spawn(&spawner, "main", i64::from(node.get()))
            .unwrap();
        assert_eq!(g.join().await.reason, ExitReason::Normal { code }, "{node}");
    }

    // A native process: a module of its runtime, on b, then talks to the child.
    let waiter = a.runtime().compile_wat(WAITER).unwrap();
    let (b_id, c_id) = (b.id(), c.id());
    let native = a
        .runtime()
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            let pid = cx.spawn_on(b_id, &waiter, "main", 5).await.unwrap();
            assert_eq!(pid.node(), b_id);
            waiter_ends(&cx, pid, 40, 45).await;
            let refused = cx.spawn_on(c_id, &waiter, "main", 0).await;
            assert!(
                matches!(refused, Err(shoal_scheduler::SpawnError::Remote { node, .. }) if node == c_id),
                "{refused:?}"
            );
            // Limits travel: a child that waits for ever ends at the deadline it was given.
            let options = shoal_scheduler::RemoteSpawnOptions {
                deadline: Some(Duration::from_millis(300)),
                ..Default::default()
            };
            let pid = cx
                .spawn_on_with(b_id, &waiter, "main", 0, options)
                .await
                .unwrap();
            let r = cx.monitor(pid);
            let down = cx.receive(Some(r.to_bits()), Some(HANG)).await.unwrap();
            assert_eq!(
                down.kind,
                MessageKind::Down {
                    reference: r,
                    reason: ExitReason::Deadline
                }
            );
            0
        })
        .unwrap();
    assert_eq!(native.join().await.reason, ExitReason::Normal { code: 0 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_that_speaks_for_another_nodes_process_is_dropped() {
    use shoal_cluster::wire::{Frame, Signal};
    let nats = server(&[]);
    let (a, b) = two_nodes(&nats).await;
    let listener = a
        .runtime()
        .spawn_native(SpawnOptions::new(), |cx| async move {
            let m = cx.receive(None, Some(HANG)).await.unwrap();
            // Only the honest frame's message arrives.
            assert_eq!((m.tag, m.from), (2, None));
            assert!(
                cx.receive(None, Some(Duration::from_millis(200)))
                    .await
                    .is_none()
            );
            0
        })
        .unwrap();
    let to = listener.pid().to_bits();
    // A client posing as a node that is no one: first it claims b's process as the
    // sender, then it sends as its own host.
    let b_pid = sleeper(&b, SpawnOptions::new()).to_bits();
    let raw = async_nats::connect(nats.url.as_str()).await.unwrap();
    let fake = (1..)
        .find(|n| ![a.id().get(), b.id().get()].contains(n))
        .unwrap();
    for (seq, from, tag) in [(1, Some(b_pid), 1), (2, None, 2)] {
        let frame = Frame {
            from: fake,
            creation: 99,
            seq,
            signal: Signal::Send {
                to,
                from,
                tag,
                data: vec![],
            },
        };
        raw.publish(format!("shoal.test.node.{}", a.id()), frame.encode().into())
            .await
            .unwrap();
    }
    raw.flush().await.unwrap();
    assert_eq!(listener.join().await.reason, ExitReason::Normal { code: 0 });
}
