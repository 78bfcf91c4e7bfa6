//! Signals across nodes: the seam between the actor rules and a cluster's transport.
//!
//! # What it owns
//! Nothing but the two directions of the seam:
//! - outward, the [`Remote`] trait: what this node asks of a transport when a signal's
//!   receiver is a pid of another node (a send, a link or unlink, an exit signal, a
//!   monitor or demonitor, a `DOWN`). A cluster crate implements it and attaches it
//!   with `Runtime::attach_remote`; without one, a pid of another node is a pid of no
//!   process, as it always was.
//! - inward, [`RemotePort`]: what a transport does on this node when a signal arrives
//!   from another (deliver a message, keep this node's half of a link or monitor, carry
//!   out an exit signal or a `DOWN`), and [`RemotePort::node_down`], which fires every
//!   link and monitor to a node that went down with `noconnection`.
//!
//! # What it may import
//! The executor and `proc`, like the rest of the actor layer. Never a transport: the
//! cluster crate depends on this, not the other way round.
//!
//! # Invariants
//! - A relation with a remote pid is kept in halves: each node holds its own process's
//!   side in that process's relations, and the two sides are joined by messages. The
//!   local half is made before the request leaves, so the answer (a `noproc` exit
//!   signal, a `DOWN(noproc)`) finds it.
//! - [`Remote`]'s methods are called in the order the signals are sent, from the thread
//!   that sends them, and must queue without blocking: an implementation that keeps that
//!   order per receiving node keeps Erlang's ordering between any two processes.
//! - A monitor's reference is its watcher's node's. The watched node keeps the watcher
//!   under a reference of its own ([`RemotePort::monitor`] returns it), so references of
//!   two nodes never collide in one process's relations; the transport maps one to the
//!   other.

use std::sync::Arc;
use std::time::Duration;

use shoal_executor::{Executor, Process, SendError};
use shoal_proc::{Charge, ExitReason, Message, NodeId, Pid, Reference, SignalOutcome, Via};

use super::{Actors, carry_out};
use crate::error::SpawnError;

/// The options of a process spawned on another node: the limits that travel with the
/// request (WASI settings, weights, groups and mailbox bounds do not; the node's defaults
/// apply).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoteSpawnOptions {
    /// Its lifetime fuel budget.
    pub fuel_limit: Option<u64>,
    /// Its wall-clock deadline.
    pub deadline: Option<Duration>,
    /// Its largest linear memory, in bytes.
    pub max_memory: Option<u64>,
}

/// A spawn on another node: the module's bytes, the export, its argument and the
/// options that travel.
#[derive(Clone, Debug)]
pub struct RemoteSpawn {
    /// The module's bytes (sent only if that node has not compiled them before).
    pub source: Arc<[u8]>,
    /// The entry export.
    pub export: String,
    /// The entry's argument.
    pub arg: i64,
    /// The limits that travel.
    pub options: RemoteSpawnOptions,
}

