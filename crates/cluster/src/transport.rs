//! Signals between this node and the others: out through [`Outbound`], the runtime's
//! `Remote`, in through [`Shared::dispatch`], and the one way a peer goes down,
//! [`Shared::declare_down`].
//!
//! # What it owns
//! The state the node's tasks and the runtime's workers share ([`Shared`]): membership
//! ([`Peers`]), the monitor references this node keeps for watchers of other nodes, and
//! the runtime's [`RemotePort`]. The tasks that move bytes live in `node`.
//!
//! # Ordering
//! A worker that sends to another node queues the signal on one unbounded channel, in
//! the order its process made the calls; one task takes them off in that order, numbers
//! them per receiving node and publishes them on one NATS connection, which keeps the
//! order to the server; the receiver's one subscription is drained by one task. So the
//! signals of one process to one process arrive in the order they were sent, messages,
//! links, exits and monitors alike.
//!
//! # Bounds
//! The channel is bounded in bytes ([`NodeConfig::backlog_bytes`](crate::NodeConfig)):
//! past it a send is refused with `SendError::NodeBacklog`, never dropped. A message
//! larger than the server's payload limit is refused with `SendError::TooLarge` at the
//! send, never lost on the way.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use shoal_scheduler::{
    Exit, ExitReason, GlobalName, GlobalNameError, Message, NodeId, Pid, Reference, Remote,
    RemotePort, RemoteSpawn, SendError, Via,
};
use tokio::sync::mpsc::UnboundedSender;

use crate::config::{MAX_MODULE_BYTES, RemoteSpawnError, RemoteSpawnOptions};
use crate::peers::{Accepted, Peers};
use crate::wire::{self, Frame, Signal, SpawnRefusal, module_hash};

/// Bytes a signal other than a message counts against the backlog: an estimate of its
/// encoded size (a few varints) with the channel's own overhead.
const SIGNAL_BYTES: usize = 64;

/// Bytes of a frame around a message's data: the envelope's varints (at most 10 bytes
/// each for six fields) and NATS's subject and header, rounded up.
pub(crate) const FRAME_OVERHEAD: usize = 256;

/// A signal on its way to a node, with the bytes it holds of the backlog.
pub(crate) struct Queued {
    pub node: NodeId,
    pub signal: Signal,
    pub bytes: usize,
}

/// What the node's tasks and the runtime's workers share (module docs).
pub(crate) struct Shared {
    /// This node.
    pub me: NodeId,
    /// Its creation.
    pub creation: u64,
    /// Membership.
    pub peers: Mutex<Peers>,
    /// Monitors of this node's processes held by processes of other nodes.
    pub watched: Mutex<WatchedRefs>,
    /// The runtime's side of the seam.
    pub port: RemotePort,
    /// Queued signal bytes not yet published.
    pub backlog: AtomicUsize,
    /// Frames taken off the inbox.
    pub frames_in: AtomicUsize,
    /// Frames published.
    pub frames_out: AtomicUsize,
    /// Messages from other nodes carried out here (delivered or not).
    pub messages_in: AtomicUsize,
    /// Messages to other nodes queued here.
    pub messages_out: AtomicUsize,
    /// The clock of pings: nanoseconds since this instant.
    pub started: Instant,
    /// Messages from other nodes that a live receiver could not take (its mailbox or
    /// the memory budget at its bound): dropped here, and counted, since their senders
    /// were told `OK` long before.
    pub refused_in: AtomicUsize,
    /// Set, and its waiters woken, when another node says it cut this one off.
    pub cut_off: tokio::sync::watch::Sender<bool>,
    /// Modules this node offered to others by spawning them there, by hash.
    pub offered: Mutex<HashMap<[u8; 32], Arc<[u8]>>>,
    /// Spawns this node asked of others, by request number: the node asked, and where
    /// the answer goes.
    pub pending_spawns: Mutex<HashMap<u64, (NodeId, PendingSpawn)>>,
    /// Processes waiting for room in the backlog, with the tag each waits for.
    pub room_waiters: Mutex<Vec<(Pid, u64)>>,
    /// Exits this node asked other nodes to report, by spawn request: the node asked,
    /// and where the exit goes. Dropped unanswered when that node goes down.
    pub exit_watches: Mutex<HashMap<u64, (NodeId, tokio::sync::oneshot::Sender<Exit>)>>,
    /// The number of the next spawn this node asks of another.
    pub next_request: std::sync::atomic::AtomicU64,
    /// Spawn requests and module chunks from other nodes, for the spawn task.
    pub spawn_jobs: tokio::sync::mpsc::UnboundedSender<(NodeId, Signal)>,
    /// Requests and releases of cluster-wide names, for the names task.
    pub names_jobs: UnboundedSender<NamesJob>,
}

