//! Links, monitors, the trap-exits flag and the registered name: a process's relations.
//!
//! # What is kept
//! Each process's [`Relations`] hold, behind one short lock: whether it traps exits, the
//! pids it is linked to, the monitors others hold on it (`watchers`: reference → the
//! watching pid), the monitors it holds (`monitoring`: reference → the watched pid), its
//! registered name, and whether it has ended (`closed`). A link is kept on both sides, a
//! monitor on both sides. Most processes have none of these: the sets live in a box made
//! on first use, so a process without relations pays one word for them.
//!
//! # Atomicity
//! Every change to a pair (link, unlink, monitor) holds both processes' locks, taken in
//! pid order so two pairs never deadlock. A process ends by [`close`](ProcessCore::close_relations):
//! under its own lock it marks itself closed and takes everything. From then on:
//! - a `link` or `monitor` to it sees `closed` and answers `noproc` (a signal, a `DOWN`)
//!   instead of adding to sets nobody will read again;
//! - the ending process delivers its signals one receiver at a time, under that receiver's
//!   lock, and only if the receiver still holds the link or monitor. So an `unlink` or
//!   `demonitor` that returned before the delivery takes the receiver's lock prevents it,
//!   and one that comes after finds the signal already delivered: there is no window in
//!   which a signal is lost or arrives after the call that removed its cause.
//!
//! Lock order: registry, then relations (in pid order), then mailbox. Nothing takes a
//! relations lock while holding a mailbox lock, and the ending process holds no lock of
//! its own while it delivers.
//!
//! # The memory budget
//! Monitors stack, so a process that monitors in a loop would hold the host's memory
//! without limit. A process's relations therefore charge the runtime's memory budget
//! (the one its mailbox charges) as its mailbox does:
//! beyond the first [`RELATIONS_FREE_BYTES`] (which the process record's charge
//! covers), in steps of [`RELATIONS_CHUNK`], giving a step back once it holds a whole
//! step less, and everything at close. A process pays for what it made:
//! [`MONITOR_BYTES`] per monitor it holds (both halves, the watched process's included)
//! and per node monitor, [`LINK_BYTES`] per link on its side. A monitor the budget
//! cannot take is refused ([`MonitorOutcome::OverBudget`]) unless the caller asks for
//! [`Charge::Force`] (native processes, which are the host's own code). Links are
//! always charged, never refused: there is at most one per pair of live processes, and
//! refusing the link of a `spawn_link` would leave a child without the link it was
//! promised.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::budget::{Charge, OverBudget, Reservation};
use crate::signal::{SignalOutcome, Via, on_exit_signal};
use crate::sync::Mutex;
use crate::{ExitReason, Message, NodeId, Pid, ProcessCore, Reference};

/// Bytes of relations a process holds before it charges the memory budget: the process
/// record's charge covers them, so a process with a few dozen monitors and links (a
/// supervisor of a small tree, a server with requests in flight) never touches the
/// shared counter.
pub const RELATIONS_FREE_BYTES: usize = 4 << 10;

/// The step in which relations beyond [`RELATIONS_FREE_BYTES`] charge the budget, as a
/// mailbox's ([`MAILBOX_CHUNK`](crate::MAILBOX_CHUNK)): one shared
/// compare-and-swap per 64 KiB of relations at most.
pub const RELATIONS_CHUNK: usize = 64 << 10;

/// What one monitor costs its holder: two (reference, pid) pairs of 16 bytes and their
/// control bytes (34), one in its own map and one in the watched process's, in hash maps
/// that just after doubling fill 7/16 of their buckets (× 16/7): 78, rounded up. With
/// 72, four guests monitoring themselves until a 1 GiB budget refused them peaked at
/// 1.27 GB resident, their maps having just doubled; with 80, at 0.71–0.74 GB.
pub const MONITOR_BYTES: usize = 80;

/// What one link costs each side: a pid of 8 bytes and its control byte in a hash set
/// that just after doubling fills 7/16 of its buckets: 9 × 16/7, rounded up.
pub const LINK_BYTES: usize = 24;

/// A process's relations (module docs).
#[derive(Debug, Default)]
pub struct Relations {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    /// The process has ended: no relation is added any more.
    pub(crate) closed: bool,
    /// Exit signals arrive as messages.
    trap_exit: bool,
    /// The sets, made on first use.
    sets: Option<Box<Sets>>,
    /// Bytes charged to the memory budget for the sets (module docs).
    reserved: Reservation<RELATIONS_FREE_BYTES, RELATIONS_CHUNK>,
}