/// What a cluster's transport does for signals to pids of other nodes (module docs).
/// Every method queues and returns at once.
pub trait Remote: Send + Sync + 'static {
    /// A message for `to`. An error if its node is known to be down or the message
    /// cannot be queued.
    fn send(&self, to: Pid, message: Message) -> Result<(), SendError>;
    /// A message for the process registered as `name` on `node` (Erlang's
    /// `{name, node} ! message`). An error if the node is known to be down.
    fn send_name(&self, node: NodeId, name: &str, message: Message) -> Result<(), SendError>;
    /// `from`, of this node, linked itself to `to`: `to`'s node keeps the other half,
    /// or answers with a `noproc` exit signal.
    fn link(&self, from: Pid, to: Pid);
    /// `from` removed its link with `to`.
    fn unlink(&self, from: Pid, to: Pid);
    /// An exit signal from `from` (`None`: the host) to `to`: `Via::Link` when `from`,
    /// linked to `to`, ended; `Via::Exit` for `exit(to, reason)`.
    fn exit_signal(&self, from: Option<Pid>, to: Pid, via: Via);
    /// `watcher`, of this node, monitors `target` under `reference`.
    fn monitor(&self, watcher: Pid, reference: Reference, target: Pid);
    /// `watcher` removed its monitor `reference` of `target`.
    fn demonitor(&self, watcher: Pid, reference: Reference, target: Pid);
    /// `from`, of this node, ended with `reason`; `watcher` monitored it under
    /// `reference`, this node's reference from [`RemotePort::monitor`].
    fn down(&self, reference: Reference, from: Pid, watcher: Pid, reason: &ExitReason);
    /// Carries out `spawn` on `node` for the process `reply_to`: the answer comes to it
    /// later as a data message tagged `tag`, made by [`RemotePort::answer_spawn`].
    fn spawn(&self, node: NodeId, spawn: RemoteSpawn, reply_to: Pid, tag: u64);
    /// A request about a cluster-wide name for the process `reply_to`: the answer comes
    /// to it later as a data message tagged `tag`, made by [`RemotePort::answer_global`].
    fn global_name(&self, request: GlobalName, reply_to: Pid, tag: u64);
    /// Answers the process `reply_to` with an empty data message tagged `tag` once the
    /// queue to other nodes has room for sends again ([`SendError::NodeBacklog`] is
    /// refused no more): at once if it has.
    fn when_room(&self, reply_to: Pid, tag: u64);
    /// Whether `node` is up.
    fn is_up(&self, node: NodeId) -> bool;
    /// The other nodes that are up, by id.
    fn nodes(&self) -> Vec<NodeId>;
}

/// A request about a cluster-wide name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GlobalName {
    /// Registers `name` to `pid`, a live process of the asking node, unless another
    /// live process holds it.
    Register {
        /// The name.
        name: String,
        /// Its new holder.
        pid: Pid,
    },
    /// Releases `name`, whoever holds it (Erlang's `global:unregister_name`).
    Unregister {
        /// The name.
        name: String,
    },
    /// Looks `name` up.
    Whereis {
        /// The name.
        name: String,
    },
}

impl GlobalName {
    /// The name the request is about.
    pub fn name(&self) -> &str {
        match self {
            GlobalName::Register { name, .. }
            | GlobalName::Unregister { name }
            | GlobalName::Whereis { name } => name,
        }
    }
}

/// The attached transport, if any.
pub(crate) fn remote_of(actors: &Actors) -> Option<&Arc<dyn Remote>> {
    actors.remote.get()
}

/// Whether `pid` is a process of another node than `executor`'s.
pub(crate) fn is_remote(executor: &Executor, pid: Pid) -> bool {
    pid.node() != executor.node()
}

/// What a transport does on this node for signals from other nodes (module docs).
/// Obtained from `Runtime::remote_port`; cheap to clone.
#[derive(Clone)]
pub struct RemotePort {
    pub(crate) executor: Arc<Executor>,
    pub(crate) actors: Arc<Actors>,
}

impl std::fmt::Debug for RemotePort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemotePort")
            .field("node", &self.executor.node())
            .finish()
    }
}

impl RemotePort {
    /// This node's id.
    pub fn node(&self) -> NodeId {
        self.executor.node()
    }

    fn local(&self, pid: Pid) -> Option<Arc<Process>> {
        self.executor.process(pid)
    }

    /// Delivers a message from another node to `to`, a process of this node.
    pub fn deliver(&self, to: Pid, message: Message) -> Result<(), SendError> {
        self.executor.send(to, message)
    }

    /// Delivers a message from another node to the process registered here as `name`.
    pub fn deliver_name(&self, name: &str, message: Message) -> Result<(), SendError> {
        super::send_name(&self.executor, &self.actors, name, message)
    }

    /// Keeps this node's half of a link between `local` and `remote`. False if `local`
    /// is not alive: `remote` is owed a `noproc` exit signal.
    pub fn link(&self, local: Pid, remote: Pid) -> bool {
        self.local(local)
            .is_some_and(|p| p.core.link_remote(remote))
    }

    /// Removes this node's half of a link between `local` and `remote`.
    pub fn unlink(&self, local: Pid, remote: Pid) {
        if let Some(process) = self.local(local) {
            process.core.unlink(remote, None);
        }
    }

