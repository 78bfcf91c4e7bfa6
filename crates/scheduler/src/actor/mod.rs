//! The actor layer's rules on live processes: links, monitors, exit signals, names and
//! references, as operations over the executor's table (Erlang's semantics; the reference
//! manual's "Processes" chapter).
//!
//! # What it owns
//! [`Actors`]: the registry of names and the source of references, the only state of its
//! own. Everything else it works on is the executor's (the table of live processes) and
//! `proc`'s (each process's relations, mailbox and kill flag). The rules themselves live in
//! `shoal-proc` (`signal` is Erlang's table, `relations` the atomic pairwise changes,
//! `registry` the names); this layer resolves pids to live processes and carries out the
//! one outcome `proc` leaves to it: a death, by `Process::kill_with`, which ends the
//! process at its next poll (a running guest within a tick or a quantum, or at once from
//! the host call that caused it).
//!
//! # What it may import
//! The executor, `proc` and the crate's errors; never the wasm layer or the layers above,
//! whose host functions and native processes call these operations. Guests, native
//! processes and the host API share them, so one rule holds for all three.
//!
//! | file | holds |
//! |---|---|
//! | `mod` | [`Actors`], the spawn relation, and what an ended process leaves (the exit hook) |
//! | `links` | links, unlinks and exit signals |
//! | `monitors` | monitors, demonitors and references |
//! | `names` | register, unregister, whereis, send by name |
//! | `remote` | the seam to a cluster's transport: [`Remote`] out, [`RemotePort`] in |
//! | `global` | cluster-wide names: requests through the seam, and their answers |
//!
//! # When a process ends
//! The executor's exit sequence calls the hook [`severed_hook`] installs after the table
//! slot is freed and before the exit is published: the name is released, the monitors it
//! held are removed from their targets, then each linked process gets its exit signal and
//! each watcher its `DOWN`. A joiner that sees the exit therefore sees every signal
//! already delivered. A process killed by a signal ends on its own worker and signals
//! onward from there, so a chain of any length comes down without recursion.

mod global;
mod links;
mod monitors;
mod names;
mod remote;

use shoal_executor::{Executor, Process, SendError, SeveredHook};
use shoal_proc::{
    Charge, ExitReason, LinkOutcome, Message, Pid, Reference, References, Registry, Severed,
    SignalOutcome, Via,
};

pub(crate) use global::global_name;
pub use global::{GLOBAL_NAME_TIMEOUT, GlobalAnswer};
pub(crate) use links::{exit_signal, link, unlink};
pub(crate) use monitors::{alias, demonitor, is_up, monitor, monitor_alias, monitor_node, nodes};
pub(crate) use names::{register, send_name, send_name_on, unregister, whereis};
pub use remote::{
    GlobalName, NODE_ROOM_WAIT, REMOTE_SPAWN_TIMEOUT, Remote, RemotePort, RemoteSpawn,
    RemoteSpawnOptions,
};
pub(crate) use remote::{spawn_on, wait_node_room};

/// The actor layer's own state: names and references. One per runtime.
#[derive(Default)]
pub(crate) struct Actors {
    /// Registered names of live processes.
    pub registry: Registry,
    /// The source of monitor references and aliases.
    references: References,
    /// The transport to other nodes, once a cluster attaches one.
    pub(crate) remote: std::sync::OnceLock<std::sync::Arc<dyn Remote>>,
}

/// Sends `message` to `to`: queued in its mailbox, or handed to the transport if `to` is
/// a process of another node (a pid of no process without one).
pub(crate) fn send(
    executor: &Executor,
    actors: &Actors,
    to: Pid,
    message: Message,
) -> Result<(), SendError> {
    if remote::is_remote(executor, to) {
        return match remote::remote_of(actors) {
            Some(remote) => remote.send(to, message),
            None => Err(SendError::NoProc(to)),
        };
    }
    executor.send(to, message)
}

impl Actors {
    /// A fresh reference, unique for the runtime's life.
    pub(crate) fn make_ref(&self) -> Reference {
        self.references.next()
    }
}

/// What a new process is tied to before it runs its first instruction: its spawner's
/// `spawn`, `spawn_link` or `spawn_monitor`.
#[derive(Clone, Copy)]
pub(crate) enum SpawnRelation<'a> {
    /// Nothing.
    None,
    /// Linked to this process (`spawn_link`).
    Link(&'a Process),
    /// Monitored by this process under this reference (`spawn_monitor`).
    Monitor(&'a Process, Reference),
}

/// Carries out an exit signal's outcome on its receiver.
pub(super) fn carry_out(receiver: &Process, outcome: SignalOutcome) {
    if let SignalOutcome::Die(reason) = outcome {
        tracing::debug!(pid = %receiver.pid(), %reason, "killed by an exit signal");
        receiver.kill_with(reason);
    }
}

/// Ties a new process, still `Spawning`, to its spawner as `relation` says.
pub(crate) fn bind(child: &Process, relation: SpawnRelation<'_>) {
    match relation {
        SpawnRelation::None => {}
        SpawnRelation::Link(parent) => match parent.core.link(child.pid(), Some(&child.core)) {
            LinkOutcome::Linked => {}
            // The child has not run, so it cannot have ended: the parent is the one
            // that is ending, and the link is moot.
            LinkOutcome::NoProc => {}
        },
        // Charged whatever the budget: the spawn was admitted, and the child is
        // promised its monitor before it runs.
        SpawnRelation::Monitor(parent, reference) => {
            let _ = parent
                .core
                .monitor(reference, child.pid(), Some(&child.core), Charge::Force);
        }
    }
}

/// The executor's exit hook for this layer (module docs).
pub(crate) fn severed_hook(actors: std::sync::Arc<Actors>) -> SeveredHook {
    Box::new(move |executor, pid, reason, severed| sever(executor, &actors, pid, reason, severed))
}

/// Takes down what an ended process left (module docs). `pid` has left the table.
fn sever(executor: &Executor, actors: &Actors, pid: Pid, reason: &ExitReason, severed: Severed) {
    if let Some(name) = &severed.name {
        actors.registry.release(name, pid);
    }
    let remote = remote::remote_of(actors);
    for (reference, target) in severed.monitoring {
        if let Some(target) = executor.process(target) {
            target.core.remove_watcher(reference);
        } else if let Some(remote) = remote.filter(|_| remote::is_remote(executor, target)) {
            remote.demonitor(pid, reference, target);
        }
    }
    for linked in severed.links {
        if let Some(process) = executor.process(linked) {
            let outcome = process.core.on_linked_exit(pid, reason);
            carry_out(&process, outcome);
        } else if let Some(remote) = remote.filter(|_| remote::is_remote(executor, linked)) {
            remote.exit_signal(Some(pid), linked, Via::Link(reason.clone()));
        }
    }
    for (reference, watcher) in severed.watchers {
        if let Some(process) = executor.process(watcher) {
            process.core.on_monitored_exit(reference, pid, reason);
        } else if let Some(remote) = remote.filter(|_| remote::is_remote(executor, watcher)) {
            remote.down(reference, pid, watcher, reason);
        }
    }
}
