//! Process identifiers.
//!
//! A [`Pid`] names a node, a slot of that node's process table and the generation of
//! that slot. Every time a slot is reused its generation goes up, so a pid is never
//! aliased by a later process: a message to a dead pid is detected (the generations
//! differ) and never delivered to the slot's next occupant.
//!
//! # The node
//! A runtime outside any cluster is node 0, and all its pids have node 0. A runtime
//! that is a node of a cluster has a [`NodeId`] drawn at random for each start (its
//! incarnation, Erlang's "creation"), and every pid it makes carries it. A pid therefore
//! means the same process on every node, inside a message's bytes as much as in an
//! argument, and a pid of a node that has since restarted never reaches the new
//! incarnation: the restarted node drew another id.
//!
//! # Bits (docs/ABI.md, "Pids")
//! `node << 48 | generation << 22 | index`, so a pid is below 2^62: never negative, and
//! never in the range of references (`[2^62, 2^63)`).

use std::fmt;

/// Bits of a pid's slot index: 2^22 slots, the most a table may hold
/// (`shoal_executor::MAX_CAPACITY` is 4,000,000, below 4,194,304).
pub const INDEX_BITS: u32 = 22;
/// Bits of a pid's generation: a slot is reused 2^26 - 1 times before it is retired.
pub const GENERATION_BITS: u32 = 26;
/// Bits of a pid's node: 16,383 node ids besides 0, drawn at random per start.
pub const NODE_BITS: u32 = 14;
const _: () = assert!(INDEX_BITS + GENERATION_BITS + NODE_BITS == 62);

/// The most slots a process table may have.
pub const MAX_INDEX: u32 = (1 << INDEX_BITS) - 1;
/// The highest generation a pid can carry.
pub const MAX_PID_GENERATION: u32 = (1 << GENERATION_BITS) - 1;

/// A node's identity within a cluster and for one start of it (module docs). 0 is the
/// node of a runtime outside any cluster.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct NodeId(u16);

impl NodeId {
    /// The node of a runtime outside any cluster.
    pub const LOCAL: NodeId = NodeId(0);
    /// The highest node id.
    pub const MAX: u16 = (1 << NODE_BITS) - 1;

    /// The node with id `id`, or `None` above [`NodeId::MAX`].
    pub const fn new(id: u16) -> Option<NodeId> {
        if id <= Self::MAX {
            Some(NodeId(id))
        } else {
            None
        }
    }

    /// The id.
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A generational process identifier: node, slot index and slot generation, kept as the
/// guest ABI's 62-bit value itself, so a pid is one word wherever it is stored (messages,
/// links, monitors). Pids order by that value: node, then generation, then index.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid {
    /// `node << 48 | generation << 22 | index`.
    bits: u64,
}

impl Pid {
    /// A pid of node 0 for slot `index` at `generation`. Both must fit their bits
    /// ([`MAX_INDEX`], [`MAX_PID_GENERATION`]); the table never makes others.
    pub const fn new(index: u32, generation: u32) -> Pid {
        Pid::on(NodeId::LOCAL, index, generation)
    }

    /// A pid of `node` for slot `index` at `generation`.
    pub const fn on(node: NodeId, index: u32, generation: u32) -> Pid {
        debug_assert!(index <= MAX_INDEX && generation <= MAX_PID_GENERATION);
        Pid {
            bits: ((node.0 as u64) << (INDEX_BITS + GENERATION_BITS))
                | (((generation & MAX_PID_GENERATION) as u64) << INDEX_BITS)
                | (index & MAX_INDEX) as u64,
        }
    }

    /// The node whose table holds it.
    pub const fn node(self) -> NodeId {
        NodeId((self.bits >> (INDEX_BITS + GENERATION_BITS)) as u16)
    }

    /// The same slot and generation on `node`.
    pub const fn with_node(self, node: NodeId) -> Pid {
        Pid::on(node, self.index(), self.generation())
    }

    /// The table slot.
    pub const fn index(self) -> u32 {
        (self.bits & MAX_INDEX as u64) as u32
    }

    /// The slot's generation.
    pub const fn generation(self) -> u32 {
        ((self.bits >> INDEX_BITS) & MAX_PID_GENERATION as u64) as u32
    }

    /// `node << 48 | generation << 22 | index`: what guests see, as an `i64`.
    pub const fn to_bits(self) -> u64 {
        self.bits
    }

    /// The inverse of [`to_bits`](Self::to_bits), or `None` for a value that is no pid's
    /// (2^62 or more: a reference, or negative as an `i64`).
    pub const fn from_bits(bits: u64) -> Option<Pid> {
        if bits >> (INDEX_BITS + GENERATION_BITS + NODE_BITS) != 0 {
            return None;
        }
        Some(Pid { bits })
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Pid {
    /// Erlang's spelling: `<node.index.generation>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<{}.{}.{}>",
            self.node(),
            self.index(),
            self.generation()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_and_display_is_erlang_style() {
        let p = Pid::new(7, 3);
        assert_eq!(Pid::from_bits(p.to_bits()), Some(p));
        assert_eq!(p.to_bits(), (3 << 22) | 7);
        assert_eq!(p.to_string(), "<0.7.3>");
        let remote = Pid::on(NodeId::new(513).unwrap(), MAX_INDEX, MAX_PID_GENERATION);
        assert_eq!(Pid::from_bits(remote.to_bits()), Some(remote));
        assert_eq!(
            remote.to_string(),
            format!("<513.{MAX_INDEX}.{MAX_PID_GENERATION}>")
        );
    }

    #[test]
    fn every_pid_is_below_two_to_the_62_and_larger_values_are_not_pids() {
        let top = Pid::on(
            NodeId::new(NodeId::MAX).unwrap(),
            MAX_INDEX,
            MAX_PID_GENERATION,
        );
        assert_eq!(top.to_bits(), (1 << 62) - 1);
        assert_eq!(Pid::from_bits(1 << 62), None);
        assert_eq!(Pid::from_bits(u64::MAX), None);
        assert_eq!(NodeId::new(NodeId::MAX + 1), None);
    }

    #[test]
    fn a_pid_is_one_word() {
        assert_eq!(std::mem::size_of::<Pid>(), 8);
    }

    #[test]
    fn pids_of_one_slot_differ_by_generation_and_by_node() {
        assert_ne!(Pid::new(1, 0), Pid::new(1, 1));
        assert_ne!(
            Pid::new(1, 0),
            Pid::new(1, 0).with_node(NodeId::new(1).unwrap())
        );
    }
}