#[derive(Debug, Default)]
struct Sets {
    links: HashSet<Pid>,
    watchers: HashMap<Reference, Pid>,
    monitoring: HashMap<Reference, Pid>,
    /// Monitors it holds on nodes: reference → node.
    node_monitors: HashMap<Reference, NodeId>,
    name: Option<Arc<str>>,
}

impl Sets {
    /// What these sets cost their process (module docs).
    fn held_bytes(&self) -> usize {
        self.links.len() * LINK_BYTES
            + (self.monitoring.len() + self.node_monitors.len()) * MONITOR_BYTES
    }
}

impl Inner {
    fn sets(&mut self) -> &mut Sets {
        self.sets.get_or_insert_with(Box::default)
    }

    /// What the sets cost now.
    fn held_bytes(&self) -> usize {
        self.sets.as_ref().map_or(0, |s| s.held_bytes())
    }

    /// Makes the charge cover the sets holding `extra` more bytes, before they do: with
    /// [`Charge::Refuse`], an error (and nothing charged) if the budget cannot take it.
    fn reserve(
        &mut self,
        budget: Option<&crate::MemoryBudget>,
        extra: usize,
        charge: Charge,
    ) -> Result<(), OverBudget> {
        let held = self.held_bytes() + extra;
        self.reserved.cover(budget, held, charge)
    }

    /// Gives back what is charged beyond a step more than the sets need.
    fn settle(&mut self, budget: Option<&crate::MemoryBudget>) {
        let held = self.held_bytes();
        self.reserved.settle(budget, held);
    }

    pub(crate) fn name(&self) -> Option<&Arc<str>> {
        self.sets.as_ref()?.name.as_ref()
    }

    pub(crate) fn set_name(&mut self, name: Option<Arc<str>>) {
        self.sets().name = name;
    }
}

/// What a process left behind when it ended: whom to signal, and its name to release.
#[must_use = "the relations of an ended process must be signalled and its name released"]
#[derive(Debug, Default)]
pub struct Severed {
    /// Processes linked to it: each gets its exit signal.
    pub links: Vec<Pid>,
    /// Monitors on it, (reference, watcher): each watcher gets a `DOWN`.
    pub watchers: Vec<(Reference, Pid)>,
    /// Monitors it held, (reference, watched): removed from the watched processes.
    pub monitoring: Vec<(Reference, Pid)>,
    /// Its registered name.
    pub name: Option<Arc<str>>,
}

/// What a `demonitor` removed.
#[must_use]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Demonitored {
    /// A monitor of this process (of this node or another).
    Process(Pid),
    /// A monitor of a node.
    Node,
    /// Nothing: no such monitor was active.
    NotActive,
}

impl Demonitored {
    /// Whether a monitor was active.
    pub fn was_active(self) -> bool {
        self != Demonitored::NotActive
    }
}

/// A process's relations with the processes of one node ([`ProcessCore::relations_with`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct NodeRelations {
    /// Pids of that node it is linked to.
    pub links: Vec<Pid>,
    /// Monitors it holds on processes of that node: (reference, watched pid).
    pub monitoring: Vec<(Reference, Pid)>,
    /// References of monitors that processes of that node hold on it.
    pub watchers: Vec<Reference>,
    /// References of its monitors of that node itself.
    pub node_monitors: Vec<Reference>,
}

/// How many relations of each kind a process holds ([`ProcessCore::relation_counts`]).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RelationCounts {
    /// Processes it is linked to.
    pub links: usize,
    /// Monitors it holds on processes.
    pub monitoring: usize,
    /// Monitors it holds on nodes.
    pub node_monitors: usize,
    /// Monitors others hold on it.
    pub watchers: usize,
}

/// What a `link` did.
#[must_use = "a link to a dead process means an exit signal for the caller"]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum LinkOutcome {
    /// The link exists now (it may have existed before: links are idempotent).
    Linked,
    /// The other process is not alive: the caller gets a `noproc` exit signal.
    NoProc,
}

/// What a `monitor` did.
#[must_use]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum MonitorOutcome {
    /// The monitor is in place.
    Monitoring,
    /// The process is not alive; `DOWN(ref, pid, noproc)` has been queued.
    NoProc,
    /// The memory budget cannot take one more monitor of this process's: nothing was
    /// done.
    OverBudget(OverBudget),
}

impl Relations {
    pub(crate) fn lock(&self) -> impl std::ops::DerefMut<Target = Inner> + '_ {
        self.inner.lock()
    }
}