/// What the names task (`names`) is asked to do.
pub(crate) enum NamesJob {
    /// A process's request; the answer goes to it as a message tagged `tag`.
    Request {
        request: GlobalName,
        reply_to: Pid,
        tag: u64,
    },
    /// A process of this node that holds names ended.
    Exited(Pid),
    /// A node went down: its entries are released.
    NodeDown(NodeId),
}

/// Where the answer to a spawn this node asked for goes.
pub(crate) enum PendingSpawn {
    /// The host, awaiting `Node::spawn_on`; and where the process's exit goes, if the
    /// host asked for it (`Node::spawn_on_joinable`).
    Host {
        /// Where the pid goes.
        reply: tokio::sync::oneshot::Sender<Result<Pid, RemoteSpawnError>>,
        /// Where the exit goes.
        exit: Option<tokio::sync::oneshot::Sender<Exit>>,
    },
    /// A process of this node, waiting for a message tagged `tag`.
    Process {
        /// The process.
        pid: Pid,
        /// The tag (an alias of its mailbox).
        tag: u64,
    },
}

impl PendingSpawn {
    /// Delivers the answer.
    pub fn answer(self, port: &RemotePort, result: Result<Pid, RemoteSpawnError>) {
        match self {
            PendingSpawn::Host { reply, .. } => {
                let _ = reply.send(result);
            }
            PendingSpawn::Process { pid, tag } => {
                port.answer_spawn(pid, tag, result.map_err(|e| e.to_string()));
            }
        }
    }
}

/// The references of monitors held by remote watchers on this node's processes: this
/// node's reference ↔ (the watcher's node, the watcher's reference).
#[derive(Default)]
pub(crate) struct WatchedRefs {
    by_local: HashMap<Reference, (NodeId, Reference)>,
    by_remote: HashMap<(NodeId, Reference), Reference>,
}

impl WatchedRefs {
    fn insert(&mut self, local: Reference, node: NodeId, remote: Reference) {
        self.by_local.insert(local, (node, remote));
        self.by_remote.insert((node, remote), local);
    }

    fn take_local(&mut self, local: Reference) -> Option<(NodeId, Reference)> {
        let found = self.by_local.remove(&local)?;
        self.by_remote.remove(&found);
        Some(found)
    }

    fn take_remote(&mut self, node: NodeId, remote: Reference) -> Option<Reference> {
        let local = self.by_remote.remove(&(node, remote))?;
        self.by_local.remove(&local);
        Some(local)
    }

    fn forget_node(&mut self, node: NodeId) {
        self.by_remote.retain(|(n, _), _| *n != node);
        self.by_local.retain(|_, (n, _)| *n != node);
    }

    /// How many monitors are kept.
    pub fn len(&self) -> usize {
        self.by_local.len()
    }
}

impl Shared {
    /// Carries out one frame from the inbox. What the peer must be told back (a `Cut`,
    /// or an answer to a link or monitor of a dead process) is queued on `out`.
    pub fn dispatch(&self, frame: Frame, out: &Outbound) {
        self.frames_in.fetch_add(1, Ordering::Relaxed);
        let Some(node) = wire::node(frame.from) else {
            tracing::warn!(
                from = frame.from,
                "a frame from an invalid node id: dropped"
            );
            return;
        };
        if frame.signal == Signal::Cut {
            if self.declare_down(node, out) {
                tracing::warn!(%node, "cut off by a node that declared this one down");
            }
            self.cut_off.send_replace(true);
            return;
        }
        let accepted = self
            .peers
            .lock()
            .accept(node, frame.creation, frame.seq, Instant::now());
        match accepted {
            Accepted::InOrder => self.carry_out(node, frame.signal, out),
            Accepted::Gap { expected, got } => {
                tracing::error!(%node, expected, got, "a frame from a node was lost: it is down to this node");
                self.declare_down(node, out);
            }
            Accepted::Refused => out.cut_if_due(node),
        }
    }

