//! Membership: which nodes are up, what was last heard of each, and the order of the
//! frames between this node and each of them.
//!
//! # What it owns
//! [`Peers`], a plain state machine with no I/O and no clock of its own (every method
//! takes `now`), so that its rules are tested exactly. The node's tasks hold it behind
//! one lock, never across an await.
//!
//! # Invariants
//! - A node is up, down, or unknown. Down is final for this node's life: an id declared
//!   down is never accepted again (its pids could otherwise reach a later incarnation
//!   that drew the same id), so a false alarm does not resurrect; the other side is told
//!   with a `Cut` and treats this node as down in turn.
//! - Frames from a peer are accepted only in sequence (1, 2, …). A gap is a lost frame:
//!   the peer is declared down, never skipped over.
//! - Every outcome that asks the caller to act is `#[must_use]`.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use shoal_scheduler::NodeId;

/// What is known of one node that is up.
#[derive(Clone, Debug)]
pub struct Peer {
    /// Its name ("?" until its hello arrives).
    pub name: String,
    /// Its creation.
    pub creation: u64,
    /// When anything was last heard from it.
    pub last_heard: Instant,
    /// The sequence number of the last frame accepted from it.
    pub seq_in: u64,
    /// The sequence number of the last frame sent to it.
    pub seq_out: u64,
    /// Whether it accepts remote spawns.
    pub accepts_spawn: bool,
    /// The last round trip of a ping to it, once one came back.
    pub round_trip: Option<std::time::Duration>,
}

/// What a hello or heartbeat did.
#[must_use]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    /// A node not known before: it is up now (answer its hello).
    Joined,
    /// A node already up.
    Known,
    /// An id declared down, or one up under another creation: answer with a `Cut`.
    Refused,
    /// This node's own id, from another creation: two nodes drew one id.
    Conflict,
}

/// What a frame's sequence number says.
#[must_use]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// The next frame of the pair: carry it out.
    InOrder,
    /// A frame was lost before it: declare the peer down.
    Gap {
        /// The number expected.
        expected: u64,
        /// The number that came.
        got: u64,
    },
    /// From a node declared down, or from another creation of one up: answer `Cut`.
    Refused,
}

/// The membership state of one node (module docs).
#[derive(Debug)]
pub struct Peers {
    /// This node.
    me: NodeId,
    /// This node's creation.
    creation: u64,
    /// Nodes that are up.
    up: HashMap<NodeId, Peer>,
    /// Ids declared down.
    down: HashSet<NodeId>,
    /// When each refused node was last told it is cut off.
    cuts: HashMap<NodeId, Instant>,
}

/// How often a refused node is told it is cut off, at most: often enough to reach one
/// that reconnects, rarely enough that a flood of its frames in flight is not answered
/// frame by frame.
pub const CUT_EVERY: Duration = Duration::from_millis(100);

impl Peers {
    /// The state of node `me`, of `creation`, that knows no other node yet.
    pub fn new(me: NodeId, creation: u64) -> Peers {
        Peers {
            me,
            creation,
            up: HashMap::new(),
            down: HashSet::new(),
            cuts: HashMap::new(),
        }
    }

    /// Whether `node` is up.
    pub fn is_up(&self, node: NodeId) -> bool {
        self.up.contains_key(&node)
    }

    /// The nodes that are up.
    pub fn up(&self) -> impl Iterator<Item = (NodeId, &Peer)> {
        self.up.iter().map(|(n, p)| (*n, p))
    }

    /// The ids declared down.
    pub fn down(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.down.iter().copied()
    }

    /// A hello or heartbeat from `node` of `creation`.
    pub fn heard(&mut self, node: NodeId, creation: u64, now: Instant) -> Heard {
        if node == self.me {
            return if creation == self.creation {
                Heard::Known
            } else {
                Heard::Conflict
            };
        }
        if self.down.contains(&node) {
            return Heard::Refused;
        }
        match self.up.get_mut(&node) {
            Some(peer) if peer.creation == creation => {
                peer.last_heard = now;
                Heard::Known
            }
            Some(_) => Heard::Refused,
            None => {
                self.up.insert(
                    node,
                    Peer {
                        name: "?".into(),
                        creation,
                        last_heard: now,
                        seq_in: 0,
                        seq_out: 0,
                        accepts_spawn: false,
                        round_trip: None,
                    },
                );
                Heard::Joined
            }
        }
    }

    /// The up node of creation `creation`.
    pub fn with_creation(&self, creation: u64) -> Option<NodeId> {
        self.up
            .iter()
            .find(|(_, p)| p.creation == creation)
            .map(|(n, _)| *n)
    }

    /// Records a round trip to an up node.
    pub fn round_trip(&mut self, node: NodeId, took: std::time::Duration) {
        if let Some(peer) = self.up.get_mut(&node) {
            peer.round_trip = Some(took);
        }
    }

    /// Records what a hello says of an up node.
    pub fn describe(&mut self, node: NodeId, name: &str, accepts_spawn: bool) {
        if let Some(peer) = self.up.get_mut(&node) {
            name.clone_into(&mut peer.name);
            peer.accepts_spawn = accepts_spawn;
        }
    }