/// Locks two processes' relations in pid order; `a` and `b` differ.
fn lock_pair<'a>(
    a: &'a ProcessCore,
    b: &'a ProcessCore,
) -> (
    impl std::ops::DerefMut<Target = Inner> + 'a,
    impl std::ops::DerefMut<Target = Inner> + 'a,
) {
    debug_assert_ne!(a.pid, b.pid);
    if a.pid < b.pid {
        let ga = a.relations.lock();
        let gb = b.relations.lock();
        (ga, gb)
    } else {
        let gb = b.relations.lock();
        let ga = a.relations.lock();
        (ga, gb)
    }
}

impl ProcessCore {
    /// Sets the trap-exits flag; returns the previous value.
    pub fn set_trap_exit(&self, on: bool) -> bool {
        std::mem::replace(&mut self.relations.lock().trap_exit, on)
    }

    /// Whether exit signals arrive as messages.
    pub fn traps_exit(&self) -> bool {
        self.relations.lock().trap_exit
    }

    /// Links this process and `other` (`None`: the pid `other_pid` is not alive).
    pub fn link(&self, other_pid: Pid, other: Option<&ProcessCore>) -> LinkOutcome {
        let Some(other) = other.filter(|o| o.pid == other_pid) else {
            return LinkOutcome::NoProc;
        };
        if other.pid == self.pid {
            return LinkOutcome::Linked;
        }
        let (mut me, mut them) = lock_pair(self, other);
        if them.closed {
            return LinkOutcome::NoProc;
        }
        if !me.closed && !me.sets().links.contains(&other.pid) {
            let _ = me.reserve(self.mailbox.budget(), LINK_BYTES, Charge::Force);
            let _ = them.reserve(other.mailbox.budget(), LINK_BYTES, Charge::Force);
            me.sets().links.insert(other.pid);
            them.sets().links.insert(self.pid);
        }
        LinkOutcome::Linked
    }

    /// Removes the link with `other_pid`, if any. `other` is that process if alive.
    pub fn unlink(&self, other_pid: Pid, other: Option<&ProcessCore>) {
        let remove = |inner: &mut Inner, pid: Pid, core: &ProcessCore| {
            if let Some(sets) = inner.sets.as_mut() {
                sets.links.remove(&pid);
            }
            inner.settle(core.mailbox.budget());
        };
        match other.filter(|o| o.pid == other_pid && o.pid != self.pid) {
            Some(other) => {
                let (mut me, mut them) = lock_pair(self, other);
                remove(&mut me, other_pid, self);
                remove(&mut them, self.pid, other);
            }
            None => remove(&mut self.relations.lock(), other_pid, self),
        }
    }

    /// Whether this process is linked to `pid`.
    pub fn is_linked(&self, pid: Pid) -> bool {
        let inner = self.relations.lock();
        inner.sets.as_ref().is_some_and(|s| s.links.contains(&pid))
    }

    /// Monitors `target_pid` (`target`: that process if alive) under `reference`,
    /// charging the budget as `charge` says (module docs).
    pub fn monitor(
        &self,
        reference: Reference,
        target_pid: Pid,
        target: Option<&ProcessCore>,
        charge: Charge,
    ) -> MonitorOutcome {
        let target = target.filter(|t| t.pid == target_pid);
        let budget = self.mailbox.budget();
        let live = match target {
            Some(t) if t.pid == self.pid => {
                let mut me = self.relations.lock();
                if let Err(e) = me.reserve(budget, MONITOR_BYTES, charge) {
                    return MonitorOutcome::OverBudget(e);
                }
                let sets = me.sets();
                sets.watchers.insert(reference, self.pid);
                sets.monitoring.insert(reference, self.pid);
                true
            }
            Some(t) => {
                let (mut me, mut them) = lock_pair(self, t);
                if them.closed {
                    false
                } else {
                    if !me.closed {
                        if let Err(e) = me.reserve(budget, MONITOR_BYTES, charge) {
                            return MonitorOutcome::OverBudget(e);
                        }
                        me.sets().monitoring.insert(reference, t.pid);
                        them.sets().watchers.insert(reference, self.pid);
                    }
                    true
                }
            }
            None => false,
        };
        if live {
            MonitorOutcome::Monitoring
        } else {
            let _ =
                self.mailbox
                    .push_system(Message::down(reference, target_pid, ExitReason::NoProc));
            MonitorOutcome::NoProc
        }
    }

