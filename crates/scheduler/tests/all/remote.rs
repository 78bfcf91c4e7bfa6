//! The seam to a cluster's transport (`Remote` out, `RemotePort` in), tested with two
//! runtimes of different nodes joined by a transport that calls the other side at once:
//! sends, links, monitors and exit signals across nodes follow Erlang's rules, and a node
//! going down fires every link and monitor to it with `noconnection`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use shoal_scheduler::{
    ExitReason, GlobalName, GlobalNameError, Message, MessageKind, NodeId, Pid, Reference, Remote,
    RemotePort, RemoteSpawn, Runtime, SendError, SignalReason, SpawnOptions, Via,
};

use crate::{epoch, exit_of};

/// Two nodes' ports, by node, and the monitor references each watched node made for a
/// watcher's reference, as a real transport keeps them.
#[derive(Default)]
struct Wire {
    ports: Mutex<HashMap<NodeId, RemotePort>>,
    /// (watched node's reference) → (watcher's reference).
    watched_refs: Mutex<HashMap<Reference, Reference>>,
    /// (watcher's reference) → (watched node's reference).
    watcher_refs: Mutex<HashMap<Reference, Reference>>,
    /// Cluster-wide names: a holder whose node has no port or who is dead holds nothing.
    globals: Mutex<HashMap<String, Pid>>,
}

impl Wire {
    fn alive(&self, pid: Pid) -> bool {
        self.ports
            .lock()
            .get(&pid.node())
            .is_some_and(|p| p.is_alive(pid))
    }
}

/// One node's side of the wire.
struct Loopback {
    me: NodeId,
    wire: Arc<Wire>,
}

impl Loopback {
    fn port(&self, node: NodeId) -> Option<RemotePort> {
        self.wire.ports.lock().get(&node).cloned()
    }
}

impl Remote for Loopback {
    fn send(&self, to: Pid, message: Message) -> Result<(), SendError> {
        self.port(to.node())
            .ok_or(SendError::NoProc(to))?
            .deliver(to, message)
    }

    fn send_name(&self, node: NodeId, name: &str, message: Message) -> Result<(), SendError> {
        self.port(node)
            .ok_or_else(|| SendError::NoName(name.to_owned()))?
            .deliver_name(name, message)
    }

    fn link(&self, from: Pid, to: Pid) {
        let linked = self.port(to.node()).is_some_and(|p| p.link(to, from));
        if !linked {
            let me = self.port(self.me).unwrap();
            me.exit_signal(Some(to), from, Via::Link(ExitReason::NoProc));
        }
    }

    fn unlink(&self, from: Pid, to: Pid) {
        if let Some(port) = self.port(to.node()) {
            port.unlink(to, from);
        }
    }

    fn exit_signal(&self, from: Option<Pid>, to: Pid, via: Via) {
        if let Some(port) = self.port(to.node()) {
            port.exit_signal(from, to, via);
        }
    }

    fn monitor(&self, watcher: Pid, reference: Reference, target: Pid) {
        match self
            .port(target.node())
            .and_then(|p| p.monitor(target, watcher))
        {
            Some(theirs) => {
                self.wire.watched_refs.lock().insert(theirs, reference);
                self.wire.watcher_refs.lock().insert(reference, theirs);
            }
            None => {
                self.port(self.me)
                    .unwrap()
                    .down(watcher, reference, target, &ExitReason::NoProc)
            }
        }
    }

    fn demonitor(&self, _watcher: Pid, reference: Reference, target: Pid) {
        if let Some(theirs) = self.wire.watcher_refs.lock().remove(&reference) {
            self.wire.watched_refs.lock().remove(&theirs);
            if let Some(port) = self.port(target.node()) {
                port.demonitor(target, theirs);
            }
        }
    }

    fn spawn(&self, _node: NodeId, _spawn: RemoteSpawn, reply_to: Pid, tag: u64) {
        // A loopback has no runtime to compile in: it refuses, as a node that does not
        // accept spawns would.
        let me = self.port(self.me).unwrap();
        me.answer_spawn(reply_to, tag, Err("the loopback spawns nothing".into()));
    }

