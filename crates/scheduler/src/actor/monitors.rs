//! Monitors: one-way, stackable, each delivering one `DOWN(reference, pid, reason)`;
//! monitoring a dead pid gives a `DOWN` with `noproc` at once.

//!
//! A monitor a process holds counts towards the runtime's memory budget (shoal-proc's
//! relations): a guest's is refused with [`OverBudget`] when the budget cannot take it,
//! a native process's ([`Charge::Force`]) never is.

use shoal_executor::{Executor, Process};
use shoal_proc::{Charge, Demonitored, MonitorOutcome, NodeId, OverBudget, Pid, Reference};

use super::Actors;
use super::remote::{is_remote, remote_of};

/// `me` starts monitoring `target`; the monitor's reference, or the budget's refusal
/// (nothing done) under [`Charge::Refuse`].
pub(crate) fn monitor(
    executor: &Executor,
    actors: &Actors,
    me: &Process,
    target: Pid,
    charge: Charge,
) -> Result<Reference, OverBudget> {
    let reference = actors.make_ref();
    if is_remote(executor, target)
        && let Some(remote) = remote_of(actors)
    {
        if me.core.monitor_remote(reference, target, charge)? {
            remote.monitor(me.pid(), reference, target);
        }
        return Ok(reference);
    }
    let process = executor.process(target);
    match me.core.monitor(
        reference,
        target,
        process.as_deref().map(|p| &p.core),
        charge,
    ) {
        MonitorOutcome::Monitoring | MonitorOutcome::NoProc => Ok(reference),
        MonitorOutcome::OverBudget(refused) => Err(refused),
    }
}

/// [`monitor`], with the reference also opened as an alias of `me`'s mailbox (Erlang's
/// monitor with `{alias, demonitor}`): a reply tagged with it and the `DOWN` both reach
/// one selective receive. Opened after the monitor: a `DOWN` is never a data message, so
/// none can be taken for a reply either way.
pub(crate) fn monitor_alias(
    executor: &Executor,
    actors: &Actors,
    me: &Process,
    target: Pid,
    charge: Charge,
) -> Result<Reference, OverBudget> {
    let reference = monitor(executor, actors, me, target, charge)?;
    if let Err(refused) = me.core.mailbox.open_alias(reference, charge) {
        demonitor(executor, actors, me, reference, true);
        return Err(refused);
    }
    Ok(reference)
}

/// A fresh reference, opened as an alias of `me`'s mailbox: data messages tagged with it
/// are delivered until it is closed. Refused past the memory budget when `charge` says so.
pub(crate) fn alias(
    actors: &Actors,
    me: &Process,
    charge: Charge,
) -> Result<Reference, OverBudget> {
    let reference = actors.make_ref();
    me.core.mailbox.open_alias(reference, charge)?;
    Ok(reference)
}

/// `me` stops the monitor `reference`; with `flush`, also removes its queued `DOWN`.
/// Whether it was active.
pub(crate) fn demonitor(
    executor: &Executor,
    actors: &Actors,
    me: &Process,
    reference: Reference,
    flush: bool,
) -> bool {
    let removed = me
        .core
        .demonitor(reference, flush, |pid| executor.process(pid));
    if let Demonitored::Process(target) = removed
        && is_remote(executor, target)
        && let Some(remote) = remote_of(actors)
    {
        remote.demonitor(me.pid(), reference, target);
    }
    removed.was_active()
}

/// `me` starts monitoring the node `node`: a `DOWN(reference, noconnection)` with no
/// sender arrives when it goes down, at once if it is not up (or there is no cluster).
pub(crate) fn monitor_node(
    executor: &Executor,
    actors: &Actors,
    me: &Process,
    node: NodeId,
    charge: Charge,
) -> Result<Reference, OverBudget> {
    let reference = actors.make_ref();
    // Kept before the check: a node that goes down after it fires the monitor itself.
    if me.core.monitor_node(reference, node, charge)? {
        let up = node != executor.node() && remote_of(actors).is_some_and(|r| r.is_up(node));
        if !up {
            let _ = me.core.on_node_down(reference);
        }
    }
    Ok(reference)
}

/// Whether `node` is another node of this cluster that is up.
pub(crate) fn is_up(actors: &Actors, node: NodeId) -> bool {
    remote_of(actors).is_some_and(|r| r.is_up(node))
}

/// The other nodes that are up, by id (none without a cluster).
pub(crate) fn nodes(actors: &Actors) -> Vec<NodeId> {
    remote_of(actors).map_or_else(Vec::new, |r| r.nodes())
}