    fn carry_out(&self, node: NodeId, signal: Signal, out: &Outbound) {
        let port = &self.port;
        // A pid a frame gives as its sender's must be of the sending node: one node
        // cannot speak for a third one's processes. Such a frame is dropped.
        let theirs = |bits: u64| wire::pid(bits).filter(|p| p.node() == node);
        let sender = |bits: Option<u64>| match bits {
            None => Some(None),
            Some(bits) => theirs(bits).map(Some),
        };
        let spoofed =
            || tracing::warn!(%node, "a frame speaking for another node's process: dropped");
        match signal {
            Signal::Send {
                to,
                from,
                tag,
                data,
            } => {
                self.messages_in.fetch_add(1, Ordering::Relaxed);
                let (Some(to), Some(from)) = (wire::pid(to), sender(from)) else {
                    return spoofed();
                };
                let message = Message::data(from, tag, data);
                if let Err(e) = port.deliver(to, message) {
                    self.not_delivered(&e);
                }
            }
            Signal::SendName {
                name,
                from,
                tag,
                data,
            } => {
                self.messages_in.fetch_add(1, Ordering::Relaxed);
                let Some(from) = sender(from) else {
                    return spoofed();
                };
                let message = Message::data(from, tag, data);
                if let Err(e) = port.deliver_name(&name, message) {
                    self.not_delivered(&e);
                }
            }
            Signal::Link { from, to } => {
                let (Some(from), Some(to)) = (theirs(from), wire::pid(to)) else {
                    return spoofed();
                };
                if !port.link(to, from) {
                    out.queue(
                        node,
                        wire::exit(Some(to), from, &Via::Link(ExitReason::NoProc)),
                    );
                }
            }
            Signal::Unlink { from, to } => {
                let (Some(from), Some(to)) = (theirs(from), wire::pid(to)) else {
                    return spoofed();
                };
                port.unlink(to, from);
            }
            Signal::Exit {
                from,
                to,
                linked,
                kill,
                reason,
            } => {
                let (Some(to), Some(from)) = (wire::pid(to), sender(from)) else {
                    return spoofed();
                };
                port.exit_signal(from, to, wire::via(linked, kill, &reason));
            }
            Signal::Monitor {
                watcher,
                reference,
                target,
            } => {
                let (Some(watcher_pid), Some(reference), Some(target_pid)) = (
                    theirs(watcher),
                    wire::reference(reference),
                    wire::pid(target),
                ) else {
                    return spoofed();
                };
                match port.monitor(target_pid, watcher_pid) {
                    Some(local) => self.watched.lock().insert(local, node, reference),
                    None => out.queue(
                        node,
                        Signal::Down {
                            watcher,
                            reference: reference.to_bits(),
                            from: target,
                            reason: ExitReason::NoProc.to_wire(),
                        },
                    ),
                }
            }
            Signal::Demonitor {
                reference, target, ..
            } => {
                let (Some(reference), Some(target)) =
                    (wire::reference(reference), wire::pid(target))
                else {
                    return;
                };
                if let Some(local) = self.watched.lock().take_remote(node, reference) {
                    port.demonitor(target, local);
                }
            }
            Signal::Down {
                watcher,
                reference,
                from,
                reason,
            } => {
                let (Some(watcher), Some(reference), Some(from)) =
                    (wire::pid(watcher), wire::reference(reference), theirs(from))
                else {
                    return spoofed();
                };
                port.down(watcher, reference, from, &wire::reason(&reason));
            }
            Signal::Spawn { .. } | Signal::ModuleChunk { .. } => {
                // Compiling and spawning are the spawn task's, off this task.
                let _ = self.spawn_jobs.send((node, signal));
            }
            Signal::NeedModule { hash } => self.send_module(node, hash, out),
            Signal::Spawned { request, result } => {
                let result = result
                    .map_err(|refusal| RemoteSpawnError::Refused { node, refusal })
                    .and_then(|bits| {
                        wire::pid(bits).ok_or(RemoteSpawnError::Refused {
                            node,
                            refusal: SpawnRefusal::Spawn(format!("{bits} is not a pid")),
                        })
                    });
                if result.is_err() {
                    self.exit_watches.lock().remove(&request);
                }
                let pending = self.pending_spawns.lock().remove(&request);
                if let Some((_, pending)) = pending {
                    pending.answer(&self.port, result);
                }
            }
            Signal::Ping { nanos } => out.queue(node, Signal::Pong { nanos }),
            Signal::Pong { nanos } => {
                let took = self.clock().saturating_sub(Duration::from_nanos(nanos));
                self.peers.lock().round_trip(node, took);
            }
            Signal::Exited { request, exit } => {
                let watch = self.exit_watches.lock().remove(&request);
                let exit = exit.into_exit(Instant::now());
                if let (Some((_, watch)), Some(exit)) = (watch, exit) {
                    let _ = watch.send(exit);
                }
            }
            Signal::Goodbye => {
                if self.declare_down(node, out) {
                    tracing::info!(%node, "node said goodbye");
                }
            }
            Signal::Cut => unreachable!("handled before the sequence check"),
        }
    }

