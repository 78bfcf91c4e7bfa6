//! References: unique tokens for monitors and reply aliases, Erlang's `make_ref()`.
//!
//! A runtime draws every reference from one [`References`] counter, so two are never
//! equal for the runtime's life. They lie in `[REFERENCE_BASE, 2^63)`: positive as the
//! guest ABI's `i64`, so never mistaken for a negative status, and in a range of tags that
//! applications are told not to use for data (a data message with a reference tag is
//! delivered only to an open alias, see `mailbox`). The range is the guest ABI's, so
//! [`REFERENCE_BASE`] and [`is_reference`] come from `shoal-abi`, which guests check
//! references with too.

use std::fmt;

pub use shoal_abi::{REFERENCE_BASE, is_reference};

use crate::sync::{AtomicU64, Ordering};

/// A unique reference.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference(u64);

impl Reference {
    /// The reference with these bits, if they lie in the reference range.
    pub fn from_bits(bits: u64) -> Option<Reference> {
        is_reference(bits).then_some(Reference(bits))
    }

    /// Its bits, as guests see it.
    pub fn to_bits(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#Ref<{}>", self.0 - REFERENCE_BASE)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A runtime's source of references.
#[derive(Debug)]
pub struct References(AtomicU64);

impl Default for References {
    fn default() -> Self {
        References(AtomicU64::new(REFERENCE_BASE))
    }
}

impl References {
    /// A reference never returned before. 2^62 of them last longer than any runtime.
    pub fn next(&self) -> Reference {
        Reference(self.0.fetch_add(1, Ordering::Relaxed))
    }
}

#[cfg(all(test, not(shoal_loom)))]
mod tests {
    use super::*;

    #[test]
    fn references_are_fresh_and_in_their_range() {
        let refs = References::default();
        let (a, b) = (refs.next(), refs.next());
        assert_ne!(a, b);
        assert!(is_reference(a.to_bits()) && is_reference(b.to_bits()));
        assert!((a.to_bits() as i64) > 0, "positive as a guest i64");
        assert_eq!(Reference::from_bits(a.to_bits()), Some(a));
        assert_eq!(Reference::from_bits(7), None);
        assert_eq!(Reference::from_bits(u64::MAX), None);
    }
}