    /// A frame from `node` of `creation` numbered `seq`. A frame from a node not heard
    /// of yet makes it known (its hello may come later on another subject).
    pub fn accept(&mut self, node: NodeId, creation: u64, seq: u64, now: Instant) -> Accepted {
        match self.heard(node, creation, now) {
            Heard::Refused | Heard::Conflict => return Accepted::Refused,
            Heard::Joined | Heard::Known => {}
        }
        let peer = self.up.get_mut(&node).expect("heard above");
        let expected = peer.seq_in + 1;
        if seq != expected {
            return Accepted::Gap { expected, got: seq };
        }
        peer.seq_in = seq;
        Accepted::InOrder
    }

    /// The sequence number of the next frame to `node`, or `None` if it is not up.
    pub fn next_seq(&mut self, node: NodeId) -> Option<u64> {
        let peer = self.up.get_mut(&node)?;
        peer.seq_out += 1;
        Some(peer.seq_out)
    }

    /// Declares `node` down. Whether it was up (the caller fires its links then).
    #[must_use]
    pub fn declare_down(&mut self, node: NodeId) -> Option<Peer> {
        if node == self.me {
            return None;
        }
        self.down.insert(node);
        self.up.remove(&node)
    }

    /// Whether a `Cut` to the refused node `node` is due now ([`CUT_EVERY`]); if so, it
    /// counts as sent.
    pub fn cut_due(&mut self, node: NodeId, now: Instant) -> bool {
        match self.cuts.get(&node) {
            Some(last) if now.saturating_duration_since(*last) < CUT_EVERY => false,
            _ => {
                self.cuts.insert(node, now);
                true
            }
        }
    }

    /// The up nodes not heard from for `silence` or longer.
    pub fn silent(&self, now: Instant, silence: Duration) -> Vec<NodeId> {
        self.up
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.last_heard) >= silence)
            .map(|(n, _)| *n)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(id: u16) -> NodeId {
        NodeId::new(id).unwrap()
    }

    #[test]
    fn a_node_is_up_once_heard_and_its_frames_are_taken_in_sequence_only() {
        let now = Instant::now();
        let mut p = Peers::new(n(1), 10);
        assert_eq!(p.heard(n(2), 20, now), Heard::Joined);
        assert_eq!(p.heard(n(2), 20, now), Heard::Known);
        assert_eq!(p.accept(n(2), 20, 1, now), Accepted::InOrder);
        assert_eq!(p.accept(n(2), 20, 2, now), Accepted::InOrder);
        assert_eq!(
            p.accept(n(2), 20, 4, now),
            Accepted::Gap {
                expected: 3,
                got: 4
            }
        );
        assert_eq!(p.next_seq(n(2)), Some(1));
        assert_eq!(p.next_seq(n(2)), Some(2));
        assert_eq!(p.next_seq(n(3)), None, "no frames to a node not up");
    }

    #[test]
    fn a_node_declared_down_stays_down_under_any_creation() {
        let now = Instant::now();
        let mut p = Peers::new(n(1), 10);
        let _ = p.heard(n(2), 20, now);
        assert!(p.declare_down(n(2)).is_some());
        assert!(p.declare_down(n(2)).is_none(), "once");
        assert_eq!(p.heard(n(2), 20, now), Heard::Refused);
        assert_eq!(p.heard(n(2), 21, now), Heard::Refused);
        assert_eq!(p.accept(n(2), 20, 1, now), Accepted::Refused);
        assert!(!p.is_up(n(2)));
        assert_eq!(p.down().collect::<Vec<_>>(), [n(2)]);
    }

    #[test]
    fn a_refused_node_is_told_once_per_interval_not_once_per_frame() {
        let t0 = Instant::now();
        let mut p = Peers::new(n(1), 10);
        assert!(p.cut_due(n(2), t0));
        assert!(!p.cut_due(n(2), t0 + CUT_EVERY / 2));
        assert!(p.cut_due(n(3), t0), "per node");
        assert!(p.cut_due(n(2), t0 + CUT_EVERY));
    }

    #[test]
    fn another_creation_of_an_up_id_is_refused_and_of_my_own_id_is_a_conflict() {
        let now = Instant::now();
        let mut p = Peers::new(n(1), 10);
        let _ = p.heard(n(2), 20, now);
        assert_eq!(p.heard(n(2), 99, now), Heard::Refused);
        assert_eq!(p.heard(n(1), 10, now), Heard::Known);
        assert_eq!(p.heard(n(1), 11, now), Heard::Conflict);
    }

    #[test]
    fn silence_longer_than_the_window_is_reported_per_node() {
        let t0 = Instant::now();
        let mut p = Peers::new(n(1), 10);
        let _ = p.heard(n(2), 20, t0);
        let _ = p.heard(n(3), 30, t0 + Duration::from_millis(500));
        let later = t0 + Duration::from_millis(1000);
        assert_eq!(p.silent(later, Duration::from_millis(1000)), [n(2)]);
        assert!(p.silent(later, Duration::from_millis(1001)).is_empty());
    }
}
