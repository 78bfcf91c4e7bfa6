//! Process identifiers.
//!
//! A [`Pid`] names a slot of the process table and the generation of that slot. Every time
//! a slot is reused its generation goes up, so a pid is never aliased by a later process:
//! a message to a dead pid is detected (the generations differ) and never delivered to
//! the slot's next occupant.

use std::fmt;

/// A generational process identifier: slot index and slot generation.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Pid {
    /// Slot in the process table.
    index: u32,
    /// How many times the slot had been used before this process.
    generation: u32,
}

impl Pid {
    /// A pid for slot `index` at `generation`.
    pub const fn new(index: u32, generation: u32) -> Pid {
        Pid { index, generation }
    }

    /// The table slot.
    pub const fn index(self) -> u32 {
        self.index
    }

    /// The slot's generation.
    pub const fn generation(self) -> u32 {
        self.generation
    }

    /// `(generation << 32) | index`: what guests see, as an `i64`.
    pub const fn to_bits(self) -> u64 {
        ((self.generation as u64) << 32) | self.index as u64
    }

    /// The inverse of [`to_bits`](Self::to_bits).
    pub const fn from_bits(bits: u64) -> Pid {
        Pid {
            index: bits as u32,
            generation: (bits >> 32) as u32,
        }
    }
}

impl fmt::Display for Pid {
    /// Erlang's spelling: `<0.index.generation>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<0.{}.{}>", self.index, self.generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_and_display_is_erlang_style() {
        let p = Pid::new(7, 3);
        assert_eq!(Pid::from_bits(p.to_bits()), p);
        assert_eq!(p.to_bits(), (3 << 32) | 7);
        assert_eq!(p.to_string(), "<0.7.3>");
    }

    #[test]
    fn pids_of_one_slot_differ_by_generation() {
        assert_ne!(Pid::new(1, 0), Pid::new(1, 1));
    }
}
