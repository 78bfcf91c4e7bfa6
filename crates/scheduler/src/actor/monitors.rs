//! Monitors: one-way, stackable, each delivering one `DOWN(reference, pid, reason)`;
//! monitoring a dead pid gives a `DOWN` with `noproc` at once.

use shoal_executor::{Executor, Process};
use shoal_proc::{Pid, Reference};

use super::Actors;
use super::remote::{is_remote, remote_of};

/// `me` starts monitoring `target`; the monitor's reference.
pub(crate) fn monitor(
    executor: &Executor,
    actors: &Actors,
    me: &Process,
    target: Pid,
) -> Reference {
    let reference = actors.make_ref();
    if is_remote(executor, target)
        && let Some(remote) = remote_of(actors)
    {
        if me.core.monitor_remote(reference, target) {
            remote.monitor(me.pid(), reference, target);
        }
        return reference;
    }
    let process = executor.process(target);
    let _ = me
        .core
        .monitor(reference, target, process.as_deref().map(|p| &p.core));
    reference
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
    let Some(target) = me
        .core
        .demonitor(reference, flush, |pid| executor.process(pid))
    else {
        return false;
    };
    if is_remote(executor, target)
        && let Some(remote) = remote_of(actors)
    {
        remote.demonitor(me.pid(), reference, target);
    }
    true
}
