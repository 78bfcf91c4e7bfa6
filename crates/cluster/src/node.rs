//! A node: one runtime joined to a cluster over NATS, and the tasks that keep it joined.
//!
//! # What it owns
//! The NATS connection, the node's runtime, and five tasks on the caller's tokio
//! runtime: the control task (hellos and heartbeats of the others; this node's heartbeat
//! and the silence check of the others), the inbox task (frames to this node, in order),
//! the publishing task (frames from this node, in order, batched per node), the event
//! task (the client's slow-consumer events) and the spawn task (remote spawns: module
//! chunks, compiles, spawns); with credentials of the server's system account, a second
//! connection and a sixth task that watch the server's disconnect events, so that a node
//! whose connection closes is down at once.
//!
//! # Joining
//! A starting node subscribes to the control subject, asks who is up (`Probe`) and
//! listens for [`join_window`](crate::NodeConfig::join_window). It then draws its id at
//! random among those neither up nor declared down by anyone who answered, builds its
//! runtime with that id (every pid it makes carries it), subscribes to its inbox and
//! says hello. Every node that hears a hello answers with its own.
//!
//! # Leaving
//! [`Node::stop`] stops the runtime, then says goodbye to each node after its processes'
//! last signals, so the others carry those out and then fire any links left at once. A
//! node that dies says nothing: the others notice its connection closing (with the
//! system account's events) or its silence after
//! [`down_after`](crate::NodeConfig::down_after).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::{Client, ConnectOptions, Event, Subject};
use futures::StreamExt;
use parking_lot::Mutex;
use shoal_scheduler::{
    GlobalName, GlobalNameError, NodeId, Pid, Runtime, RuntimeBuilder, SendError,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{ClusterError, Credentials, NodeConfig, RemoteSpawnError};
use crate::metrics::Metrics;
use crate::names::Names;
use crate::peers::{Heard, Peers};
use crate::spawn::{DEFAULT_SPAWN_TIMEOUT, RemoteSpawnOptions, SpawnTask};
use crate::transport::{FRAME_OVERHEAD, Outbound, PendingSpawn, Queued, Shared, WatchedRefs};
use crate::wire::{self, BATCH_BYTES, Control, Frame, PROTOCOL, Signal};

/// A process spawned on another node by [`Node::spawn_on_joinable`].
#[derive(Debug)]
pub struct RemoteProcess {
    pid: Pid,
    exit: tokio::sync::oneshot::Receiver<shoal_scheduler::Exit>,
}

impl RemoteProcess {
    /// Its pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Waits for its exit, sent back by its node with its accounting (its instants
    /// rebuilt here from its lifetime). If its node goes down first, the exit is
    /// `noconnection` with no accounting, as a link to it would say.
    pub async fn join(self) -> shoal_scheduler::Exit {
        let pid = self.pid;
        self.exit.await.unwrap_or_else(|_| shoal_scheduler::Exit {
            pid,
            reason: shoal_scheduler::ExitReason::NoConnection,
            accounting: Default::default(),
            output: None,
        })
    }
}

/// A node that is up: what [`Node::nodes`] lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// Its id.
    pub id: NodeId,
    /// Its name.
    pub name: String,
    /// Whether it accepts remote spawns.
    pub accepts_spawn: bool,
    /// The last round trip of a ping to it (one per heartbeat, in order with the
    /// signals to it), once one came back.
    pub round_trip: Option<Duration>,
}

/// A node's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Nodes up.
    pub nodes_up: usize,
    /// Ids declared down.
    pub nodes_down: usize,
    /// Frames received from other nodes.
    pub frames_in: usize,
    /// Frames published to other nodes.
    pub frames_out: usize,
    /// Messages from other nodes.
    pub messages_in: usize,
    /// Messages to other nodes.
    pub messages_out: usize,
    /// The ids declared down, in no order.
    pub down: Vec<NodeId>,
    /// Bytes of signals queued and not yet published.
    pub backlog_bytes: usize,
    /// Monitors of this node's processes held by other nodes' processes.
    pub remote_watchers: usize,
    /// Messages from other nodes that their live receivers could not take (a mailbox
    /// or the memory budget at its bound), dropped.
    pub refused_in: usize,
}

