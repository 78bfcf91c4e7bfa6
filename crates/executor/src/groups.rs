//! The run class, shared among groups: a FIFO per group, and stride scheduling between
//! the groups.
//!
//! # Why
//! Round-robin over processes gives each process an equal share, so a tenant that
//! spawns 10,000 CPU-bound processes next to one that spawns 10 takes 99.9% of the CPU.
//! A group (a tenant, an application, a supervision tree) is a unit of fairness above
//! the process: CPU is shared between groups first, in proportion to their weights, then
//! among each group's processes as before (round-robin, weights, the wake class).
//!
//! # How
//! Every group has its own run FIFO and a *pass*: the CPU it has had, divided by its
//! weight (stride scheduling, Waldspurger 1995, as in Linux's group scheduling one level
//! up). A worker that takes from the run class takes from the group with the smallest
//! pass among those with a process queued, and the quantum's cost is added to that
//! group's pass when it ends. A group that had nothing queued starts again at the pass
//! of the group last chosen, so an idle group does not bank CPU while it sleeps.
//!
//! Group 0, the default, exists from the start; until another group is made, the run
//! class is group 0's FIFO alone and costs what one FIFO costs: no scan, no charge.
//!
//! # Invariants
//! - Groups are only ever added, up to [`MAX_GROUPS`]; a group's index never changes.
//! - `queued` counts the tasks in its FIFO (incremented before the push, decremented after
//!   a successful steal), so a scan that sees 0 may miss a task being pushed; the caller
//!   (`Queues`) counts the run class as a whole and retries.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crossbeam_deque::{Injector, Steal};

/// Groups a runtime may have, the default one included: 1,024. The run class scans the
/// groups with queued processes at each pop, so their number bounds that cost; a
/// thousand tenants per runtime is more than the sharing a host needs.
pub const MAX_GROUPS: usize = 1_024;

/// A group of processes that shares CPU with other groups by weight (module docs).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GroupId(u16);

impl GroupId {
    /// The group every process belongs to unless its spawn names another.
    pub const DEFAULT: GroupId = GroupId(0);

    /// Its index, 0 for the default group.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Pass units per unit of cost at weight 1: the pass grows by `cost * PASS_SCALE /
/// weight`, exactly for every weight up to [`MAX_WEIGHT`](crate::MAX_WEIGHT) (their
/// least common multiple would be huge; a scale of the largest weight keeps the rounding
/// below 1% for any cost above 100 units).
const PASS_SCALE: u64 = crate::config::MAX_WEIGHT as u64;

/// One group's FIFO and its accounts.
struct Group<T> {
    fifo: Injector<T>,
    queued: AtomicUsize,
    pass: AtomicU64,
    weight: AtomicU32,
}

/// The run class's groups (module docs).
pub(crate) struct Groups<T> {
    /// Boxed, so that the slots of groups never made cost a pointer each (a group's
    /// FIFO is a few hundred bytes of cache-padded heads).
    groups: Box<[OnceLock<Box<Group<T>>>]>,
    /// Groups made so far, the default one included.
    count: AtomicUsize,
    /// The pass of the group last chosen: where a group that was idle starts again.
    floor: AtomicU64,
}

impl<T> Groups<T> {
    pub(crate) fn new() -> Self {
        let groups: Box<[OnceLock<Box<Group<T>>>]> =
            (0..MAX_GROUPS).map(|_| OnceLock::new()).collect();
        let _ = groups[0].set(Box::new(Group::new(1)));
        Groups {
            groups,
            count: AtomicUsize::new(1),
            floor: AtomicU64::new(0),
        }
    }

