//! [`NativeContext`]: what a native process takes part with (module docs of `native`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use shoal_executor::{Executor, NoProc, Process, ProcessHandle, SendError};
use shoal_proc::{
    Charge, Message, NodeId, OverBudget, Pid, Reference, RegisterError, SignalReason,
};

use crate::actor::{
    self, Actors, GlobalAnswer, GlobalName, RemoteSpawn, RemoteSpawnOptions, SpawnRelation,
};
use crate::error::{GlobalNameError, SpawnError};
use crate::wasm::{Module, SpawnOptions, SpawnSite, spawn_guest};

/// What a native process uses to take part: its pid, its mailbox, the clock, spawn and
/// send, links, monitors, exit signals and names. Cheap to clone.
///
/// The actor operations are those of the guest ABI (docs/ABI.md), with the same rules.
/// An exit signal that kills this process (an untrapped one from a linked process, or
/// [`exit`](Self::exit) to itself) ends it at its next await, where it is dropped.
#[derive(Clone)]
pub struct NativeContext {
    /// This process.
    process: Arc<Process>,
    /// The runtime's executor.
    executor: Arc<Executor>,
    /// The runtime's actor state.
    actors: Arc<Actors>,
}

impl std::fmt::Debug for NativeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeContext")
            .field("pid", &self.process.pid())
            .finish()
    }
}

impl NativeContext {
    pub(super) fn new(process: Arc<Process>, executor: Arc<Executor>, actors: Arc<Actors>) -> Self {
        NativeContext {
            process,
            executor,
            actors,
        }
    }

    /// A native process spawned by this one, tied to it as `relation` says.
    fn spawn_native_related<F, Fut>(
        &self,
        options: &SpawnOptions,
        relation: SpawnRelation<'_>,
        f: F,
    ) -> Result<Arc<Process>, SpawnError>
    where
        F: FnOnce(NativeContext) -> Fut,
        Fut: Future<Output = i32> + Send + 'static,
    {
        super::spawn(
            &self.executor,
            &self.actors,
            options,
            Some(&self.process),
            relation,
            f,
        )
    }

    /// This process's pid.
    pub fn pid(&self) -> Pid {
        self.process.pid()
    }

    /// Takes the oldest message (with tag `tag`, if given), waiting at most `timeout`
    /// (`None`: forever). `None` when the wait timed out.
    pub async fn receive(&self, tag: Option<u64>, timeout: Option<Duration>) -> Option<Message> {
        let timeout_ns = timeout.map(shoal_executor::duration_ns);
        shoal_executor::receive(&self.process, &self.executor, tag, timeout_ns)
            .await
            .0
    }

    /// Takes the oldest message (with tag `tag`, if given) without waiting.
    pub fn try_receive(&self, tag: Option<u64>) -> Option<Message> {
        self.process.core.mailbox.try_receive(tag)
    }

    /// Sends `data` with `tag` to `to`, from this process. FIFO per sender.
    pub fn send(&self, to: Pid, tag: u64, data: impl Into<Vec<u8>>) -> Result<(), SendError> {
        let message = Message::data(Some(self.pid()), tag, data);
        actor::send(&self.executor, &self.actors, to, message)
    }

    /// Sends to the process registered as `name` on the node `node` of a cluster
    /// (Erlang's `{name, node} ! message`); this node's own registry for its own id.
    pub fn send_name_on(
        &self,
        node: NodeId,
        name: &str,
        tag: u64,
        data: impl Into<Vec<u8>>,
    ) -> Result<(), SendError> {
        let message = Message::data(Some(self.pid()), tag, data);
        actor::send_name_on(&self.executor, &self.actors, node, name, message)
    }

    /// Sends to the process registered as `name`.
    pub fn send_name(
        &self,
        name: &str,
        tag: u64,
        data: impl Into<Vec<u8>>,
    ) -> Result<(), SendError> {
        actor::send_name(
            &self.executor,
            &self.actors,
            name,
            Message::data(Some(self.pid()), tag, data),
        )
    }

    fn spawn_related(
        &self,
        module: &Module,
        export: &str,
        arg: i64,
        relation: SpawnRelation<'_>,
    ) -> Result<ProcessHandle, SpawnError> {
        let site = SpawnSite {
            executor: &self.executor,
            actors: &self.actors,
            parent: Some(&self.process),
            relation,
        };
        let process = spawn_guest(site, module, export, arg, &SpawnOptions::default())?;
        Ok(ProcessHandle::new(process))
    }

    /// Spawns a guest process running `export` of `module` with `arg`, with the
    /// runtime's default limits.
    pub fn spawn(
        &self,
        module: &Module,
        export: &str,
        arg: i64,
    ) -> Result<ProcessHandle, SpawnError> {
        self.spawn_related(module, export, arg, SpawnRelation::None)
    }