    fn global_name(&self, request: GlobalName, reply_to: Pid, tag: u64) {
        let mut globals = self.wire.globals.lock();
        let holder = globals
            .get(request.name())
            .copied()
            .filter(|p| self.wire.alive(*p));
        let answer = match request {
            GlobalName::Register { name, pid } => match holder {
                Some(holder) if holder != pid => Err(GlobalNameError::Taken { name, holder }),
                _ => {
                    globals.insert(name, pid);
                    Ok(None)
                }
            },
            GlobalName::Unregister { name } => Ok(globals.remove(&name).and(holder)),
            GlobalName::Whereis { .. } => Ok(holder),
        };
        drop(globals);
        self.port(self.me)
            .unwrap()
            .answer_global(reply_to, tag, &answer);
    }

    fn when_room(&self, reply_to: Pid, tag: u64) {
        // A loopback queues nothing: there is always room.
        let message = Message::data(None, tag, Vec::new());
        let _ = self.port(self.me).unwrap().deliver(reply_to, message);
    }

    fn is_up(&self, node: NodeId) -> bool {
        node != self.me && self.wire.ports.lock().contains_key(&node)
    }

    fn nodes(&self) -> Vec<NodeId> {
        let ports = self.wire.ports.lock();
        ports.keys().copied().filter(|n| *n != self.me).collect()
    }

    fn down(&self, reference: Reference, from: Pid, watcher: Pid, reason: &ExitReason) {
        let Some(theirs) = self.wire.watched_refs.lock().remove(&reference) else {
            return;
        };
        self.wire.watcher_refs.lock().remove(&theirs);
        if let Some(port) = self.port(watcher.node()) {
            port.down(watcher, theirs, from, reason);
        }
    }
}

/// Runtimes of nodes 1 and 2, joined by a loopback wire.
fn two_nodes() -> (Runtime, Runtime, Arc<Wire>) {
    let wire = Arc::new(Wire::default());
    let node = |id| {
        let id = NodeId::new(id).unwrap();
        let rt = Runtime::builder()
            .workers(1)
            .preemption(epoch())
            .node(id)
            .build()
            .unwrap();
        wire.ports.lock().insert(id, rt.remote_port());
        assert!(rt.attach_remote(Arc::new(Loopback {
            me: id,
            wire: wire.clone(),
        })));
        rt
    };
    (node(1), node(2), wire)
}

/// A native process on `rt` that waits for one message and ends with `reason`.
fn ends_on_message(rt: &Runtime, reason: SignalReason) -> Pid {
    rt.spawn_native(SpawnOptions::new(), move |cx| async move {
        cx.receive(None, None).await;
        let me = cx.pid();
        let _ = cx.exit(me, reason);
        cx.sleep(Duration::from_secs(60)).await;
        0
    })
    .unwrap()
    .pid()
}

const HOUR: Option<Duration> = Some(Duration::from_secs(3600));

#[test]
fn pids_carry_their_node_and_a_second_transport_is_refused() {
    let (a, b, wire) = two_nodes();
    let p = ends_on_message(&b, SignalReason::Kill);
    assert_eq!(p.node(), NodeId::new(2).unwrap());
    assert_eq!(
        p.to_string(),
        format!("<2.{}.{}>", p.index(), p.generation())
    );
    assert_eq!(a.node(), NodeId::new(1).unwrap());
    assert!(!a.attach_remote(Arc::new(Loopback { me: a.node(), wire })));
    b.kill(p).unwrap();
}

#[test]
fn a_message_crosses_nodes_with_its_sender_and_the_reply_comes_back() {
    let (a, b, _wire) = two_nodes();
    let echo = b
        .spawn_native(SpawnOptions::new(), |cx| async move {
            let m = cx.receive(None, HOUR).await.unwrap();
            cx.send(m.from.unwrap(), m.tag + 1, m.data).unwrap();
            0
        })
        .unwrap();
    let to = echo.pid();
    let asker = a
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.send(to, 41, b"hi".to_vec()).unwrap();
            let reply = cx.receive(None, HOUR).await.unwrap();
            assert_eq!(
                (reply.from, reply.tag, &reply.data[..]),
                (Some(to), 42, &b"hi"[..])
            );
            7
        })
        .unwrap();
    assert_eq!(exit_of(&asker).reason, ExitReason::Normal { code: 7 });
    assert_eq!(exit_of(&echo).reason, ExitReason::Normal { code: 0 });
}