    /// Removes the monitor `reference`; with `flush`, also a `DOWN` for it already
    /// queued. `lookup` finds the watched process if it is alive and local. What the
    /// monitor watched, if it was active.
    pub fn demonitor<R, T>(
        &self,
        reference: Reference,
        flush: bool,
        lookup: impl FnOnce(Pid) -> Option<R>,
    ) -> Demonitored
    where
        R: std::ops::Deref<Target = T>,
        T: AsRef<ProcessCore>,
    {
        let removed = {
            let mut me = self.relations.lock();
            let removed = match me.sets.as_mut() {
                Some(sets) => {
                    if sets.node_monitors.remove(&reference).is_some() {
                        Demonitored::Node
                    } else {
                        sets.monitoring
                            .remove(&reference)
                            .map_or(Demonitored::NotActive, Demonitored::Process)
                    }
                }
                None => Demonitored::NotActive,
            };
            me.settle(self.mailbox.budget());
            removed
        };
        if let Demonitored::Process(target) = removed
            && let Some(process) = lookup(target)
        {
            (*process).as_ref().remove_watcher(reference);
        }
        if flush {
            self.mailbox.remove_down(reference);
        }
        removed
    }

    /// This half of a link with `other`, a process of another node whose node keeps the
    /// other half. False (and nothing kept) if this process has ended.
    pub fn link_remote(&self, other: Pid) -> bool {
        let kept = self.keep(LINK_BYTES, Charge::Force, |sets| {
            sets.links.insert(other);
        });
        kept == Ok(true)
    }

    /// Applies `change`, which adds `bytes` of relations, to this process's sets unless
    /// it has ended, charged as `charge` says. Whether it had not; refused (nothing
    /// changed) if the budget cannot take it.
    fn keep(
        &self,
        bytes: usize,
        charge: Charge,
        change: impl FnOnce(&mut Sets),
    ) -> Result<bool, OverBudget> {
        let mut me = self.relations.lock();
        if me.closed {
            return Ok(false);
        }
        me.reserve(self.mailbox.budget(), bytes, charge)?;
        change(me.sets());
        Ok(true)
    }

    /// A monitor of `node` held by this process under `reference`: it fires
    /// `DOWN(reference, noconnection)` when the node goes down
    /// ([`relations_with`](Self::relations_with) lists it). False (and nothing kept) if
    /// this process has ended; refused if the budget cannot take it (module docs).
    pub fn monitor_node(
        &self,
        reference: Reference,
        node: NodeId,
        charge: Charge,
    ) -> Result<bool, OverBudget> {
        self.keep(MONITOR_BYTES, charge, |sets| {
            sets.node_monitors.insert(reference, node);
        })
    }

    /// `DOWN(reference, noconnection)` for this process's monitor `reference` of a node
    /// that went down, with no sender. Queued only if the monitor is still active (it is
    /// removed now). Whether it was queued.
    pub fn on_node_down(&self, reference: Reference) -> bool {
        let mut inner = self.relations.lock();
        if inner.closed
            || inner
                .sets
                .as_mut()
                .and_then(|s| s.node_monitors.remove(&reference))
                .is_none()
        {
            return false;
        }
        inner.settle(self.mailbox.budget());
        let mut down = Message::down(reference, self.pid, ExitReason::NoConnection);
        down.from = None;
        self.mailbox.push_system(down).is_ok()
    }

    /// This half of a monitor of `target`, a process of another node. False (and nothing
    /// kept) if this process has ended; refused if the budget cannot take it.
    pub fn monitor_remote(
        &self,
        reference: Reference,
        target: Pid,
        charge: Charge,
    ) -> Result<bool, OverBudget> {
        self.keep(MONITOR_BYTES, charge, |sets| {
            sets.monitoring.insert(reference, target);
        })
    }

    /// Keeps a monitor on this process held by `watcher`, a process of another node,
    /// under `reference` (made by this node). False if this process has ended: the
    /// watcher is owed a `DOWN(noproc)`.
    pub fn add_remote_watcher(&self, reference: Reference, watcher: Pid) -> bool {
        // The watcher's half is charged on its node; this half rides with it.
        self.keep(0, Charge::Force, |sets| {
            sets.watchers.insert(reference, watcher);
        }) == Ok(true)
    }

    /// Every relation of this process with a process of `node`: the pids it is linked
    /// to, the monitors it holds on them (reference, pid) and the references of their
    /// monitors on it. For a node that went down; nothing is removed here.
    pub fn relations_with(&self, node: NodeId) -> NodeRelations {
        let me = self.relations.lock();
        let Some(sets) = me.sets.as_ref() else {
            return NodeRelations::default();
        };
        NodeRelations {
            links: sets
                .links
                .iter()
                .copied()
                .filter(|p| p.node() == node)
                .collect(),
            monitoring: sets
                .monitoring
                .iter()
                .filter(|(_, p)| p.node() == node)
                .map(|(r, p)| (*r, *p))
                .collect(),
            watchers: sets
                .watchers
                .iter()
                .filter(|(_, p)| p.node() == node)
                .map(|(r, _)| *r)
                .collect(),
            node_monitors: sets
                .node_monitors
                .iter()
                .filter(|(_, n)| **n == node)
                .map(|(r, _)| *r)
                .collect(),
        }
    }