    /// [`spawn`](Self::spawn), linked: the link exists before the child runs.
    pub fn spawn_link(
        &self,
        module: &Module,
        export: &str,
        arg: i64,
    ) -> Result<ProcessHandle, SpawnError> {
        self.spawn_related(module, export, arg, SpawnRelation::Link(&self.process))
    }

    /// [`spawn`](Self::spawn), monitored: the monitor exists before the child runs.
    pub fn spawn_monitor(
        &self,
        module: &Module,
        export: &str,
        arg: i64,
    ) -> Result<(ProcessHandle, Reference), SpawnError> {
        let reference = self.actors.make_ref();
        let relation = SpawnRelation::Monitor(&self.process, reference);
        let handle = self.spawn_related(module, export, arg, relation)?;
        Ok((handle, reference))
    }

    /// Spawns a native process, as `Runtime::spawn_native` does, with this one as its
    /// parent.
    pub fn spawn_native<F, Fut>(
        &self,
        options: SpawnOptions,
        f: F,
    ) -> Result<ProcessHandle, SpawnError>
    where
        F: FnOnce(NativeContext) -> Fut,
        Fut: Future<Output = i32> + Send + 'static,
    {
        let process = self.spawn_native_related(&options, SpawnRelation::None, f)?;
        Ok(ProcessHandle::new(process))
    }

    /// [`spawn_native`](Self::spawn_native), linked before the child is first polled.
    pub fn spawn_native_link<F, Fut>(
        &self,
        options: SpawnOptions,
        f: F,
    ) -> Result<ProcessHandle, SpawnError>
    where
        F: FnOnce(NativeContext) -> Fut,
        Fut: Future<Output = i32> + Send + 'static,
    {
        let relation = SpawnRelation::Link(&self.process);
        let process = self.spawn_native_related(&options, relation, f)?;
        Ok(ProcessHandle::new(process))
    }

    /// Links this process and `pid`, both ways (idempotent). If `pid` is not alive, this
    /// process gets a `noproc` exit signal.
    pub fn link(&self, pid: Pid) {
        actor::link(&self.executor, &self.actors, &self.process, pid);
    }

    /// Removes the link with `pid`, if any: no exit signal through it arrives after this.
    pub fn unlink(&self, pid: Pid) {
        actor::unlink(&self.executor, &self.actors, &self.process, pid);
    }

    /// Monitors `pid`: a `DOWN` message with the returned reference arrives when it ends
    /// (at once, with `noproc`, if it is not alive). Monitors stack.
    pub fn monitor(&self, pid: Pid) -> Reference {
        forced(actor::monitor(
            &self.executor,
            &self.actors,
            &self.process,
            pid,
            Charge::Force,
        ))
    }

    /// [`monitor`](Self::monitor), with the reference also open as an alias of this
    /// process's mailbox (docs/ABI.md, `monitor_alias`): a receive of that tag takes a
    /// reply sent to the alias, or the `DOWN` if `pid` ends first. Close both after, with
    /// [`demonitor`](Self::demonitor) and [`unalias`](Self::unalias).
    pub fn monitor_alias(&self, pid: Pid) -> Reference {
        forced(actor::monitor_alias(
            &self.executor,
            &self.actors,
            &self.process,
            pid,
            Charge::Force,
        ))
    }

    /// Spawns `export` of `module` on the node `node` of a cluster (which must accept
    /// spawns) with `arg`, and waits like a receive for its pid. The module's bytes
    /// travel only if that node has not compiled them before (docs/CLUSTER.md). The
    /// process gets that node's defaults; [`spawn_on_with`](Self::spawn_on_with) sets its
    /// limits.
    pub async fn spawn_on(
        &self,
        node: NodeId,
        module: &Module,
        export: &str,
        arg: i64,
    ) -> Result<Pid, SpawnError> {
        self.spawn_on_with(node, module, export, arg, RemoteSpawnOptions::default())
            .await
    }

    /// [`spawn_on`](Self::spawn_on) with the limits that travel: a fuel limit, a
    /// deadline and a memory cap.
    pub async fn spawn_on_with(
        &self,
        node: NodeId,
        module: &Module,
        export: &str,
        arg: i64,
        options: RemoteSpawnOptions,
    ) -> Result<Pid, SpawnError> {
        let spawn = RemoteSpawn {
            source: module.source().clone(),
            export: export.to_owned(),
            arg,
            options,
        };
        let (result, _) =
            actor::spawn_on(&self.executor, &self.actors, &self.process, node, spawn).await;
        result
    }

    /// Monitors the node `node` of a cluster: a `DOWN` with the returned reference, no
    /// sender and reason `noconnection` arrives when it goes down, at once if it is not
    /// up. [`demonitor`](Self::demonitor) removes it.
    pub fn monitor_node(&self, node: NodeId) -> Reference {
        forced(actor::monitor_node(
            &self.executor,
            &self.actors,
            &self.process,
            node,
            Charge::Force,
        ))
    }