    /// An exit signal from `from`, of another node (`None`: its host), to `to`, of this
    /// node. A `Via::Link` is carried out only if the link still stands. Whether `to`
    /// was alive.
    pub fn exit_signal(&self, from: Option<Pid>, to: Pid, via: Via) -> bool {
        let Some(receiver) = self.local(to) else {
            return false;
        };
        let outcome = match (&via, from) {
            (Via::Link(reason), Some(from)) => receiver.core.on_linked_exit(from, reason),
            _ => receiver.core.on_exit_signal(from, via),
        };
        carry_out(&receiver, outcome);
        true
    }

    /// Keeps a monitor of `target`, of this node, held by `watcher`, of another node. The
    /// reference this node keeps it under, or `None` if `target` is not alive: `watcher`
    /// is owed a `DOWN(noproc)`.
    pub fn monitor(&self, target: Pid, watcher: Pid) -> Option<Reference> {
        let process = self.local(target)?;
        let reference = self.actors.make_ref();
        process
            .core
            .add_remote_watcher(reference, watcher)
            .then_some(reference)
    }

    /// Removes the monitor this node keeps under `reference` on `target`.
    pub fn demonitor(&self, target: Pid, reference: Reference) {
        if let Some(process) = self.local(target) {
            process.core.remove_watcher(reference);
        }
    }

    /// `DOWN(reference, from, reason)` for `watcher`, of this node, whose monitor
    /// `reference` of `from`, of another node, fired. Queued only if the monitor is
    /// still active.
    pub fn down(&self, watcher: Pid, reference: Reference, from: Pid, reason: &ExitReason) {
        if let Some(process) = self.local(watcher) {
            let _ = process.core.on_monitored_exit(reference, from, reason);
        }
    }

    /// Whether `pid` is a live process of this node.
    pub fn is_alive(&self, pid: Pid) -> bool {
        self.local(pid).is_some()
    }

    /// Waits for the exit of `pid`, a live process of this node; `None` if it is not one.
    pub fn exit_of(
        &self,
        pid: Pid,
    ) -> Option<impl Future<Output = shoal_proc::Exit> + Send + 'static> {
        let process = self.local(pid)?;
        Some(async move { process.core.exit.wait().await })
    }

    /// Answers a remote spawn asked by `to` (of this node) under `tag`: the new pid, or
    /// why there is none.
    pub fn answer_spawn(&self, to: Pid, tag: u64, result: Result<Pid, String>) {
        let _ = self.deliver(to, Message::data(None, tag, encode_spawn_answer(&result)));
    }

    /// `node` went down or out of reach: every link of a process of this node to one of
    /// its processes fires with `noconnection`, every monitor of one (or of the node
    /// itself) delivers `DOWN(noconnection)`, and monitors its processes held here are
    /// dropped. How many links and monitors fired.
    pub fn node_down(&self, node: NodeId) -> usize {
        let reason = ExitReason::NoConnection;
        let mut fired = 0;
        for process in self.executor.processes() {
            let relations = process.core.relations_with(node);
            for reference in relations.watchers {
                process.core.remove_watcher(reference);
            }
            for (reference, from) in relations.monitoring {
                fired += usize::from(process.core.on_monitored_exit(reference, from, &reason));
            }
            for reference in relations.node_monitors {
                fired += usize::from(process.core.on_node_down(reference));
            }
            for from in relations.links {
                let outcome = process.core.on_linked_exit(from, &reason);
                fired += usize::from(outcome != SignalOutcome::Drop);
                carry_out(&process, outcome);
            }
        }
        fired
    }
}

/// The longest a process waits at once for room in the queue to other nodes: a bound,
/// so that a process never waits on a transport that stopped answering; it sends
/// again, and waits again if it must.
pub const NODE_ROOM_WAIT: Duration = Duration::from_secs(1);

/// Waits like a receive, at most [`NODE_ROOM_WAIT`], until the queue to other nodes has
/// room for `me`'s sends. Whether it has room (always, without a transport); and whether
/// the wait suspended `me`.
pub(crate) async fn wait_node_room(
    executor: &Executor,
    actors: &Actors,
    me: &Process,
) -> (bool, bool) {
    if remote_of(actors).is_none() {
        return (true, false);
    }
    let (answer, waited) = ask_remote(executor, actors, me, NODE_ROOM_WAIT, |remote, tag| {
        remote.when_room(me.pid(), tag);
    })
    .await;
    (answer.is_some(), waited)
}