    /// How many relations of each kind this process holds now.
    pub fn relation_counts(&self) -> RelationCounts {
        let me = self.relations.lock();
        me.sets
            .as_ref()
            .map_or_else(RelationCounts::default, |s| RelationCounts {
                links: s.links.len(),
                monitoring: s.monitoring.len(),
                node_monitors: s.node_monitors.len(),
                watchers: s.watchers.len(),
            })
    }

    /// Forgets a monitor on this process (its watcher removed it, or ended).
    pub fn remove_watcher(&self, reference: Reference) {
        if let Some(sets) = self.relations.lock().sets.as_mut() {
            sets.watchers.remove(&reference);
        }
    }

    /// Ends this process's relations (module docs). `None` if they were ended already.
    pub fn close_relations(&self) -> Option<Severed> {
        let mut inner = self.relations.lock();
        if std::mem::replace(&mut inner.closed, true) {
            return None;
        }
        inner.reserved.release(self.mailbox.budget());
        let Some(sets) = inner.sets.take() else {
            return Some(Severed::default());
        };
        let me = self.pid;
        Some(Severed {
            links: sets.links.into_iter().collect(),
            watchers: sets
                .watchers
                .into_iter()
                .filter(|(_, w)| *w != me)
                .collect(),
            monitoring: sets
                .monitoring
                .into_iter()
                .filter(|(_, t)| *t != me)
                .collect(),
            name: sets.name,
        })
    }

    /// The exit signal of linked process `from`, which ended with `reason`. Delivered
    /// only if the link still stands (it is removed now); an `EXIT` message is queued here
    /// if the outcome says so, a death is the caller's to carry out.
    pub fn on_linked_exit(&self, from: Pid, reason: &ExitReason) -> SignalOutcome {
        let mut inner = self.relations.lock();
        if inner.closed || !inner.sets.as_mut().is_some_and(|s| s.links.remove(&from)) {
            return SignalOutcome::Drop;
        }
        inner.settle(self.mailbox.budget());
        let outcome = on_exit_signal(
            Some(from),
            self.pid,
            Via::Link(reason.clone()),
            inner.trap_exit,
        );
        self.queue_exit_message(Some(from), &outcome);
        outcome
    }

    /// An exit signal sent with `exit(pid, reason)` (or the `noproc` of a link to a dead
    /// pid, as [`Via::Link`]). As [`on_linked_exit`](Self::on_linked_exit), without a link
    /// to check.
    pub fn on_exit_signal(&self, from: Option<Pid>, via: Via) -> SignalOutcome {
        let inner = self.relations.lock();
        if inner.closed {
            return SignalOutcome::Drop;
        }
        let outcome = on_exit_signal(from, self.pid, via, inner.trap_exit);
        self.queue_exit_message(from, &outcome);
        outcome
    }

    fn queue_exit_message(&self, from: Option<Pid>, outcome: &SignalOutcome) {
        if let SignalOutcome::Message(reason) = outcome {
            // A closed mailbox means the process is ending anyway.
            let _ = self
                .mailbox
                .push_system(Message::exit(from, reason.clone()));
        }
    }

    /// `DOWN(reference, from, reason)` for this process's monitor of `from`. Queued only
    /// if the monitor is still active (it is removed now). Whether it was queued.
    pub fn on_monitored_exit(&self, reference: Reference, from: Pid, reason: &ExitReason) -> bool {
        let mut inner = self.relations.lock();
        if inner.closed
            || inner
                .sets
                .as_mut()
                .and_then(|s| s.monitoring.remove(&reference))
                .is_none()
        {
            return false;
        }
        inner.settle(self.mailbox.budget());
        self.mailbox
            .push_system(Message::down(reference, from, reason.clone()))
            .is_ok()
    }
}

#[cfg(all(test, not(shoal_loom)))]
mod tests {
    use super::*;
    use crate::{MessageKind, References};
    use std::time::Instant;

    fn core(index: u32) -> ProcessCore {
        ProcessCore::new(Pid::new(index, 1), crate::Bound::NONE, 0, Instant::now())
    }