#[test]
fn a_link_across_nodes_carries_the_exit_both_ways() {
    let (a, b, _wire) = two_nodes();
    let custom = ExitReason::Custom {
        code: 3,
        data: b"bye".to_vec(),
    };
    let far = ends_on_message(&b, SignalReason::Reason(custom.clone()));
    let expected = custom.clone();
    let trapper = a
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.trap_exit(true);
            cx.link(far);
            cx.send(far, 0, vec![]).unwrap();
            let m = cx.receive(None, HOUR).await.unwrap();
            assert_eq!(m.from, Some(far));
            assert_eq!(m.kind, MessageKind::Exit { reason: expected });
            0
        })
        .unwrap();
    assert_eq!(exit_of(&trapper).reason, ExitReason::Normal { code: 0 });

    // The other way: a process of node 1 that dies takes its linked peer on node 2.
    let near = ends_on_message(&a, SignalReason::Reason(ExitReason::Shutdown));
    let peer = b
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.link(near);
            cx.send(near, 0, vec![]).unwrap();
            cx.sleep(Duration::from_secs(60)).await;
            0
        })
        .unwrap();
    assert_eq!(exit_of(&peer).reason, ExitReason::Shutdown);
}

#[test]
fn a_link_to_a_dead_pid_of_another_node_is_noproc_and_an_unlink_stops_the_signal() {
    let (a, b, _wire) = two_nodes();
    let gone = b
        .spawn_native(SpawnOptions::new(), |_| async { 0 })
        .unwrap();
    exit_of(&gone);
    let gone = gone.pid();
    let linker = a
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.link(gone);
            cx.sleep(Duration::from_secs(60)).await;
            0
        })
        .unwrap();
    assert_eq!(exit_of(&linker).reason, ExitReason::NoProc);

    let far = ends_on_message(&b, SignalReason::Reason(ExitReason::Shutdown));
    let unlinker = a
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.link(far);
            cx.unlink(far);
            cx.send(far, 0, vec![]).unwrap();
            cx.sleep(Duration::from_millis(50)).await;
            5
        })
        .unwrap();
    assert_eq!(exit_of(&unlinker).reason, ExitReason::Normal { code: 5 });
}

#[test]
fn a_monitor_across_nodes_delivers_down_with_the_reason_and_demonitor_stops_it() {
    let (a, b, wire) = two_nodes();
    let far = ends_on_message(&b, SignalReason::Reason(ExitReason::Shutdown));
    let other = ends_on_message(&b, SignalReason::Reason(ExitReason::Shutdown));
    let watcher = a
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            let quiet = cx.monitor(other);
            assert!(cx.demonitor(quiet, true));
            cx.send(other, 0, vec![]).unwrap();
            let r = cx.monitor(far);
            cx.send(far, 0, vec![]).unwrap();
            let m = cx.receive(None, HOUR).await.unwrap();
            assert_eq!(m.from, Some(far));
            assert_eq!(
                m.kind,
                MessageKind::Down {
                    reference: r,
                    reason: ExitReason::Shutdown
                }
            );
            assert!(
                cx.receive(None, Some(Duration::from_millis(50)))
                    .await
                    .is_none()
            );
            0
        })
        .unwrap();
    assert_eq!(exit_of(&watcher).reason, ExitReason::Normal { code: 0 });
    assert!(
        wire.watched_refs.lock().is_empty(),
        "every monitor's mapping is gone"
    );
}

