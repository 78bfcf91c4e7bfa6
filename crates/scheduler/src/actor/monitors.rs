//! Monitors: one-way, stackable, each delivering one `DOWN(reference, pid, reason)`;
//! monitoring a dead pid gives a `DOWN` with `noproc` at once.

use shoal_executor::{Executor, Process};
use shoal_proc::{Pid, Reference};

use super::Actors;

/// `me` starts monitoring `target`; the monitor's reference.
pub(crate) fn monitor(
    executor: &Executor,
    actors: &Actors,
    me: &Process,
    target: Pid,
) -> Reference {
    let reference = actors.make_ref();
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
    me: &Process,
    reference: Reference,
    flush: bool,
) -> bool {
    me.core
        .demonitor(reference, flush, |pid| executor.process(pid))
}