    fn budgeted(index: u32, budget: &Arc<crate::MemoryBudget>) -> ProcessCore {
        ProcessCore::with_budget(
            Pid::new(index, 1),
            crate::Bound::NONE,
            Some(Arc::clone(budget)),
            0,
            Instant::now(),
        )
    }

    #[test]
    fn monitors_past_the_free_allowance_charge_the_budget_in_chunks_until_it_refuses() {
        let budget = Arc::new(crate::MemoryBudget::new(RELATIONS_CHUNK));
        let (w, t) = (budgeted(1, &budget), budgeted(2, &budget));
        let refs = References::default();
        let free = RELATIONS_FREE_BYTES / MONITOR_BYTES;
        let one_chunk = (RELATIONS_FREE_BYTES + RELATIONS_CHUNK) / MONITOR_BYTES;
        for i in 0..one_chunk {
            let outcome = w.monitor(refs.next(), t.pid, Some(&t), Charge::Refuse);
            assert_eq!(outcome, MonitorOutcome::Monitoring, "monitor {i}");
            let expected = if i < free { 0 } else { RELATIONS_CHUNK };
            assert_eq!(budget.used(), expected, "after monitor {i}");
        }
        let refused = w.monitor(refs.next(), t.pid, Some(&t), Charge::Refuse);
        assert!(
            matches!(refused, MonitorOutcome::OverBudget(e) if e.wanted == RELATIONS_CHUNK),
            "{refused:?}"
        );
        // Refused means nothing kept: the watched process does not hear of it.
        assert_eq!(
            w.relations.lock().sets.as_ref().unwrap().monitoring.len(),
            one_chunk
        );
        assert_eq!(
            t.relations.lock().sets.as_ref().unwrap().watchers.len(),
            one_chunk
        );
        // The host's own monitors are counted past the budget, never refused.
        let forced = w.monitor(refs.next(), t.pid, Some(&t), Charge::Force);
        assert_eq!(forced, MonitorOutcome::Monitoring);
        assert_eq!(budget.used(), 2 * RELATIONS_CHUNK);
        let _ = w.close_relations();
        assert_eq!(budget.used(), 0, "closing gives back every chunk");
    }