    /// The clock pings carry: the time since this node started.
    pub fn clock(&self) -> Duration {
        self.started.elapsed()
    }

    /// Queues a ping to every node up, to time the round trip to each.
    pub fn ping_all(&self, out: &Outbound) {
        let nanos = u64::try_from(self.clock().as_nanos()).unwrap_or(u64::MAX);
        let up: Vec<NodeId> = self.peers.lock().up().map(|(n, _)| n).collect();
        for node in up {
            out.queue(node, Signal::Ping { nanos });
        }
    }

    /// Declares `node` down (a goodbye, silence, a lost frame, a cut): every link and
    /// monitor to it fires with `noconnection`, and it is told with a `Cut` in case it is
    /// alive to hear it. Nothing happens for a node that is not up; whether it was.
    pub fn declare_down(&self, node: NodeId, out: &Outbound) -> bool {
        let Some(peer) = self.peers.lock().declare_down(node) else {
            return false;
        };
        self.watched.lock().forget_node(node);
        self.exit_watches.lock().retain(|_, (to, _)| *to != node);
        let lost: Vec<PendingSpawn> = {
            let mut pending = self.pending_spawns.lock();
            let requests: Vec<u64> = pending
                .iter()
                .filter(|(_, (to, _))| *to == node)
                .map(|(r, _)| *r)
                .collect();
            requests
                .into_iter()
                .filter_map(|r| pending.remove(&r))
                .map(|(_, p)| p)
                .collect()
        };
        for pending in lost {
            pending.answer(&self.port, Err(RemoteSpawnError::NodeDown(node)));
        }
        let _ = self.names_jobs.send(NamesJob::NodeDown(node));
        let fired = self.port.node_down(node);
        tracing::info!(%node, name = peer.name, fired, "node down");
        out.cut_if_due(node);
        true
    }
}

impl Shared {
    /// Takes `bytes` off the backlog; if it fell to half the bound or below (`limit`),
    /// the processes waiting for room are told (the hysteresis keeps a sender from
    /// waking for every frame published).
    pub fn release(&self, bytes: usize, limit: usize) {
        let left = self
            .backlog
            .fetch_sub(bytes, Ordering::Relaxed)
            .saturating_sub(bytes);
        if left <= limit / 2 {
            self.wake_room_waiters();
        }
    }

    fn wake_room_waiters(&self) {
        let waiters = std::mem::take(&mut *self.room_waiters.lock());
        for (pid, tag) in waiters {
            let _ = self.port.deliver(pid, Message::data(None, tag, Vec::new()));
        }
    }

    /// A message from another node that was not queued: to no process (dropped, as a
    /// local send to a dead pid is), or refused by a live one (counted).
    fn not_delivered(&self, error: &SendError) {
        match error {
            SendError::NoProc(_) | SendError::NoName(_) => {
                tracing::debug!(%error, "a message from another node found no receiver");
            }
            _ => {
                self.refused_in.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "a message from another node was refused by its receiver");
            }
        }
    }

    /// Answers a `NeedModule`: the module's bytes in chunks, in order on the pair.
    fn send_module(&self, node: NodeId, hash: [u8; 32], out: &Outbound) {
        let Some(bytes) = self.offered.lock().get(&hash).cloned() else {
            tracing::warn!(%node, "a node asked for a module this node never offered");
            return;
        };
        let total = bytes.len() as u64;
        for (i, chunk) in bytes.chunks(MODULE_CHUNK_BYTES).enumerate() {
            let signal = Signal::ModuleChunk {
                hash,
                offset: (i * MODULE_CHUNK_BYTES) as u64,
                total,
                bytes: chunk.to_vec(),
            };
            // A chunk holds its bytes of the backlog, as a message does.
            out.push(node, signal, chunk.len() + SIGNAL_BYTES);
        }
    }
}