/// One node of a cluster (module docs).
pub struct Node {
    runtime: Runtime,
    config: NodeConfig,
    client: Client,
    shared: Arc<Shared>,
    outbound: Outbound,
    names: Arc<Names>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.shared.me)
            .field("name", &self.config.name)
            .field("cluster", &self.config.cluster)
            .finish()
    }
}

impl Node {
    /// Starts a node (module docs): connects, joins, and builds its runtime from
    /// `builder`. Must be called within a tokio runtime, which runs the node's tasks.
    pub async fn start(config: NodeConfig, builder: RuntimeBuilder) -> Result<Node, ClusterError> {
        config.validate()?;
        // Drawn first: the connection's name carries it (`NodeConfig::client_name`).
        let creation = random() | 1;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let client = connect(
            &config,
            &config.credentials,
            config.client_name(creation),
            Some(events_tx),
        )
        .await?;
        let disconnects = match &config.system {
            Some(system) => {
                let name = format!("{}.sys", config.client_name(creation));
                let watcher = connect(&config, system, name, None).await?;
                let events = watcher
                    .subscribe(DISCONNECT_EVENTS)
                    .await
                    .map_err(|e| ClusterError::nats("the disconnect events", e))?;
                Some((watcher, events))
            }
            None => None,
        };
        let control_subject = config.control_subject();
        let mut control = client
            .subscribe(control_subject.clone())
            .await
            .map_err(|e| ClusterError::nats("the control subscription", e))?;
        publish_control(&client, &control_subject, &Control::Probe, STARTUP_CONTROL).await?;

        // Listen: who is up, and which ids were declared down.
        let mut heard = Vec::new();
        let mut taken = HashSet::new();
        let window = tokio::time::sleep(config.join_window);
        tokio::pin!(window);
        loop {
            tokio::select! {
                () = &mut window => break,
                message = control.next() => {
                    let Some(message) = message else { break };
                    let Ok(control) = Control::decode(&message.payload) else { continue };
                    match &control {
                        Control::Hello { id, dead, .. } => {
                            taken.insert(*id);
                            taken.extend(dead.iter().copied());
                        }
                        Control::Beat { id, .. } => {
                            taken.insert(*id);
                        }
                        Control::Probe => {}
                    }
                    heard.push(control);
                }
            }
        }
        let id = draw_id(creation, &taken).ok_or_else(|| ClusterError::NoFreeId {
            cluster: config.cluster.clone(),
        })?;
        let runtime = builder.node(id).build()?;

        let inbox = client
            .subscribe(config.inbox_subject(id.get()))
            .await
            .map_err(|e| ClusterError::nats("the inbox subscription", e))?;
        let max_payload = client.server_info().max_payload;
        let (spawn_jobs, spawn_rx) = mpsc::unbounded_channel();
        let (names_jobs, names_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            me: id,
            creation,
            peers: Mutex::new(Peers::new(id, creation)),
            watched: Mutex::new(WatchedRefs::default()),
            port: runtime.remote_port(),
            backlog: AtomicUsize::new(0),
            frames_in: AtomicUsize::new(0),
            frames_out: AtomicUsize::new(0),
            messages_in: AtomicUsize::new(0),
            messages_out: AtomicUsize::new(0),
            started: Instant::now(),
            refused_in: AtomicUsize::new(0),
            cut_off: tokio::sync::watch::Sender::new(false),
            offered: Mutex::new(HashMap::new()),
            pending_spawns: Mutex::new(HashMap::new()),
            exit_watches: Mutex::new(HashMap::new()),
            room_waiters: Mutex::new(Vec::new()),
            next_request: std::sync::atomic::AtomicU64::new(1),
            spawn_jobs,
            names_jobs: names_jobs.clone(),
        });
        let names = Names::open(
            &client,
            &config.cluster,
            shared.clone(),
            names_jobs,
            config.down_after,
        )
        .await;
        let (tx, rx) = mpsc::unbounded_channel();
        let outbound = Outbound {
            shared: shared.clone(),
            tx,
            backlog_limit: config.backlog_bytes,
            max_data: max_payload.saturating_sub(FRAME_OVERHEAD),
        };
        let attached = runtime.attach_remote(Arc::new(outbound.clone()));
        debug_assert!(attached, "a fresh runtime has no transport");