    #[test]
    fn demonitors_give_chunks_back_but_churn_at_a_step_does_not() {
        let budget = Arc::new(crate::MemoryBudget::new(usize::MAX));
        let w = budgeted(1, &budget);
        let refs = References::default();
        let monitor = || {
            let r = refs.next();
            assert_eq!(
                w.monitor(r, w.pid, Some(&w), Charge::Refuse),
                MonitorOutcome::Monitoring
            );
            r
        };
        let free: Vec<_> = (0..RELATIONS_FREE_BYTES / MONITOR_BYTES)
            .map(|_| monitor())
            .collect();
        assert_eq!(budget.used(), 0);
        // One past the allowance and back, many times: one charge, kept.
        for _ in 0..100 {
            let r = monitor();
            assert_eq!(budget.used(), RELATIONS_CHUNK);
            assert_eq!(
                w.demonitor(r, false, |_| None::<Arc<ProcessCore>>),
                Demonitored::Process(w.pid)
            );
            assert_eq!(
                budget.used(),
                RELATIONS_CHUNK,
                "a step is kept against churn"
            );
        }
        let many: Vec<_> = (0..4 * RELATIONS_CHUNK / MONITOR_BYTES)
            .map(|_| monitor())
            .collect();
        assert!(budget.used() >= 4 * RELATIONS_CHUNK);
        for r in many.iter().chain(&free) {
            let _ = w.demonitor(*r, false, |_| None::<Arc<ProcessCore>>);
        }
        assert_eq!(budget.used(), 0, "nothing held, nothing charged");
        let _ = w.close_relations();
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_monitor_refused_on_a_remote_or_node_half_keeps_nothing() {
        let budget = Arc::new(crate::MemoryBudget::new(0));
        let w = budgeted(1, &budget);
        let refs = References::default();
        let far = Pid::on(NodeId::new(2).unwrap(), 1, 0);
        let node = NodeId::new(3).unwrap();
        for _ in 0..(RELATIONS_FREE_BYTES / MONITOR_BYTES) {
            assert_eq!(w.monitor_remote(refs.next(), far, Charge::Refuse), Ok(true));
        }
        assert!(w.monitor_remote(refs.next(), far, Charge::Refuse).is_err());
        assert!(w.monitor_node(refs.next(), node, Charge::Refuse).is_err());
        let held = w.relations_with(far.node());
        assert_eq!(held.monitoring.len(), RELATIONS_FREE_BYTES / MONITOR_BYTES);
        assert!(w.relations_with(node).node_monitors.is_empty());
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn links_are_charged_on_both_sides_and_never_refused() {
        let budget = Arc::new(crate::MemoryBudget::new(0));
        let hub = budgeted(1, &budget);
        let n = RELATIONS_FREE_BYTES / LINK_BYTES + 1;
        let spokes: Vec<_> = (2..2 + n as u32).map(|i| budgeted(i, &budget)).collect();
        for s in &spokes {
            assert_eq!(hub.link(s.pid, Some(s)), LinkOutcome::Linked);
            // Again: links are idempotent, and so is their charge.
            assert_eq!(hub.link(s.pid, Some(s)), LinkOutcome::Linked);
        }
        assert_eq!(
            budget.used(),
            RELATIONS_CHUNK,
            "the hub's side passed its allowance"
        );
        for s in &spokes {
            hub.unlink(s.pid, Some(s));
        }
        assert_eq!(budget.used(), RELATIONS_CHUNK, "kept against churn");
        let _ = hub.close_relations();
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_link_is_kept_on_both_sides_and_at_most_once() {
        let (a, b) = (core(1), core(2));
        assert_eq!(a.link(b.pid, Some(&b)), LinkOutcome::Linked);
        assert_eq!(b.link(a.pid, Some(&a)), LinkOutcome::Linked);
        assert!(a.is_linked(b.pid) && b.is_linked(a.pid));
        let severed = a.close_relations().unwrap();
        assert_eq!(severed.links, vec![b.pid], "one link, however often made");
    }

    #[test]
    fn a_link_to_an_ended_process_is_noproc() {
        let (a, b) = (core(1), core(2));
        let _ = b.close_relations();
        assert_eq!(a.link(b.pid, Some(&b)), LinkOutcome::NoProc);
        assert_eq!(a.link(Pid::new(9, 9), None), LinkOutcome::NoProc);
        assert!(!a.is_linked(b.pid));
    }

    #[test]
    fn remote_halves_are_kept_and_listed_by_node_until_the_process_ends() {
        let a = core(1);
        let (n1, n2) = (NodeId::new(1).unwrap(), NodeId::new(2).unwrap());
        let (far, farther) = (Pid::on(n1, 4, 0), Pid::on(n2, 4, 0));
        let refs = References::default();
        let (m, w, other) = (refs.next(), refs.next(), refs.next());
        assert!(a.link_remote(far) && a.link_remote(farther));
        assert_eq!(a.monitor_remote(m, far, Charge::Refuse), Ok(true));
        assert!(a.add_remote_watcher(w, far));
        assert!(a.add_remote_watcher(other, farther));
        assert_eq!(
            a.relations_with(n1),
            NodeRelations {
                links: vec![far],
                monitoring: vec![(m, far)],
                watchers: vec![w],
                node_monitors: vec![],
            }
        );
        let severed = a.close_relations().unwrap();
        assert_eq!(severed.links.len(), 2);
        assert!(!a.link_remote(far));
        assert_eq!(a.monitor_remote(m, far, Charge::Refuse), Ok(false));
        assert!(
            !a.add_remote_watcher(w, far),
            "an ended process owes a DOWN(noproc)"
        );
        assert_eq!(a.relations_with(n1), NodeRelations::default());
    }

    #[test]
    fn a_node_monitor_fires_one_sender_less_down_noconnection_unless_demonitored() {
        let a = core(1);
        let node = NodeId::new(5).unwrap();
        let refs = References::default();
        let (fires, removed) = (refs.next(), refs.next());
        assert_eq!(a.monitor_node(fires, node, Charge::Refuse), Ok(true));
        assert_eq!(a.monitor_node(removed, node, Charge::Refuse), Ok(true));
        assert_eq!(a.relations_with(node).node_monitors.len(), 2);
        assert_eq!(
            a.demonitor(removed, false, |_| None::<Arc<ProcessCore>>),
            Demonitored::Node
        );
        assert!(!a.on_node_down(removed), "demonitored");
        assert!(a.on_node_down(fires));
        assert!(!a.on_node_down(fires), "once");
        let down = a.mailbox.try_receive(None).unwrap();
        assert_eq!(down.from, None);
        assert_eq!(
            down.kind,
            MessageKind::Down {
                reference: fires,
                reason: ExitReason::NoConnection
            }
        );
        assert!(a.mailbox.try_receive(None).is_none());
    }

    #[test]
    fn an_unlinked_process_gets_no_signal_from_the_link() {
        let (a, b) = (core(1), core(2));
        let _ = a.link(b.pid, Some(&b));
        a.unlink(b.pid, Some(&b));
        let severed = b.close_relations().unwrap();
        assert!(severed.links.is_empty());
        assert_eq!(
            a.on_linked_exit(b.pid, &ExitReason::Shutdown),
            SignalOutcome::Drop
        );
    }

    #[test]
    fn a_linked_exit_is_delivered_once_and_as_a_message_when_trapping() {
        let (a, b) = (core(1), core(2));
        let _ = a.link(b.pid, Some(&b));
        assert!(!a.set_trap_exit(true));
        let reason = ExitReason::Shutdown;
        assert_eq!(
            a.on_linked_exit(b.pid, &reason),
            SignalOutcome::Message(reason.clone())
        );
        let msg = a.mailbox.try_receive(None).unwrap();
        assert_eq!(msg.kind, MessageKind::Exit { reason });
        assert_eq!(msg.from, Some(b.pid));
        assert_eq!(
            a.on_linked_exit(b.pid, &ExitReason::Killed),
            SignalOutcome::Drop,
            "the link is gone with the first signal"
        );
    }

    #[test]
    fn monitors_stack_and_each_fires_once() {
        let refs = References::default();
        let (w, t) = (core(1), core(2));
        let (r1, r2) = (refs.next(), refs.next());
        assert_eq!(
            w.monitor(r1, t.pid, Some(&t), Charge::Refuse),
            MonitorOutcome::Monitoring
        );
        assert_eq!(
            w.monitor(r2, t.pid, Some(&t), Charge::Refuse),
            MonitorOutcome::Monitoring
        );
        let severed = t.close_relations().unwrap();
        assert_eq!(severed.watchers.len(), 2);
        for (r, watcher) in severed.watchers {
            assert_eq!(watcher, w.pid);
            assert!(w.on_monitored_exit(r, t.pid, &ExitReason::Killed));
            assert!(!w.on_monitored_exit(r, t.pid, &ExitReason::Killed));
        }
        assert_eq!(w.mailbox.len(), 2);
    }

    #[test]
    fn a_monitor_of_an_ended_process_is_down_noproc_at_once() {
        let refs = References::default();
        let (w, t) = (core(1), core(2));
        let _ = t.close_relations();
        let r = refs.next();
        assert_eq!(
            w.monitor(r, t.pid, Some(&t), Charge::Refuse),
            MonitorOutcome::NoProc
        );
        let msg = w.mailbox.try_receive(Some(r.to_bits())).unwrap();
        assert_eq!(
            msg.kind,
            MessageKind::Down {
                reference: r,
                reason: ExitReason::NoProc
            }
        );
    }

    #[test]
    fn demonitor_with_flush_removes_a_queued_down() {
        let refs = References::default();
        let (w, t) = (core(1), core(2));
        let r = refs.next();
        let _ = w.monitor(r, t.pid, Some(&t), Charge::Refuse);
        let severed = t.close_relations().unwrap();
        assert!(w.on_monitored_exit(severed.watchers[0].0, t.pid, &ExitReason::Shutdown));
        assert!(
            !w.demonitor(r, true, |_| None::<Arc<ProcessCore>>)
                .was_active(),
            "it had fired"
        );
        assert!(w.mailbox.is_empty(), "flushed");
    }

    #[test]
    fn demonitor_with_flush_removes_the_down_of_a_monitor_of_a_dead_pid() {
        let w = core(1);
        let r = References::default().next();
        // Nothing is kept for a monitor of a dead pid: only its DOWN(noproc) is queued.
        assert_eq!(
            w.monitor(r, Pid::new(9, 9), None, Charge::Refuse),
            MonitorOutcome::NoProc
        );
        assert!(
            !w.demonitor(r, true, |_| None::<Arc<ProcessCore>>)
                .was_active()
        );
        assert!(w.mailbox.is_empty(), "flushed");
    }

    #[test]
    fn demonitor_before_the_exit_prevents_the_down() {
        let refs = References::default();
        let (w, t) = (Arc::new(core(1)), Arc::new(core(2)));
        let r = refs.next();
        let _ = w.monitor(r, t.pid, Some(&t), Charge::Refuse);
        assert_eq!(
            w.demonitor(r, false, |_| Some(t.clone())),
            Demonitored::Process(t.pid)
        );
        let severed = t.close_relations().unwrap();
        assert!(severed.watchers.is_empty(), "removed from the watched side");
        assert!(!w.on_monitored_exit(r, t.pid, &ExitReason::Shutdown));
        assert!(w.mailbox.is_empty());
    }
}