/// Bytes of a module per `ModuleChunk`: well under the server's 1 MiB payload limit
/// with the envelope, and half a batch.
pub(crate) const MODULE_CHUNK_BYTES: usize = 128 << 10;

/// The runtime's transport: signals to other nodes, queued for the publishing task.
#[derive(Clone)]
pub(crate) struct Outbound {
    pub shared: Arc<Shared>,
    pub tx: UnboundedSender<Queued>,
    /// Most signal bytes queued.
    pub backlog_limit: usize,
    /// The largest message data a frame can carry under the server's payload limit.
    pub max_data: usize,
}

impl Outbound {
    /// Queues a signal that may not be refused (links, exits, monitors, answers): the
    /// backlog bound applies to messages only, which their sender can retry.
    pub fn queue(&self, node: NodeId, signal: Signal) {
        self.push(node, signal, SIGNAL_BYTES);
    }

    fn push(&self, node: NodeId, signal: Signal, bytes: usize) {
        self.shared.backlog.fetch_add(bytes, Ordering::Relaxed);
        // A closed channel means the node is stopping: nothing is delivered any more.
        let _ = self.tx.send(Queued {
            node,
            signal,
            bytes,
        });
    }

    /// Tells `node` it was declared down, unless it was told within
    /// [`CUT_EVERY`](crate::peers::CUT_EVERY).
    pub fn cut_if_due(&self, node: NodeId) {
        if self.shared.peers.lock().cut_due(node, Instant::now()) {
            self.queue(node, Signal::Cut);
        }
    }

    fn is_up(&self, node: NodeId) -> bool {
        self.shared.peers.lock().is_up(node)
    }

    /// A message to `node`: refused if the node is down or unknown, too large for the
    /// server, or past the backlog bound.
    fn message(
        &self,
        node: NodeId,
        signal: Signal,
        len: usize,
        down: impl FnOnce() -> SendError,
    ) -> Result<(), SendError> {
        if len > self.max_data {
            return Err(SendError::TooLarge {
                len,
                max: self.max_data,
            });
        }
        if !self.is_up(node) {
            return Err(down());
        }
        let bytes = len + SIGNAL_BYTES;
        if self.shared.backlog.load(Ordering::Relaxed) + bytes > self.backlog_limit {
            return Err(SendError::NodeBacklog {
                node,
                limit: self.backlog_limit,
            });
        }
        self.push(node, signal, bytes);
        self.shared.messages_out.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Asks `node` to spawn `export` of `source`; the answer goes to `pending`, at once if
    /// the node is not up or the module is too large.
    pub fn request_spawn(
        &self,
        node: NodeId,
        source: Arc<[u8]>,
        export: &str,
        arg: i64,
        options: RemoteSpawnOptions,
        mut pending: PendingSpawn,
    ) {
        if source.len() as u64 > MAX_MODULE_BYTES {
            return pending.answer(
                &self.shared.port,
                Err(RemoteSpawnError::TooLarge(source.len() as u64)),
            );
        }
        if !self.is_up(node) {
            return pending.answer(&self.shared.port, Err(RemoteSpawnError::NodeDown(node)));
        }
        let hash = module_hash(&source);
        self.shared.offered.lock().entry(hash).or_insert(source);
        let request = self.shared.next_request.fetch_add(1, Ordering::Relaxed);
        let exit = match &mut pending {
            PendingSpawn::Host { exit, .. } => exit.take(),
            PendingSpawn::Process { .. } => None,
        };
        self.shared
            .pending_spawns
            .lock()
            .insert(request, (node, pending));
        let report_exit = exit.is_some();
        if let Some(exit) = exit {
            self.shared
                .exit_watches
                .lock()
                .insert(request, (node, exit));
        }
        self.queue(
            node,
            Signal::Spawn {
                request,
                hash,
                export: export.to_owned(),
                arg,
                fuel_limit: options.fuel_limit,
                deadline_ms: options
                    .deadline
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                max_memory: options.max_memory,
                report_exit,
            },
        );
    }

    /// What to do with a signal whose node went down before it was published: a link or
    /// a monitor gets its `noconnection` answer here, anything else is moot.
    pub fn undeliverable(&self, signal: Signal) {
        let port = &self.shared.port;
        match signal {
            Signal::Link { from, to } => {
                if let (Some(from), Some(to)) = (wire::pid(from), wire::pid(to)) {
                    port.exit_signal(Some(to), from, Via::Link(ExitReason::NoConnection));
                }
            }
            Signal::Monitor {
                watcher,
                reference,
                target,
            } => {
                if let (Some(watcher), Some(reference), Some(target)) = (
                    wire::pid(watcher),
                    wire::reference(reference),
                    wire::pid(target),
                ) {
                    port.down(watcher, reference, target, &ExitReason::NoConnection);
                }
            }
            _ => {}
        }
    }
}

impl Remote for Outbound {
    fn send(&self, to: Pid, message: Message) -> Result<(), SendError> {
        let len = message.data.len();
        let signal = Signal::Send {
            to: to.to_bits(),
            from: message.from.map(Pid::to_bits),
            tag: message.tag,
            data: message.data,
        };
        self.message(to.node(), signal, len, || SendError::NoProc(to))
    }