#[test]
fn a_node_going_down_fires_links_and_monitors_to_it_with_noconnection() {
    let (a, b, _wire) = two_nodes();
    let (linked, watched) = (
        ends_on_message(&b, SignalReason::Kill),
        ends_on_message(&b, SignalReason::Kill),
    );
    // Both processes hold their links and monitor before the node goes down.
    let (ready, held) = std::sync::mpsc::channel();
    let (go, set) = (ready.clone(), ready);
    let trapper = a
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.trap_exit(true);
            cx.link(linked);
            let r = cx.monitor(watched);
            go.send(()).unwrap();
            let mut seen = Vec::new();
            for _ in 0..2 {
                seen.push(cx.receive(None, HOUR).await.unwrap().kind);
            }
            assert!(seen.contains(&MessageKind::Exit {
                reason: ExitReason::NoConnection
            }));
            assert!(seen.contains(&MessageKind::Down {
                reference: r,
                reason: ExitReason::NoConnection
            }));
            0
        })
        .unwrap();
    let victim = a
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.link(linked);
            set.send(()).unwrap();
            cx.sleep(Duration::from_secs(60)).await;
            0
        })
        .unwrap();
    held.recv().unwrap();
    held.recv().unwrap();
    assert_eq!(a.remote_port().node_down(b.node()), 3);
    assert_eq!(exit_of(&trapper).reason, ExitReason::Normal { code: 0 });
    assert_eq!(exit_of(&victim).reason, ExitReason::NoConnection);
}

/// Lists the nodes up (expects exactly the one given as the argument), monitors it and
/// waits for the `DOWN`: 0 if it is a `DOWN` with no sender and reason `noconnection`
/// (kind 9), else the step that went wrong.
const NODE_WATCHER: &str = r#"(module
  (import "shoal" "nodes" (func $nodes (param i32 i32) (result i32)))
  (import "shoal" "monitor_node" (func $monitor_node (param i32) (result i64)))
  (import "shoal" "receive_tag" (func $receive_tag (param i64 i64) (result i64)))
  (import "shoal" "message_kind" (func $kind (result i32)))
  (import "shoal" "message_sender" (func $sender (result i64)))
  (import "shoal" "message_read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "main") (param $node i64) (result i32)
    (if (i32.ne (call $nodes (i32.const 0) (i32.const 16)) (i32.const 1)) (then (return (i32.const 1))))
    (if (i64.ne (i64.load16_u (i32.const 0)) (local.get $node)) (then (return (i32.const 2))))
    (drop (call $receive_tag (call $monitor_node (i32.wrap_i64 (local.get $node))) (i64.const -1)))
    (if (i32.ne (call $kind) (i32.const 2)) (then (return (i32.const 3))))
    (if (i64.ne (call $sender) (i64.const -1)) (then (return (i32.const 4))))
    (drop (call $read (i32.const 8) (i32.const 5)))
    (if (i32.ne (i32.load8_u (i32.const 8)) (i32.const 9)) (then (return (i32.const 5))))
    (i32.const 0)))"#;

#[test]
fn a_guest_lists_the_nodes_up_and_its_node_monitor_fires_when_the_node_goes_down() {
    let (a, b, _wire) = two_nodes();
    let m = a.compile_wat(NODE_WATCHER).unwrap();
    let g = a.spawn(&m, "main", i64::from(b.node().get())).unwrap();
    crate::wait_for_state(
        &a,
        g.pid(),
        shoal_scheduler::State::Waiting(shoal_scheduler::WaitReason::Receive),
    );
    assert_eq!(a.remote_port().node_down(b.node()), 1);
    assert_eq!(exit_of(&g).reason, ExitReason::Normal { code: 0 });
}

#[test]
fn a_monitor_of_a_node_that_is_not_up_fires_at_once_and_a_demonitor_removes_one() {
    let (a, b, _wire) = two_nodes();
    let far = b.node();
    let p = a
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            assert_eq!(cx.nodes(), [far]);
            let nowhere = NodeId::new(77).unwrap();
            let r = cx.monitor_node(nowhere);
            let down = cx.try_receive(None).expect("at once");
            assert_eq!(
                (down.from, down.kind),
                (
                    None,
                    MessageKind::Down {
                        reference: r,
                        reason: ExitReason::NoConnection
                    }
                )
            );
            let kept = cx.monitor_node(far);
            assert!(cx.demonitor(kept, false));
            assert!(!cx.demonitor(kept, false), "once");
            i32::from(
                cx.receive(None, Some(Duration::from_millis(50)))
                    .await
                    .is_some(),
            )
        })
        .unwrap();
    // No `DOWN` for the demonitored monitor, though its node goes.
    std::thread::sleep(Duration::from_millis(10));
    a.remote_port().node_down(far);
    assert_eq!(exit_of(&p).reason, ExitReason::Normal { code: 0 });
}