/// How long a process waits for a remote spawn's answer: a first spawn of a large
/// module compiles it on that node.
pub const REMOTE_SPAWN_TIMEOUT: Duration = Duration::from_secs(120);

/// Carries out `spawn` on `node` for `me`, and waits like a receive (the worker
/// runs other processes meanwhile) for the answer, at most [`REMOTE_SPAWN_TIMEOUT`]. The
/// pid, or why there is none; and whether the wait suspended `me`.
pub(crate) async fn spawn_on(
    executor: &Executor,
    actors: &Actors,
    me: &Process,
    node: NodeId,
    spawn: RemoteSpawn,
) -> (Result<Pid, SpawnError>, bool) {
    let refused = |reason: String| SpawnError::Remote { node, reason };
    let Some(remote) = remote_of(actors).filter(|_| node != executor.node()) else {
        return (Err(refused("not a node of this cluster".into())), false);
    };
    let (answer, waited) = ask_remote(executor, actors, me, REMOTE_SPAWN_TIMEOUT, |_, tag| {
        remote.spawn(node, spawn, me.pid(), tag);
    })
    .await;
    let result = match answer {
        Some(message) => decode_spawn_answer(&message.data).map_err(refused),
        None => Err(refused(format!("no answer in {REMOTE_SPAWN_TIMEOUT:?}"))),
    };
    (result, waited)
}

/// Asks the transport something for `me` (`ask` gets the tag its answer must carry) and
/// waits like a receive for that answer, at most `timeout`, on an alias opened for it
/// and closed after, so that a late answer is dropped rather than left in the mailbox.
/// The answer, if it came; and whether the wait suspended `me`. Without a transport,
/// `ask` is not called and no answer comes.
pub(super) async fn ask_remote(
    executor: &Executor,
    actors: &Actors,
    me: &Process,
    timeout: Duration,
    ask: impl FnOnce(&dyn Remote, u64),
) -> (Option<Message>, bool) {
    let Some(remote) = remote_of(actors) else {
        return (None, false);
    };
    let alias = actors.make_ref();
    // Charged whatever the budget: one alias per wait, closed when it ends.
    let _ = me.core.mailbox.open_alias(alias, Charge::Force);
    ask(remote.as_ref(), alias.to_bits());
    let timeout = shoal_executor::duration_ns(timeout);
    let answer = shoal_executor::receive(me, executor, Some(alias.to_bits()), Some(timeout)).await;
    me.core.mailbox.close_alias(alias);
    answer
}

/// A remote spawn's answer as message bytes: `0` and the pid (8 bytes, little-endian),
/// or `1` and the reason in UTF-8.
fn encode_spawn_answer(result: &Result<Pid, String>) -> Vec<u8> {
    match result {
        Ok(pid) => std::iter::once(0)
            .chain(pid.to_bits().to_le_bytes())
            .collect(),
        Err(reason) => std::iter::once(1).chain(reason.bytes()).collect(),
    }
}

/// The inverse of [`encode_spawn_answer`]; bytes that are no answer are an error.
pub(crate) fn decode_spawn_answer(bytes: &[u8]) -> Result<Pid, String> {
    match bytes.split_first() {
        Some((0, pid)) => pid
            .try_into()
            .ok()
            .map(u64::from_le_bytes)
            .and_then(Pid::from_bits)
            .ok_or_else(|| "a malformed answer".to_owned()),
        Some((1, reason)) => Err(String::from_utf8_lossy(reason).into_owned()),
        _ => Err("a malformed answer".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spawn_answer_round_trips_and_garbage_is_an_error() {
        let pid = Pid::on(NodeId::new(3).unwrap(), 5, 6);
        assert_eq!(decode_spawn_answer(&encode_spawn_answer(&Ok(pid))), Ok(pid));
        let refused = Err("no".to_owned());
        assert_eq!(decode_spawn_answer(&encode_spawn_answer(&refused)), refused);
        assert!(decode_spawn_answer(&[0, 1]).is_err());
        assert!(decode_spawn_answer(&[]).is_err());
    }
}
