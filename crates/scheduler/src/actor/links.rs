//! Links and exit signals.
//!
//! A link is bidirectional and idempotent; linking to a dead pid sends the linker a
//! `noproc` exit signal. An exit signal's effect on its receiver is `proc`'s rule
//! (`signal`): ignored, delivered as an `EXIT` message, or a death, which is carried out
//! here by killing the receiver with the signal's reason.

use shoal_executor::{Executor, NoProc, Process};
use shoal_proc::{ExitReason, LinkOutcome, Pid, SignalOutcome, SignalReason, Via};

/// Carries out an exit signal's outcome on its receiver.
pub(super) fn carry_out(receiver: &Process, outcome: SignalOutcome) {
    if let SignalOutcome::Die(reason) = outcome {
        tracing::debug!(pid = %receiver.pid(), %reason, "killed by an exit signal");
        receiver.kill_with(reason);
    }
}

/// Links `me` and `other`; a dead `other` sends `me` a `noproc` exit signal.
pub(crate) fn link(executor: &Executor, me: &Process, other: Pid) {
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
pub(crate) fn unlink(executor: &Executor, me: &Process, other: Pid) {
    let target = executor.process(other);
    me.core.unlink(other, target.as_deref().map(|p| &p.core));
}

/// Sends an exit signal from `from` (`None`: the host) to `to`.
pub(crate) fn exit_signal(
    executor: &Executor,
    from: Option<Pid>,
    to: Pid,
    reason: SignalReason,
) -> Result<(), NoProc> {
    let receiver = executor.process(to).ok_or(NoProc(to))?;
    let outcome = receiver.core.on_exit_signal(from, Via::Exit(reason));
    carry_out(&receiver, outcome);
    Ok(())
}