#[test]
fn a_message_by_name_reaches_the_process_registered_on_the_named_node() {
    let (a, b, _wire) = two_nodes();
    let server = b
        .spawn_native(SpawnOptions::new(), |cx| async move {
            cx.register("room").unwrap();
            let m = cx.receive(None, HOUR).await.unwrap();
            cx.send(m.from.unwrap(), 2, m.data).unwrap();
            0
        })
        .unwrap();
    let b_node = b.node();
    crate::wait_until("the name", || b.whereis("room"));
    let client = a
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.send_name_on(b_node, "room", 1, b"hello".to_vec())
                .unwrap();
            // This node has no process of that name, and a node that is not up fails.
            assert!(cx.send_name_on(cx.pid().node(), "room", 1, vec![]).is_err());
            let nowhere = NodeId::new(77).unwrap();
            assert!(cx.send_name_on(nowhere, "room", 1, vec![]).is_err());
            let reply = cx.receive(None, HOUR).await.unwrap();
            assert_eq!((reply.tag, &reply.data[..]), (2, &b"hello"[..]));
            0
        })
        .unwrap();
    assert_eq!(exit_of(&client).reason, ExitReason::Normal { code: 0 });
    assert_eq!(exit_of(&server).reason, ExitReason::Normal { code: 0 });
}

/// Registers itself under the cluster-wide name "room" (its argument: 0 to register,
/// 1 to look the name up and send to its holder, 2 to find it taken and released),
/// returning 0, or the step that went wrong.
const GLOBAL_NAMES: &str = r#"(module
  (import "shoal" "register_global" (func $register (param i32 i32 i64) (result i32)))
  (import "shoal" "unregister_global" (func $unregister (param i32 i32) (result i32)))
  (import "shoal" "whereis_global" (func $whereis (param i32 i32) (result i64)))
  (import "shoal" "self" (func $self (result i64)))
  (import "shoal" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "shoal" "receive_tag" (func $receive_tag (param i64 i64) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "room")
  (func (export "main") (param $step i64) (result i32)
    (local $holder i64)
    (if (i64.eq (local.get $step) (i64.const 0)) (then
      (if (i32.ne (call $register (i32.const 0) (i32.const 4) (call $self)) (i32.const 0))
        (then (return (i32.const 1))))
      ;; Registering again as the holder is no conflict.
      (if (i32.ne (call $register (i32.const 0) (i32.const 4) (call $self)) (i32.const 0))
        (then (return (i32.const 2))))
      (drop (call $receive_tag (i64.const 5) (i64.const -1)))
      (return (i32.const 0))))
    (local.set $holder (call $whereis (i32.const 0) (i32.const 4)))
    (if (i64.lt_s (local.get $holder) (i64.const 0)) (then (return (i32.const 3))))
    (if (i64.eq (local.get $step) (i64.const 1)) (then
      (if (i32.ne (call $send (local.get $holder) (i64.const 5) (i32.const 0) (i32.const 0)) (i32.const 0))
        (then (return (i32.const 4))))
      (return (i32.const 0))))
    ;; Taken (-9), an empty name (-12), released (0), then no holder (-1, twice).
    (if (i32.ne (call $register (i32.const 0) (i32.const 4) (call $self)) (i32.const -9))
      (then (return (i32.const 5))))
    (if (i32.ne (call $register (i32.const 0) (i32.const 0) (call $self)) (i32.const -12))
      (then (return (i32.const 6))))
    (if (i32.ne (call $unregister (i32.const 0) (i32.const 4)) (i32.const 0))
      (then (return (i32.const 7))))
    (if (i64.ne (call $whereis (i32.const 0) (i32.const 4)) (i64.const -1))
      (then (return (i32.const 8))))
    (if (i32.ne (call $unregister (i32.const 0) (i32.const 4)) (i32.const -1))
      (then (return (i32.const 9))))
    (i32.const 0)))"#;