    /// The other nodes of the cluster that are up (none outside a cluster).
    pub fn nodes(&self) -> Vec<NodeId> {
        actor::nodes(&self.actors)
    }

    /// Removes a monitor; with `flush`, also its `DOWN` if already queued. Whether it was
    /// active.
    pub fn demonitor(&self, reference: Reference, flush: bool) -> bool {
        actor::demonitor(
            &self.executor,
            &self.actors,
            &self.process,
            reference,
            flush,
        )
    }

    /// Sets whether exit signals arrive as `EXIT` messages; returns the previous value.
    pub fn trap_exit(&self, on: bool) -> bool {
        self.process.core.set_trap_exit(on)
    }

    /// Sends an exit signal to `pid` (possibly this process) from this process.
    pub fn exit(&self, pid: Pid, reason: SignalReason) -> Result<(), NoProc> {
        actor::exit_signal(&self.executor, &self.actors, Some(self.pid()), pid, reason)
    }

    /// Registers this process as `name`.
    pub fn register(&self, name: &str) -> Result<(), RegisterError> {
        actor::register(&self.executor, &self.actors, name, self.pid())
    }

    /// Registers `pid` as `name`.
    pub fn register_pid(&self, name: &str, pid: Pid) -> Result<(), RegisterError> {
        actor::register(&self.executor, &self.actors, name, pid)
    }

    /// Removes a name; the pid it named.
    pub fn unregister(&self, name: &str) -> Option<Pid> {
        actor::unregister(&self.executor, &self.actors, name)
    }

    /// The live process registered as `name`.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        actor::whereis(&self.actors, name)
    }

    /// Waits like a receive, at most [`NODE_ROOM_WAIT`](crate::NODE_ROOM_WAIT), until
    /// the queue to other nodes has room again after a send was refused with
    /// [`SendError::NodeBacklog`]; whether it has. A sender to a slow node loops: send,
    /// and on `NodeBacklog` wait here and send again.
    pub async fn wait_node_room(&self) -> bool {
        let (room, _) = actor::wait_node_room(&self.executor, &self.actors, &self.process).await;
        room
    }

    /// Registers `pid`, a live process of this node, under the cluster-wide name `name`
    /// (docs/CLUSTER.md, "Names"), waiting like a receive for the cluster's answer. The
    /// name is released when the process or its node dies.
    pub async fn register_global(&self, name: &str, pid: Pid) -> Result<(), GlobalNameError> {
        let request = GlobalName::Register {
            name: name.to_owned(),
            pid,
        };
        self.global_name(request).await.map(|_| ())
    }

    /// Releases the cluster-wide name `name`, whoever holds it; the pid that held it.
    pub async fn unregister_global(&self, name: &str) -> Result<Option<Pid>, GlobalNameError> {
        let request = GlobalName::Unregister {
            name: name.to_owned(),
        };
        self.global_name(request).await
    }

    /// The live process, of any node, registered under the cluster-wide name `name`.
    pub async fn whereis_global(&self, name: &str) -> Result<Option<Pid>, GlobalNameError> {
        let request = GlobalName::Whereis {
            name: name.to_owned(),
        };
        self.global_name(request).await
    }

    async fn global_name(&self, request: GlobalName) -> GlobalAnswer {
        let (answer, _) =
            actor::global_name(&self.executor, &self.actors, &self.process, request).await;
        answer
    }

    /// A fresh reference, open as an alias of this process's mailbox: data messages
    /// tagged with it are delivered until [`unalias`](Self::unalias).
    pub fn alias(&self) -> Reference {
        forced(actor::alias(&self.actors, &self.process, Charge::Force))
    }

    /// Closes an alias; queued and later messages tagged with it are dropped. Whether
    /// it was open.
    pub fn unalias(&self, reference: Reference) -> bool {
        self.process.core.mailbox.close_alias(reference)
    }

    /// The runtime's clock: time since it started (virtual in deterministic mode).
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.executor.now_ns())
    }

    /// Waits at least `duration`, holding no worker.
    pub async fn sleep(&self, duration: Duration) {
        let when = self
            .executor
            .now_ns()
            .saturating_add(shoal_executor::duration_ns(duration));
        shoal_executor::sleep_until(&self.process, &self.executor, when).await;
    }

    /// Ends this quantum: the process goes behind the other runnable ones.
    pub async fn yield_now(&self) {
        shoal_executor::yield_now(&self.process).await;
    }
}

/// The value of a charge made with [`Charge::Force`], which the budget counts and never
/// refuses: a native process is the host's own code, so its monitors and aliases are
/// charged to the memory budget (crowding guests out of it) but never refused.
fn forced<T>(charged: Result<T, OverBudget>) -> T {
    match charged {
        Ok(value) => value,
        Err(refused) => unreachable!("a forced charge was refused: {refused}"),
    }
}
