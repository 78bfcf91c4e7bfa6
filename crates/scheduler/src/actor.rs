//! The actor operations on the runtime: links, monitors, exit signals, names and
//! aliases, shared by the guest host functions, native processes and the host API.
//!
//! The rules live in `shoal-proc` (`signal` is Erlang's table, `relations` the atomic
//! pairwise changes, `registry` the names); this file resolves pids to live processes
//! and carries out the one outcome `proc` leaves to the scheduler: a death, by
//! [`Process::kill_with`], which ends the process at its next poll (a running guest
//! within a tick or a quantum, or at once from the host call that caused it).
//!
//! # When a process ends
//! [`Shared::sever`] runs inside `complete`, after the table slot is freed and before the
//! exit is published: the name is released, the monitors it held are removed from their
//! targets, then each linked process gets its exit signal and each watcher its `DOWN`.
//! A joiner that sees the exit therefore sees every signal already delivered. A process
//! killed by a signal ends on its own worker and signals onward from there, so a chain of
//! any length comes down without recursion.

use shoal_proc::{
    ExitReason, LinkOutcome, Message, Pid, Reference, RegisterError, Severed, SignalOutcome,
    SignalReason, Via,
};

use crate::error::{NoProc, SendError};
use crate::process::Process;
use crate::shared::Shared;

/// What a new process is bound to before it runs its first instruction.
#[derive(Clone, Copy)]
pub(crate) enum Bind<'a> {
    /// Nothing.
    None,
    /// Linked to this process (`spawn_link`).
    Link(&'a Process),
    /// Monitored by this process under this reference (`spawn_monitor`).
    Monitor(&'a Process, Reference),
}

impl Shared {
    /// A fresh reference.
    pub(crate) fn make_ref(&self) -> Reference {
        self.references.next()
    }

    /// Binds a new process, still `Spawning`, to its parent.
    pub(crate) fn bind(&self, child: &Process, bind: Bind<'_>) {
        match bind {
            Bind::None => {}
            Bind::Link(parent) => match parent.core.link(child.pid(), Some(&child.core)) {
                LinkOutcome::Linked => {}
                // The child has not run, so it cannot have ended: the parent is the one
                // that is ending, and the link is moot.
                LinkOutcome::NoProc => {}
            },
            Bind::Monitor(parent, reference) => {
                let _ = parent
                    .core
                    .monitor(reference, child.pid(), Some(&child.core));
            }
        }
    }

    /// Carries out an exit signal's outcome on its receiver.
    fn carry_out(&self, receiver: &Process, outcome: SignalOutcome) {
        if let SignalOutcome::Die(reason) = outcome {
            tracing::debug!(pid = %receiver.pid(), %reason, "killed by an exit signal");
            receiver.kill_with(reason);
        }
    }

    /// Links `me` and `other`; a dead `other` sends `me` a `noproc` exit signal.
    pub(crate) fn link(&self, me: &Process, other: Pid) {
        let target = self.table.get(other);
        match me.core.link(other, target.as_deref().map(|p| &p.core)) {
            LinkOutcome::Linked => {}
            LinkOutcome::NoProc => {
                let outcome = me
                    .core
                    .on_exit_signal(Some(other), Via::Link(ExitReason::NoProc));
                self.carry_out(me, outcome);
            }
        }
    }

    /// Removes the link between `me` and `other`, if any.
    pub(crate) fn unlink(&self, me: &Process, other: Pid) {
        let target = self.table.get(other);
        me.core.unlink(other, target.as_deref().map(|p| &p.core));
    }

    /// `me` starts monitoring `target`.
    pub(crate) fn monitor(&self, me: &Process, target: Pid) -> Reference {
        let reference = self.make_ref();
        let process = self.table.get(target);
        let _ = me
            .core
            .monitor(reference, target, process.as_deref().map(|p| &p.core));
        reference
    }

    /// `me` stops the monitor `reference`. Whether it was active.
    pub(crate) fn demonitor(&self, me: &Process, reference: Reference, flush: bool) -> bool {
        me.core
            .demonitor(reference, flush, |pid| self.table.get(pid))
    }

    /// Sends an exit signal from `from` (`None`: the host) to `to`.
    pub(crate) fn exit_signal(
        &self,
        from: Option<Pid>,
        to: Pid,
        reason: SignalReason,
    ) -> Result<(), NoProc> {
        let receiver = self.table.get(to).ok_or(NoProc(to))?;
        let outcome = receiver.core.on_exit_signal(from, Via::Exit(reason));
        self.carry_out(&receiver, outcome);
        Ok(())
    }

    /// Registers `pid` as `name`.
    pub(crate) fn register(&self, name: &str, pid: Pid) -> Result<(), RegisterError> {
        let process = self.table.get(pid);
        self.registry
            .register(name, pid, process.as_deref().map(|p| &p.core))
    }

    /// Removes `name`; the pid it named.
    pub(crate) fn unregister(&self, name: &str) -> Option<Pid> {
        self.registry.unregister(name, |pid| self.table.get(pid))
    }

    /// The live process registered as `name`.
    pub(crate) fn whereis(&self, name: &str) -> Option<Pid> {
        self.registry.whereis(name)
    }

    /// Sends to the process registered as `name`.
    pub(crate) fn send_name(&self, name: &str, message: Message) -> Result<(), SendError> {
        let pid = self
            .whereis(name)
            .ok_or_else(|| SendError::NoName(name.to_owned()))?;
        self.send(pid, message)
    }

    /// Takes down what an ended process left (module docs). `pid` has left the table.
    pub(crate) fn sever(&self, pid: Pid, reason: &ExitReason, severed: Severed) {
        if let Some(name) = &severed.name {
            self.registry.release(name, pid);
        }
        for (reference, target) in severed.monitoring {
            if let Some(target) = self.table.get(target) {
                target.core.remove_watcher(reference);
            }
        }
        for linked in severed.links {
            if let Some(process) = self.table.get(linked) {
                let outcome = process.core.on_linked_exit(pid, reason);
                self.carry_out(&process, outcome);
            }
        }
        for (reference, watcher) in severed.watchers {
            if let Some(process) = self.table.get(watcher) {
                process.core.on_monitored_exit(reference, pid, reason);
            }
        }
    }
}
