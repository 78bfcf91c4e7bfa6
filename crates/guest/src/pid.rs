//! Pids and references: the two kinds of identity a guest handles.
//!
//! A [`Pid`] names a process: `node << 48 | generation << 22 | index` on the wire, below
//! 2^62, never reused (docs/ABI.md, "Pids"). Guests treat it as opaque; `Debug` and
//! `Display` use the host's spelling, Erlang's `<node.index.generation>`, so that what a
//! guest and the host say about one process reads the same. A pid of another node of a
//! cluster works as a local one does, inside a message's bytes too.
//!
//! A [`Reference`] is a value unique for the runtime's life in `[2^62, 2^63)`: a
//! monitor's reference (the tag of its `DOWN`) or an alias (the tag a reply is sent
//! with). Both serialize as plain integers, so they can travel inside messages.

use std::fmt;

use serde::{Deserialize, Serialize};
pub use shoal_abi::REFERENCE_BASE;
use shoal_abi::is_reference;

/// A process identifier.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pid(i64);

impl Pid {
    /// The pid with the ABI's `i64` value `bits`, or `None` for a negative value (the
    /// ABI's "no pid" and statuses) or one of 2^62 and above (references).
    pub fn from_raw(bits: i64) -> Option<Pid> {
        (0..1 << 62).contains(&bits).then_some(Pid(bits))
    }

    /// The ABI's `i64` value.
    pub fn to_raw(self) -> i64 {
        self.0
    }

    /// The slot index in its node's process table (22 bits).
    pub fn index(self) -> u32 {
        (self.0 & ((1 << 22) - 1)) as u32
    }

    /// How many times the slot was reused before this process (26 bits).
    pub fn generation(self) -> u32 {
        ((self.0 >> 22) & ((1 << 26) - 1)) as u32
    }

    /// Its node: 0 outside a cluster, else the node's id for this start of it (14 bits).
    pub fn node(self) -> u16 {
        (self.0 >> 48) as u16
    }
}

impl fmt::Display for Pid {
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

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A monitor reference or an alias.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Reference(u64);

impl Reference {
    /// The reference with value `value`, or `None` outside the reference range.
    pub fn from_raw(value: u64) -> Option<Reference> {
        is_reference(value).then_some(Reference(value))
    }

    /// The value: also the tag of the `DOWN` (for a monitor) or of the reply (for an
    /// alias).
    pub fn to_raw(self) -> u64 {
        self.0
    }

    /// The reference a host call returned as an `i64`; anything else is the host
    /// breaking the ABI.
    /// The reference a host function returned. A monitor or alias the runtime's memory
    /// budget could not take (`OVER_BUDGET`) panics with that reason: the process holds
    /// more of them than its free allowance and the runtime has no memory left for more.
    pub(crate) fn from_host(function: &str, value: i64) -> Reference {
        if value == i64::from(crate::status::OVER_BUDGET) {
            crate::status::over_budget(function);
        }
        Reference::from_raw(value as u64)
            .unwrap_or_else(|| crate::status::unexpected(function, value))
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#Ref<{:#x}>", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_shows_like_the_hosts_zero_index_generation() {
        let pid = Pid::from_raw((3 << 22) | 17).unwrap();
        assert_eq!(pid.to_string(), "<0.17.3>");
        assert_eq!((pid.generation(), pid.index()), (3, 17));
        let remote = Pid::from_raw((9 << 48) | (5 << 22) | 2).unwrap();
        assert_eq!(remote.to_string(), "<9.2.5>");
    }

    #[test]
    fn negative_values_are_not_pids() {
        assert_eq!(Pid::from_raw(-1), None);
        assert_eq!(Pid::from_raw(-5), None);
        assert_eq!(Pid::from_raw(1 << 62), None);
    }

    #[test]
    fn references_lie_between_two_to_the_62_and_63() {
        assert!(Reference::from_raw(REFERENCE_BASE).is_some());
        assert!(Reference::from_raw((1 << 63) - 1).is_some());
        assert!(Reference::from_raw(REFERENCE_BASE - 1).is_none());
        assert!(Reference::from_raw(1 << 63).is_none());
        assert!(Reference::from_raw(0).is_none());
    }
}