    fn send_name(&self, node: NodeId, name: &str, message: Message) -> Result<(), SendError> {
        let len = message.data.len();
        let signal = Signal::SendName {
            name: name.to_owned(),
            from: message.from.map(Pid::to_bits),
            tag: message.tag,
            data: message.data,
        };
        self.message(node, signal, len, || {
            SendError::NoName(format!("{name} on node {node}"))
        })
    }

    fn link(&self, from: Pid, to: Pid) {
        self.queue(
            to.node(),
            Signal::Link {
                from: from.to_bits(),
                to: to.to_bits(),
            },
        );
    }

    fn unlink(&self, from: Pid, to: Pid) {
        self.queue(
            to.node(),
            Signal::Unlink {
                from: from.to_bits(),
                to: to.to_bits(),
            },
        );
    }

    fn exit_signal(&self, from: Option<Pid>, to: Pid, via: Via) {
        self.queue(to.node(), wire::exit(from, to, &via));
    }

    fn monitor(&self, watcher: Pid, reference: Reference, target: Pid) {
        self.queue(
            target.node(),
            Signal::Monitor {
                watcher: watcher.to_bits(),
                reference: reference.to_bits(),
                target: target.to_bits(),
            },
        );
    }

    fn demonitor(&self, watcher: Pid, reference: Reference, target: Pid) {
        self.queue(
            target.node(),
            Signal::Demonitor {
                watcher: watcher.to_bits(),
                reference: reference.to_bits(),
                target: target.to_bits(),
            },
        );
    }

    fn spawn(&self, node: NodeId, spawn: RemoteSpawn, reply_to: Pid, tag: u64) {
        let pending = PendingSpawn::Process { pid: reply_to, tag };
        self.request_spawn(
            node,
            spawn.source,
            &spawn.export,
            spawn.arg,
            spawn.options,
            pending,
        );
    }

    fn global_name(&self, request: GlobalName, reply_to: Pid, tag: u64) {
        let job = NamesJob::Request {
            request,
            reply_to,
            tag,
        };
        if let Err(unsent) = self.shared.names_jobs.send(job) {
            // The node is stopping: the process is told rather than left waiting.
            if let NamesJob::Request { reply_to, tag, .. } = unsent.0 {
                let stopping = GlobalNameError::Unavailable("the node is stopping".into());
                self.shared
                    .port
                    .answer_global(reply_to, tag, &Err(stopping));
            }
        }
    }

    fn when_room(&self, reply_to: Pid, tag: u64) {
        self.shared.room_waiters.lock().push((reply_to, tag));
        // The backlog may have drained before the waiter was in the list.
        if self.shared.backlog.load(Ordering::Relaxed) <= self.backlog_limit / 2 {
            self.shared.wake_room_waiters();
        }
    }

    fn is_up(&self, node: NodeId) -> bool {
        Outbound::is_up(self, node)
    }

    fn nodes(&self) -> Vec<NodeId> {
        self.shared.peers.lock().up().map(|(n, _)| n).collect()
    }

    fn down(&self, reference: Reference, from: Pid, watcher: Pid, reason: &ExitReason) {
        let Some((node, theirs)) = self.shared.watched.lock().take_local(reference) else {
            return;
        };
        self.queue(
            node,
            Signal::Down {
                watcher: watcher.to_bits(),
                reference: theirs.to_bits(),
                from: from.to_bits(),
                reason: reason.to_wire(),
            },
        );
    }
}