        let node = Node {
            runtime,
            config,
            client,
            shared,
            outbound,
            names: names.clone(),
            tasks: Vec::new(),
        };
        for control in heard {
            node.on_control(control).await;
        }
        node.publish_hello(false).await?;
        tracing::info!(id = %node.id(), name = node.config.name, cluster = node.config.cluster, "node up");
        let spawner = SpawnTask::new(
            node.runtime.clone(),
            node.config.accept_spawn,
            node.outbound.clone(),
        );
        let mut node = node.spawn_tasks(control, inbox, rx, events_rx, disconnects);
        node.tasks.push(tokio::spawn(names.run(names_rx)));
        node.tasks.push(tokio::spawn(async move {
            let (mut spawner, mut jobs) = (spawner, spawn_rx);
            while let Some((from, signal)) = jobs.recv().await {
                spawner.handle(from, signal).await;
            }
        }));
        Ok(node)
    }

    fn spawn_tasks(
        mut self,
        mut control: async_nats::Subscriber,
        mut inbox: async_nats::Subscriber,
        mut rx: mpsc::UnboundedReceiver<Queued>,
        mut events: mpsc::UnboundedReceiver<Event>,
        disconnects: Option<(Client, async_nats::Subscriber)>,
    ) -> Node {
        if let Some((watcher, mut disconnects)) = disconnects {
            let handle = self.handle();
            self.tasks.push(tokio::spawn(async move {
                // Holds the system account's connection for as long as it watches.
                let _watcher = watcher;
                while let Some(event) = disconnects.next().await {
                    handle.on_disconnect(&event.payload);
                }
            }));
        }
        // Control frames and the liveness check share one task, control first: when the
        // check runs, every beat that had reached this node has been counted, so a busy
        // node does not declare a peer silent whose beats sit unread in its queue.
        let handle = self.handle();
        self.tasks.push(tokio::spawn(async move {
            let mut beat = tokio::time::interval(handle.config.heartbeat);
            beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    message = control.next() => {
                        let Some(message) = message else { break };
                        match Control::decode(&message.payload) {
                            Ok(c) => handle.on_control(c).await,
                            Err(e) => tracing::warn!(error = %e, "a bad control frame: dropped"),
                        }
                    }
                    _ = beat.tick() => handle.beat().await,
                }
            }
        }));
        let outbound = self.outbound.clone();
        self.tasks.push(tokio::spawn(async move {
            while let Some(message) = inbox.next().await {
                for frame in Frame::decode_batch(&message.payload) {
                    match frame {
                        Ok(frame) => outbound.shared.dispatch(frame, &outbound),
                        Err(e) => tracing::warn!(error = %e, "a bad frame: the rest of its batch is dropped"),
                    }
                }
            }
        }));
        let handle = self.handle();
        self.tasks.push(tokio::spawn(async move {
            let mut batches = Batches::default();
            while let Some(first) = rx.recv().await {
                handle.add(first, &mut batches).await;
                // Whatever else is queued joins the batches, up to a bound that keeps
                // the first frame's wait short.
                for _ in 1..MAX_BATCH_FRAMES {
                    match rx.try_recv() {
                        Ok(next) => handle.add(next, &mut batches).await,
                        Err(_) => break,
                    }
                }
                handle.flush(&mut batches).await;
            }
        }));
        let handle = self.handle();
        self.tasks.push(tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    Event::SlowConsumer(sid) => {
                        // The client dropped frames of some peer: which one is unknown, so
                        // every link to every peer fires rather than one going missing.
                        tracing::error!(
                            sid,
                            "the inbox overflowed: every node is down to this one"
                        );
                        let up: Vec<NodeId> =
                            handle.shared.peers.lock().up().map(|(n, _)| n).collect();
                        for node in up {
                            handle.shared.declare_down(node, &handle.outbound);
                        }
                    }
                    other => tracing::info!(event = %other, "NATS"),
                }
            }
        }));
        self
    }

    /// What the tasks share of the node.
    fn handle(&self) -> Arc<Handle> {
        Arc::new(Handle {
            config: self.config.clone(),
            client: self.client.clone(),
            shared: self.shared.clone(),
            outbound: self.outbound.clone(),
        })
    }

    async fn on_control(&self, control: Control) {
        self.handle().on_control(control).await;
    }

    async fn publish_hello(&self, reply: bool) -> Result<(), ClusterError> {
        self.handle().publish_hello(reply).await
    }

    /// The node's runtime: spawn, send and link from here as on any runtime; pids of
    /// other nodes work as local ones do.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// This node's id for this start.
    pub fn id(&self) -> NodeId {
        self.shared.me
    }

    /// This node's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The other nodes that are up, by id.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let mut nodes: Vec<NodeInfo> = self
            .shared
            .peers
            .lock()
            .up()
            .map(|(id, p)| NodeInfo {
                id,
                name: p.name.clone(),
                accepts_spawn: p.accepts_spawn,
                round_trip: p.round_trip,
            })
            .collect();
        nodes.sort_by_key(|n| n.id);
        nodes
    }

    /// Waits until at least `count` other nodes are up and named.
    pub async fn wait_for_nodes(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<NodeInfo>, ClusterError> {
        let start = Instant::now();
        loop {
            let nodes = self.nodes();
            if nodes.iter().filter(|n| n.name != "?").count() >= count {
                return Ok(nodes);
            }
            if start.elapsed() >= timeout {
                return Err(ClusterError::Timeout(timeout, "other nodes to join"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Sends a message from the host to the process registered as `name` on `node`
    /// (Erlang's `{name, node} ! message`): `Runtime::send_name_on` of its runtime.
    pub fn send_name(
        &self,
        node: NodeId,
        name: &str,
        tag: u64,
        data: impl Into<Vec<u8>>,
    ) -> Result<(), SendError> {
        self.runtime.send_name_on(node, name, tag, data)
    }

    /// Spawns `export` of the module `bytes` on the node `node` (which must accept
    /// spawns) with `arg`, and returns the new process's pid. The module travels only if
    /// that node has not compiled it before (module docs of `spawn`); this node keeps the
    /// bytes it offers for as long as it runs, to send them to any node that asks.
    pub async fn spawn_on(
        &self,
        node: NodeId,
        bytes: &[u8],
        export: &str,
        arg: i64,
        options: RemoteSpawnOptions,
    ) -> Result<Pid, RemoteSpawnError> {
        self.request_spawn(node, bytes, export, arg, options, None)
            .await
    }

    /// [`spawn_on`](Self::spawn_on), and have `node` send the process's exit back, with
    /// its accounting, when it ends: [`RemoteProcess::join`] waits for it.
    pub async fn spawn_on_joinable(
        &self,
        node: NodeId,
        bytes: &[u8],
        export: &str,
        arg: i64,
        options: RemoteSpawnOptions,
    ) -> Result<RemoteProcess, RemoteSpawnError> {
        let (tx, exit) = tokio::sync::oneshot::channel();
        let pid = self
            .request_spawn(node, bytes, export, arg, options, Some(tx))
            .await?;
        Ok(RemoteProcess { pid, exit })
    }

    async fn request_spawn(
        &self,
        node: NodeId,
        bytes: &[u8],
        export: &str,
        arg: i64,
        options: RemoteSpawnOptions,
        exit: Option<tokio::sync::oneshot::Sender<shoal_scheduler::Exit>>,
    ) -> Result<Pid, RemoteSpawnError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let source: Arc<[u8]> = Arc::from(bytes);
        self.outbound.request_spawn(
            node,
            source,
            export,
            arg,
            options,
            PendingSpawn::Host { reply, exit },
        );
        let timeout = DEFAULT_SPAWN_TIMEOUT;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(result)) => result,
            // Dropped unanswered: the node is stopping.
            Ok(Err(_)) => Err(RemoteSpawnError::NodeDown(node)),
            Err(_) => Err(RemoteSpawnError::Timeout(node, timeout)),
        }
    }

    /// A handle that renders this node's figures in Prometheus' text format.
    pub fn metrics(&self) -> Metrics {
        Metrics {
            runtime: self.runtime.clone(),
            shared: self.shared.clone(),
            name: self.config.name.clone(),
            cluster: self.config.cluster.clone(),
        }
    }

    /// Registers `pid`, a live process of this node, under the cluster-wide name `name`
    /// (module docs of `names`): `Taken` if another live process of any node holds it.
    /// Released when the process ends or this node goes down.
    pub async fn register_global(&self, name: &str, pid: Pid) -> Result<(), GlobalNameError> {
        check_name(name)?;
        if pid.node() != self.id() || self.runtime.process_info(pid).is_none() {
            return Err(GlobalNameError::NoProc(pid));
        }
        let request = GlobalName::Register {
            name: name.to_owned(),
            pid,
        };
        self.names.request(request).await.map(|_| ())
    }

    /// Releases the cluster-wide name `name`, whoever holds it; the live pid that held it.
    pub async fn unregister_global(&self, name: &str) -> Result<Option<Pid>, GlobalNameError> {
        check_name(name)?;
        let request = GlobalName::Unregister {
            name: name.to_owned(),
        };
        self.names.request(request).await
    }

    /// The live process, of any node, registered under the cluster-wide name `name`.
    pub async fn whereis_global(&self, name: &str) -> Result<Option<Pid>, GlobalNameError> {
        check_name(name)?;
        let request = GlobalName::Whereis {
            name: name.to_owned(),
        };
        self.names.request(request).await
    }

    /// Resolves once another node has said it declared this one down (a false alarm: a
    /// pause, a partition, a server outage past the liveness window). The others
    /// will never again accept this node's pids; to rejoin, the node restarts under a new
    /// id (`shoal node` does).
    pub async fn cut_off(&self) {
        let mut cut = self.shared.cut_off.subscribe();
        // The sender lives as long as `self`, so the wait only ends with the flag.
        let _ = cut.wait_for(|cut| *cut).await;
    }

    /// Whether another node has said it declared this one down.
    pub fn is_cut_off(&self) -> bool {
        *self.shared.cut_off.borrow()
    }

    /// The node's counters.
    pub fn stats(&self) -> NodeStats {
        let peers = self.shared.peers.lock();
        NodeStats {
            nodes_up: peers.up().count(),
            nodes_down: peers.down().count(),
            frames_in: self.shared.frames_in.load(Ordering::Relaxed),
            frames_out: self.shared.frames_out.load(Ordering::Relaxed),
            messages_in: self.shared.messages_in.load(Ordering::Relaxed),
            messages_out: self.shared.messages_out.load(Ordering::Relaxed),
            down: peers.down().collect(),
            backlog_bytes: self.shared.backlog.load(Ordering::Relaxed),
            remote_watchers: self.shared.watched.lock().len(),
            refused_in: self.shared.refused_in.load(Ordering::Relaxed),
        }
    }

    /// Stops the node: shuts the runtime down with `grace` for its processes, then says
    /// goodbye to every node up, after the last signals of its processes (their links'
    /// exits) on the same ordered way, so the others carry those out first and then fire
    /// whatever links to this node remain. What the runtime's processes exited with.
    pub async fn stop(mut self, grace: Duration) -> Vec<shoal_scheduler::Exit> {
        let exits = self.runtime.shutdown_async(grace).await;
        let up: Vec<NodeId> = self.shared.peers.lock().up().map(|(n, _)| n).collect();
        for node in up {
            self.outbound.queue(node, Signal::Goodbye);
        }
        // Everything queued, the goodbyes last, leaves before the tasks stop.
        let drain = Instant::now();
        while self.shared.backlog.load(Ordering::Relaxed) > 0
            && drain.elapsed() < grace.max(Duration::from_millis(100))
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let _ = self.client.flush().await;
        for task in self.tasks.drain(..) {
            task.abort();
        }
        tracing::info!(id = %self.shared.me, name = self.config.name, "node stopped");
        exits
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What the node's tasks hold of it.
struct Handle {
    config: NodeConfig,
    client: Client,
    shared: Arc<Shared>,
    outbound: Outbound,
}

impl Handle {
    async fn on_control(&self, control: Control) {
        let now = Instant::now();
        match control {
            Control::Hello {
                protocol,
                name,
                id,
                creation,
                accepts_spawn,
                reply,
                ..
            } => {
                let Some(node) = wire::node(id) else { return };
                if protocol != PROTOCOL {
                    tracing::error!(%node, name, protocol, "a node of another protocol version: ignored");
                    return;
                }
                let heard = self.shared.peers.lock().heard(node, creation, now);
                match heard {
                    Heard::Joined | Heard::Known => {
                        self.shared
                            .peers
                            .lock()
                            .describe(node, &name, accepts_spawn);
                        if heard == Heard::Joined {
                            tracing::info!(%node, name, "node joined");
                        }
                        if !reply {
                            let _ = self.publish_hello(true).await;
                        }
                    }
                    Heard::Refused => self.outbound.cut_if_due(node),
                    Heard::Conflict => {
                        tracing::error!(%node, name, "another node drew this node's id")
                    }
                }
            }
            Control::Probe => {
                let _ = self.publish_hello(true).await;
            }
            Control::Beat { id, creation } => {
                let Some(node) = wire::node(id) else { return };
                let heard = self.shared.peers.lock().heard(node, creation, now);
                match heard {
                    // Its hello is owed to this node: ask for it by saying ours.
                    Heard::Joined => {
                        let _ = self.publish_hello(false).await;
                    }
                    Heard::Refused => self.outbound.cut_if_due(node),
                    Heard::Known | Heard::Conflict => {}
                }
            }
        }
    }

    async fn publish_hello(&self, reply: bool) -> Result<(), ClusterError> {
        let dead = self.shared.peers.lock().down().map(NodeId::get).collect();
        let hello = Control::Hello {
            protocol: PROTOCOL,
            name: self.config.name.clone(),
            id: self.shared.me.get(),
            creation: self.shared.creation,
            accepts_spawn: self.config.accept_spawn,
            dead,
            reply,
        };
        let subject = self.config.control_subject();
        publish_control(&self.client, &subject, &hello, self.config.heartbeat).await
    }

    /// A disconnect event of the server's system account: a node of this cluster whose
    /// connection closed is down now.
    fn on_disconnect(&self, payload: &[u8]) {
        let Some(name) = disconnected_client(payload) else {
            return;
        };
        let Some(creation) = self.config.creation_of(&name) else {
            return;
        };
        let node = self.shared.peers.lock().with_creation(creation);
        if let Some(node) = node {
            tracing::warn!(%node, "a node's connection closed");
            self.shared.declare_down(node, &self.outbound);
        }
    }

    /// Says this node is alive, then declares down every node silent for `down_after`.
    async fn beat(&self) {
        let me = Control::Beat {
            id: self.shared.me.get(),
            creation: self.shared.creation,
        };
        // Bounded by one heartbeat: with the server gone, the check below still runs,
        // and the others are declared down after `down_after` as if they fell silent.
        let subject = self.config.control_subject();
        let _ = publish_control(&self.client, &subject, &me, self.config.heartbeat).await;
        self.shared.ping_all(&self.outbound);
        let silent = self
            .shared
            .peers
            .lock()
            .silent(Instant::now(), self.config.down_after);
        for node in silent {
            tracing::warn!(%node, after = ?self.config.down_after, "a node fell silent");
            self.shared.declare_down(node, &self.outbound);
        }
    }

    /// Adds one queued signal to its node's batch with the next sequence number of its
    /// pair, publishing the batch first if the frame would not fit; a signal to a node
    /// that is not up gets its answer here instead ([`Outbound::undeliverable`]).
    async fn add(&self, queued: Queued, batches: &mut Batches) {
        let Queued {
            node,
            signal,
            bytes,
        } = queued;
        let seq = if signal == Signal::Cut {
            Some(0)
        } else {
            self.shared.peers.lock().next_seq(node)
        };
        let Some(seq) = seq else {
            self.shared.release(bytes, self.outbound.backlog_limit);
            self.outbound.undeliverable(signal);
            return;
        };
        let frame = Frame {
            from: self.shared.me.get(),
            creation: self.shared.creation,
            seq,
            signal,
        };
        let at = match batches.open.iter().position(|b| b.node == node) {
            Some(at) => at,
            None => {
                batches.open.push(Batch::new(node));
                batches.open.len() - 1
            }
        };
        let encoded = frame.encode();
        if batches.open[at].bytes.len() + encoded.len() > BATCH_BYTES {
            let full = std::mem::replace(&mut batches.open[at], Batch::new(node));
            self.publish(full, &mut batches.subjects).await;
        }
        let batch = &mut batches.open[at];
        batch.bytes.extend_from_slice(&encoded);
        batch.frames += 1;
        batch.queued += bytes;
    }

    /// Publishes every open batch.
    async fn flush(&self, batches: &mut Batches) {
        for batch in std::mem::take(&mut batches.open) {
            self.publish(batch, &mut batches.subjects).await;
        }
    }

    /// Publishes one batch; only then do its signals leave the backlog, so that a node
    /// stopping waits for them.
    async fn publish(&self, batch: Batch, subjects: &mut HashMap<NodeId, Subject>) {
        if batch.frames == 0 {
            return;
        }
        let queued = batch.queued;
        let subject = subjects
            .entry(batch.node)
            .or_insert_with(|| self.config.inbox_subject(batch.node.get()).into())
            .clone();
        match self.client.publish(subject, batch.bytes.into()).await {
            Ok(()) => {
                self.shared
                    .frames_out
                    .fetch_add(batch.frames, Ordering::Relaxed);
            }
            Err(e) => {
                // Frames that did not leave break the pair's order: the node is down.
                tracing::error!(node = %batch.node, error = %e, "frames could not be published");
                self.shared.declare_down(batch.node, &self.outbound);
            }
        }
        self.shared.release(queued, self.outbound.backlog_limit);
    }
}

/// Most frames taken off the queue before the batches are published: enough that a
/// burst fills batches, few enough that the first frame of a batch waits microseconds.
const MAX_BATCH_FRAMES: usize = 4096;

/// Frames for one node, on their way into one NATS message.
struct Batch {
    node: NodeId,
    bytes: Vec<u8>,
    frames: usize,
    /// What its signals count against the backlog.
    queued: usize,
}

impl Batch {
    fn new(node: NodeId) -> Batch {
        Batch {
            node,
            bytes: Vec::new(),
            frames: 0,
            queued: 0,
        }
    }
}

/// The publishing task's batches, one per node with frames queued, and the subjects of
/// the nodes it has published to.
#[derive(Default)]
struct Batches {
    open: Vec<Batch>,
    subjects: HashMap<NodeId, Subject>,
}

/// The check the actor layer makes of a name a process asks about, for the host's.
fn check_name(name: &str) -> Result<(), GlobalNameError> {
    if name.is_empty() || name.len() > shoal_scheduler::MAX_NAME_BYTES {
        return Err(GlobalNameError::BadName(name.to_owned()));
    }
    Ok(())
}

/// The subject of the server's disconnect events, for every account (the system
/// account's `$SYS.ACCOUNT.<account>.DISCONNECT`).
const DISCONNECT_EVENTS: &str = "$SYS.ACCOUNT.*.DISCONNECT";

/// The connection name of the client a disconnect event is about.
fn disconnected_client(payload: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Event {
        client: Client,
    }
    #[derive(serde::Deserialize)]
    struct Client {
        name: Option<String>,
    }
    serde_json::from_slice::<Event>(payload).ok()?.client.name
}

/// Connects to the node's server as `name` with `credentials`; the client's events go
/// to `events`, if given.
async fn connect(
    config: &NodeConfig,
    credentials: &Credentials,
    name: String,
    events: Option<mpsc::UnboundedSender<Event>>,
) -> Result<Client, ClusterError> {
    let mut options = connect_options(config, credentials).await?.name(name);
    if let Some(events) = events {
        options = options.event_callback(move |event| {
            let events = events.clone();
            async move {
                let _ = events.send(event);
            }
        });
    }
    options
        .connect(config.url.as_str())
        .await
        .map_err(|e| ClusterError::Connect {
            url: config.url.clone(),
            reason: e.to_string(),
        })
}

/// The client's options from the node's settings, with `credentials`.
async fn connect_options(
    config: &NodeConfig,
    credentials: &Credentials,
) -> Result<ConnectOptions, ClusterError> {
    let mut options = match credentials {
        Credentials::None => ConnectOptions::new(),
        Credentials::UserPassword { user, password } => {
            ConnectOptions::with_user_and_password(user.clone(), password.clone())
        }
        Credentials::Token(token) => ConnectOptions::with_token(token.clone()),
        Credentials::CredsFile(path) => {
            ConnectOptions::with_credentials_file(path.clone())
                .await
                .map_err(|e| ClusterError::bad("credentials", format!("{}: {e}", path.display())))?
        }
    };
    if let Some(roots) = &config.tls {
        options = options.require_tls(true);
        if let Some(roots) = roots {
            options = options.add_root_certificates(roots.clone());
        }
    }
    Ok(options.subscription_capacity(config.subscription_capacity))
}

///
/// While the connection is down, a flush waits for the reconnection: the wait is bounded
/// by `within`, so that the control task (which also runs the liveness check) never
/// stalls for an outage's length.
async fn publish_control(
    client: &Client,
    subject: &str,
    control: &Control,
    within: Duration,
) -> Result<(), ClusterError> {
    let publish = async {
        client
            .publish(subject.to_owned(), control.encode().into())
            .await
            .map_err(|e| ClusterError::nats("a control frame", e))?;
        client
            .flush()
            .await
            .map_err(|e| ClusterError::nats("a flush", e))
    };
    tokio::time::timeout(within, publish)
        .await
        .unwrap_or(Err(ClusterError::ControlTimeout(within)))
}

/// How long a starting node waits for its first control frame to reach the server: as
/// long as the connection itself may take.
const STARTUP_CONTROL: Duration = Duration::from_secs(10);

/// 64 random bits from the standard library's per-process random hash keys.
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// A node id drawn from `seed` among those not `taken`, or `None` if all are.
fn draw_id(seed: u64, taken: &HashSet<u16>) -> Option<NodeId> {
    let ids = u64::from(NodeId::MAX);
    let start = seed % ids;
    (0..ids)
        .map(|i| ((start + i) % ids + 1) as u16)
        .find(|id| !taken.contains(id))
        .and_then(NodeId::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disconnect_event_names_its_client() {
        let event = br#"{"type":"io.nats.server.advisory.v1.client_disconnect","id":"x",
            "client":{"acc":"APP","name":"shoal.c.00000000000000ff","user":"app"},
            "reason":"Client Closed"}"#;
        assert_eq!(
            disconnected_client(event).as_deref(),
            Some("shoal.c.00000000000000ff")
        );
        assert_eq!(disconnected_client(br#"{"client":{}}"#), None);
        assert_eq!(disconnected_client(b"not json"), None);
    }

    #[test]
    fn an_id_is_drawn_among_the_free_ones_and_none_when_all_are_taken() {
        let taken: HashSet<u16> = [5, 6].into();
        // A seed that starts at id 5 moves on to the first free one.
        assert_eq!(draw_id(4, &taken), NodeId::new(7));
        let all: HashSet<u16> = (1..=NodeId::MAX).collect();
        assert_eq!(draw_id(4, &all), None);
        assert_ne!(draw_id(u64::MAX, &HashSet::new()), Some(NodeId::LOCAL));
    }
}
