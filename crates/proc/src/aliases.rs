//! A mailbox's open aliases: the reference tags its data messages may carry.
//!
//! A request holds one alias for as long as it waits, so a process nearly always has
//! none or a few, and a short vector searched from the end is the fastest set for them.
//! A process may open many (a server with requests of its own in flight, or a guest
//! that opens aliases in a loop), and every data message with a reference tag asks
//! whether its tag is open, under the mailbox's lock: past [`FEW`] the set moves to a
//! hash set, so neither the opener nor its senders pay a scan per alias. It never moves
//! back while the mailbox lives.

use std::collections::HashSet;

/// Open aliases kept in a vector before the set moves to a hash set: a scan of 32 words
/// costs about as much as hashing one.
const FEW: usize = 32;

/// A set of open alias tags (module docs).
#[derive(Debug)]
pub(crate) enum Aliases {
    /// At most [`FEW`], most recent last.
    Few(Vec<u64>),
    /// More than [`FEW`] were open at once.
    Many(HashSet<u64>),
}

impl Default for Aliases {
    fn default() -> Self {
        Aliases::Few(Vec::new())
    }
}

impl Aliases {
    /// How many are open.
    pub(crate) fn len(&self) -> usize {
        match self {
            Aliases::Few(v) => v.len(),
            Aliases::Many(s) => s.len(),
        }
    }

    /// Whether `tag` is open.
    pub(crate) fn contains(&self, tag: u64) -> bool {
        match self {
            Aliases::Few(v) => v.iter().rev().any(|a| *a == tag),
            Aliases::Many(s) => s.contains(&tag),
        }
    }

    /// Opens `tag`, which is not open.
    pub(crate) fn insert(&mut self, tag: u64) {
        match self {
            Aliases::Few(v) if v.len() < FEW => v.push(tag),
            Aliases::Few(v) => {
                let mut set: HashSet<u64> = v.drain(..).collect();
                set.insert(tag);
                *self = Aliases::Many(set);
            }
            Aliases::Many(s) => {
                s.insert(tag);
            }
        }
    }

    /// Closes `tag`. Whether it was open.
    pub(crate) fn remove(&mut self, tag: u64) -> bool {
        match self {
            Aliases::Few(v) => match v.iter().rposition(|a| *a == tag) {
                Some(i) => {
                    v.swap_remove(i);
                    true
                }
                None => false,
            },
            Aliases::Many(s) => s.remove(&tag),
        }
    }
}

#[cfg(all(test, not(shoal_loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_set_answers_alike_before_and_after_it_moves_to_a_hash_set() {
        let mut aliases = Aliases::default();
        for tag in 0..FEW as u64 {
            aliases.insert(tag);
        }
        assert!(matches!(aliases, Aliases::Few(_)));
        assert!(aliases.remove(3) && !aliases.remove(3));
        aliases.insert(3);
        aliases.insert(1_000);
        assert!(matches!(aliases, Aliases::Many(_)));
        assert_eq!(aliases.len(), FEW + 1);
        assert!(aliases.contains(0) && aliases.contains(3) && aliases.contains(1_000));
        assert!(!aliases.contains(999));
        assert!(aliases.remove(1_000) && !aliases.contains(1_000));
        assert_eq!(aliases.len(), FEW);
    }
}