#[test]
fn guests_of_two_nodes_share_a_cluster_wide_name_through_the_transport() {
    let (a, b, _wire) = two_nodes();
    let (on_a, on_b) = (
        a.compile_wat(GLOBAL_NAMES).unwrap(),
        b.compile_wat(GLOBAL_NAMES).unwrap(),
    );
    let holder = a.spawn(&on_a, "main", 0).unwrap();
    crate::wait_for_state(
        &a,
        holder.pid(),
        shoal_scheduler::State::Waiting(shoal_scheduler::WaitReason::Receive),
    );
    let taker = b.spawn(&on_b, "main", 2).unwrap();
    assert_eq!(exit_of(&taker).reason, ExitReason::Normal { code: 0 });
    // Released by the taker: the holder registers again, then a sender of node 2 finds it.
    let again = a.spawn(&on_a, "main", 0).unwrap();
    crate::wait_for_state(
        &a,
        again.pid(),
        shoal_scheduler::State::Waiting(shoal_scheduler::WaitReason::Receive),
    );
    let sender = b.spawn(&on_b, "main", 1).unwrap();
    assert_eq!(exit_of(&sender).reason, ExitReason::Normal { code: 0 });
    assert_eq!(exit_of(&again).reason, ExitReason::Normal { code: 0 });
    a.kill(holder.pid()).unwrap();
}

#[test]
fn a_name_of_a_dead_holder_is_free_and_a_dead_or_remote_pid_cannot_be_registered() {
    let (a, b, _wire) = two_nodes();
    let far = ends_on_message(&b, SignalReason::Kill);
    let p = a
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            let me = cx.pid();
            cx.register_global("db", me).await.unwrap();
            assert_eq!(cx.whereis_global("db").await, Ok(Some(me)));
            assert_eq!(
                cx.register_global("db2", far).await,
                Err(GlobalNameError::NoProc(far))
            );
            let long = "x".repeat(shoal_scheduler::MAX_NAME_BYTES + 1);
            assert_eq!(
                cx.whereis_global(&long).await,
                Err(GlobalNameError::BadName(long.clone()))
            );
            let child = cx
                .spawn_native(SpawnOptions::new(), |_| async { 0 })
                .unwrap();
            let dead = child.pid();
            child.join().await;
            assert_eq!(
                cx.register_global("db2", dead).await,
                Err(GlobalNameError::NoProc(dead))
            );
            0
        })
        .unwrap();
    assert_eq!(exit_of(&p).reason, ExitReason::Normal { code: 0 });
    // Its holder is gone: the name is free for a process of the other node.
    let q = b
        .spawn_native(SpawnOptions::new(), |cx| async move {
            assert_eq!(cx.whereis_global("db").await, Ok(None));
            cx.register_global("db", cx.pid()).await.unwrap();
            0
        })
        .unwrap();
    assert_eq!(exit_of(&q).reason, ExitReason::Normal { code: 0 });
    b.kill(far).unwrap();
}

#[test]
fn without_a_cluster_global_names_are_unavailable_to_guests_and_native_processes() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let m = rt.compile_wat(GLOBAL_NAMES).unwrap();
    // Step 1 looks the name up first: refused (-14), so it ends with step 3.
    let g = rt.spawn(&m, "main", 1).unwrap();
    assert_eq!(exit_of(&g).reason, ExitReason::Normal { code: 3 });
    let p = rt
        .spawn_native(SpawnOptions::new(), |cx| async move {
            let answer = cx.register_global("db", cx.pid()).await;
            i32::from(matches!(answer, Err(GlobalNameError::Unavailable(_))))
        })
        .unwrap();
    assert_eq!(exit_of(&p).reason, ExitReason::Normal { code: 1 });
}

#[test]
fn wait_node_returns_ok_at_once_outside_a_cluster_and_with_a_transport_that_has_room() {
    const WAITER: &str = r#"(module
      (import "shoal" "wait_node" (func $wait_node (result i32)))
      (func (export "main") (result i32)
        (i32.sub (i32.const 7) (call $wait_node))))"#;
    let alone = Runtime::builder().workers(1).build().unwrap();
    let (a, _b, _wire) = two_nodes();
    for rt in [&alone, &a] {
        let m = rt.compile_wat(WAITER).unwrap();
        let g = rt.spawn(&m, "main", 0).unwrap();
        assert_eq!(exit_of(&g).reason, ExitReason::Normal { code: 7 });
    }
}