    /// Makes a group of `weight`; `None` when there are [`MAX_GROUPS`] already.
    pub(crate) fn add(&self, weight: u32) -> Option<GroupId> {
        let index = self
            .count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_GROUPS).then_some(n + 1)
            })
            .ok()?;
        let _ = self.groups[index].set(Box::new(Group::new(weight)));
        Some(GroupId(index as u16))
    }

    /// Whether `group` was made by [`add`](Self::add) (or is the default).
    pub(crate) fn exists(&self, group: GroupId) -> bool {
        self.group(group).is_some()
    }

    /// Changes a group's weight; false if it does not exist.
    pub(crate) fn set_weight(&self, group: GroupId, weight: u32) -> bool {
        self.group(group)
            .map(|g| g.weight.store(weight.max(1), Ordering::Relaxed))
            .is_some()
    }

    fn group(&self, group: GroupId) -> Option<&Group<T>> {
        self.groups
            .get(group.index())
            .and_then(OnceLock::get)
            .map(|g| &**g)
    }

    /// More than the default group exists: pops scan and quanta are charged.
    #[inline]
    pub(crate) fn several(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 1
    }

    /// Queues `task` at the back of `group`'s FIFO (the default group's if it does not
    /// exist).
    pub(crate) fn push(&self, task: T, group: GroupId) {
        let g = self.group(group).unwrap_or_else(|| self.default_group());
        if g.queued.fetch_add(1, Ordering::SeqCst) == 0 && self.several() {
            // Back from idle: no CPU banked while it had nothing to run.
            g.pass
                .fetch_max(self.floor.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        g.fifo.push(task);
    }

    fn default_group(&self) -> &Group<T> {
        self.groups[0].get().expect("made in new")
    }

    /// The front of the FIFO of the group with the smallest pass among those with a
    /// process queued (module docs).
    pub(crate) fn pop(&self) -> Option<T> {
        if !self.several() {
            return self.default_group().take();
        }
        // A few rounds: a group found non-empty may be emptied by another worker first.
        for _ in 0..4 {
            let count = self.count.load(Ordering::Acquire);
            let best = self.groups[..count]
                .iter()
                .filter_map(|g| g.get().map(|g| &**g))
                .filter(|g| g.queued.load(Ordering::Relaxed) > 0)
                .min_by_key(|g| g.pass.load(Ordering::Relaxed))?;
            if let Some(task) = best.take() {
                self.floor
                    .fetch_max(best.pass.load(Ordering::Relaxed), Ordering::Relaxed);
                return Some(task);
            }
        }
        None
    }

    /// Charges a quantum of `cost` units to `group` (only while there are several).
    #[inline]
    pub(crate) fn charge(&self, group: GroupId, cost: u64) {
        if self.several()
            && let Some(g) = self.group(group)
        {
            let weight = u64::from(g.weight.load(Ordering::Relaxed).max(1));
            g.pass
                .fetch_add(cost.saturating_mul(PASS_SCALE) / weight, Ordering::Relaxed);
        }
    }

    /// Everything queued, in every group (at shutdown).
    pub(crate) fn drain(&self, into: &mut Vec<T>) {
        for g in self.groups.iter().filter_map(|g| g.get()) {
            while let Some(task) = g.take() {
                into.push(task);
            }
        }
    }
}

impl<T> Group<T> {
    fn new(weight: u32) -> Self {
        Group {
            fifo: Injector::new(),
            queued: AtomicUsize::new(0),
            pass: AtomicU64::new(0),
            weight: AtomicU32::new(weight.max(1)),
        }
    }

    fn take(&self) -> Option<T> {
        loop {
            match self.fifo.steal() {
                Steal::Success(task) => {
                    self.queued.fetch_sub(1, Ordering::SeqCst);
                    return Some(task);
                }
                Steal::Empty => return None,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_one_group_the_run_class_is_one_fifo() {
        let groups: Groups<u32> = Groups::new();
        for t in 0..3 {
            groups.push(t, GroupId::DEFAULT);
        }
        let order: Vec<u32> = std::iter::from_fn(|| groups.pop()).collect();
        assert_eq!(order, [0, 1, 2]);
    }

    #[test]
    fn the_group_with_the_least_pass_goes_first_and_pays_for_its_quantum() {
        let groups: Groups<&str> = Groups::new();
        let big = groups.add(1).unwrap();
        let small = groups.add(1).unwrap();
        for _ in 0..3 {
            groups.push("big", big);
        }
        groups.push("small", small);
        // Equal passes: the lower index wins the tie.
        assert_eq!(groups.pop(), Some("big"));
        groups.charge(big, 10);
        assert_eq!(groups.pop(), Some("small"), "big has paid 10");
        groups.charge(small, 10);
        assert_eq!(groups.pop(), Some("big"));
    }

    #[test]
    fn a_heavier_group_pays_less_for_the_same_quantum() {
        let groups: Groups<usize> = Groups::new();
        let ids = [groups.add(1).unwrap(), groups.add(3).unwrap()];
        groups.push(0, ids[0]);
        groups.push(1, ids[1]);
        let mut taken = [0u32; 2];
        for _ in 0..400 {
            // A worker takes one, runs it for a quantum, and queues it again.
            let t = groups.pop().unwrap();
            taken[t] += 1;
            groups.charge(ids[t], 1_000);
            groups.push(t, ids[t]);
        }
        assert_eq!(taken, [100, 300]);
    }

    #[test]
    fn an_idle_group_does_not_bank_cpu() {
        let groups: Groups<&str> = Groups::new();
        let busy = groups.add(1).unwrap();
        let idle = groups.add(1).unwrap();
        for _ in 0..10 {
            groups.push("busy", busy);
            assert_eq!(groups.pop(), Some("busy"));
            groups.charge(busy, 1_000);
        }
        groups.push("busy", busy);
        groups.push("idle", idle);
        // The idle one starts at the last pass chosen, not at 0: it goes first once,
        // then they alternate, rather than it taking ten quanta in a row.
        assert_eq!(groups.pop(), Some("idle"));
        groups.charge(idle, 1_000);
        assert_eq!(groups.pop(), Some("busy"));
    }

    #[test]
    fn groups_stop_at_the_maximum() {
        let groups: Groups<u32> = Groups::new();
        for _ in 1..MAX_GROUPS {
            assert!(groups.add(1).is_some());
        }
        assert_eq!(groups.add(1), None);
    }
}
