//! Links and exit signals.
//!
//! A link is bidirectional and idempotent; linking to a dead pid sends the linker a
//! `noproc` exit signal. An exit signal's effect on its receiver is `proc`'s rule
//! (`signal`): ignored, delivered as an `EXIT` message, or a death, which is carried out
//! here by killing the receiver with the signal's reason.

use shoal_executor::{Executor, NoProc, Process};
use shoal_proc::{ExitReason, LinkOutcome, Pid, SignalReason, Via};

use super::remote::{is_remote, remote_of};
use super::{Actors, carry_out};

/// Links `me` and `other`; a dead `other` sends `me` a `noproc` exit signal. A process
/// of another node keeps the other half there, and its node answers `noproc` for it.
pub(crate) fn link(executor: &Executor, actors: &Actors, me: &Process, other: Pid) {
    if is_remote(executor, other)
        && let Some(remote) = remote_of(actors)
    {
        if me.core.link_remote(other) {
            remote.link(me.pid(), other);
        }
        return;
    }
    let target = executor.process(other);
    match me.core.link(other, target.as_deref().map(|p| &p.core)) {
        LinkOutcome::Linked => {}
        LinkOutcome::NoProc => {
            let outcome = me
                .core
                .on_exit_signal(Some(other), Via::Link(ExitReason::NoProc));
            carry_out(me, outcome);
        }
    }
}

/// Removes the link between `me` and `other`, if any.
pub(crate) fn unlink(executor: &Executor, actors: &Actors, me: &Process, other: Pid) {
    if is_remote(executor, other)
        && let Some(remote) = remote_of(actors)
    {
        if me.core.is_linked(other) {
            me.core.unlink(other, None);
            remote.unlink(me.pid(), other);
        }
        return;
    }
    let target = executor.process(other);
    me.core.unlink(other, target.as_deref().map(|p| &p.core));
}

/// Sends an exit signal from `from` (`None`: the host) to `to`.
pub(crate) fn exit_signal(
    executor: &Executor,
    actors: &Actors,
    from: Option<Pid>,
    to: Pid,
    reason: SignalReason,
) -> Result<(), NoProc> {
    if is_remote(executor, to)
        && let Some(remote) = remote_of(actors)
    {
        // A pid of a node known to be down is dead, as for a send.
        if !remote.is_up(to.node()) {
            return Err(NoProc(to));
        }
        remote.exit_signal(from, to, Via::Exit(reason));
        return Ok(());
    }
    let receiver = executor.process(to).ok_or(NoProc(to))?;
    let outcome = receiver.core.on_exit_signal(from, Via::Exit(reason));
    carry_out(&receiver, outcome);
    Ok(())
}
