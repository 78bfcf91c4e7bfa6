//! Trap codes: what kind of wasm trap ended a process (docs/ABI.md, "Exit reasons on the
//! wire").
//!
//! A trap reason carries its [`TrapCode`] as a number in the reason's `code` field. The
//! numbers are stable: 0 to 13 in the order below, 255 for [`TrapCode::Other`]. A number
//! this crate does not know decodes as `Other`, so a newer host's trap does not make an
//! older guest's supervisor fail.

/// What kind of wasm trap ended a process.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
#[non_exhaustive]
pub enum TrapCode {
    /// The wasm stack overflowed.
    StackOverflow,
    /// A load or store outside linear memory.
    MemoryOutOfBounds,
    /// A misaligned atomic access.
    HeapMisaligned,
    /// A table access out of bounds.
    TableOutOfBounds,
    /// `call_indirect` to a null entry.
    IndirectCallToNull,
    /// `call_indirect` with the wrong signature.
    BadSignature,
    /// Integer overflow (e.g. `i32.div_s` of MIN by -1).
    IntegerOverflow,
    /// Integer division by zero (a wasm `div` instruction; Rust's `/` panics first).
    IntegerDivisionByZero,
    /// A float-to-int conversion out of range.
    BadConversionToInteger,
    /// An `unreachable` instruction.
    UnreachableCodeReached,
    /// A null reference was dereferenced.
    NullReference,
    /// An allocation was too large.
    AllocationTooLarge,
    /// A pointer/length passed to a Shoal host function was outside the guest's memory
    /// (or the guest exports no memory).
    BadPointer,
    /// The guest panicked (`shoal.panic`); the message is the panic's.
    Panic,
    /// Any other trap wasmtime reports, or a number this crate does not know.
    Other,
}

/// The numbered trap codes: `NUMBERED[n]` has number `n`. [`TrapCode::Other`] is 255.
const NUMBERED: [TrapCode; 14] = [
    TrapCode::StackOverflow,
    TrapCode::MemoryOutOfBounds,
    TrapCode::HeapMisaligned,
    TrapCode::TableOutOfBounds,
    TrapCode::IndirectCallToNull,
    TrapCode::BadSignature,
    TrapCode::IntegerOverflow,
    TrapCode::IntegerDivisionByZero,
    TrapCode::BadConversionToInteger,
    TrapCode::UnreachableCodeReached,
    TrapCode::NullReference,
    TrapCode::AllocationTooLarge,
    TrapCode::BadPointer,
    TrapCode::Panic,
];

impl TrapCode {
    /// snake_case name, as reports print it.
    pub const fn name(self) -> &'static str {
        match self {
            TrapCode::StackOverflow => "stack_overflow",
            TrapCode::MemoryOutOfBounds => "memory_out_of_bounds",
            TrapCode::HeapMisaligned => "heap_misaligned",
            TrapCode::TableOutOfBounds => "table_out_of_bounds",
            TrapCode::IndirectCallToNull => "indirect_call_to_null",
            TrapCode::BadSignature => "bad_signature",
            TrapCode::IntegerOverflow => "integer_overflow",
            TrapCode::IntegerDivisionByZero => "integer_division_by_zero",
            TrapCode::BadConversionToInteger => "bad_conversion_to_integer",
            TrapCode::UnreachableCodeReached => "unreachable_code_reached",
            TrapCode::NullReference => "null_reference",
            TrapCode::AllocationTooLarge => "allocation_too_large",
            TrapCode::BadPointer => "bad_pointer",
            TrapCode::Panic => "panic",
            TrapCode::Other => "other",
        }
    }

    /// The trap code's stable number on the wire (docs/ABI.md).
    pub const fn number(self) -> i32 {
        match self {
            TrapCode::StackOverflow => 0,
            TrapCode::MemoryOutOfBounds => 1,
            TrapCode::HeapMisaligned => 2,
            TrapCode::TableOutOfBounds => 3,
            TrapCode::IndirectCallToNull => 4,
            TrapCode::BadSignature => 5,
            TrapCode::IntegerOverflow => 6,
            TrapCode::IntegerDivisionByZero => 7,
            TrapCode::BadConversionToInteger => 8,
            TrapCode::UnreachableCodeReached => 9,
            TrapCode::NullReference => 10,
            TrapCode::AllocationTooLarge => 11,
            TrapCode::BadPointer => 12,
            TrapCode::Panic => 13,
            TrapCode::Other => 255,
        }
    }

    /// The trap code with wire number `n`; unknown numbers are [`TrapCode::Other`].
    pub fn from_number(n: i32) -> TrapCode {
        usize::try_from(n)
            .ok()
            .and_then(|i| NUMBERED.get(i).copied())
            .unwrap_or(TrapCode::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_numbers_round_trip_and_unknown_ones_are_other() {
        for (n, code) in NUMBERED.iter().enumerate() {
            assert_eq!(code.number(), n as i32);
            assert_eq!(TrapCode::from_number(n as i32), *code);
        }
        assert_eq!(TrapCode::Other.number(), 255);
        assert_eq!(TrapCode::from_number(255), TrapCode::Other);
        assert_eq!(TrapCode::from_number(14), TrapCode::Other);
        assert_eq!(TrapCode::from_number(200), TrapCode::Other);
        assert_eq!(TrapCode::from_number(-1), TrapCode::Other);
    }

    #[test]
    fn the_trap_numbers_are_the_documented_ones() {
        assert_eq!(TrapCode::StackOverflow.number(), 0);
        assert_eq!(TrapCode::IntegerDivisionByZero.number(), 7);
        assert_eq!(TrapCode::UnreachableCodeReached.number(), 9);
        assert_eq!(TrapCode::BadPointer.number(), 12);
        assert_eq!(TrapCode::Panic.number(), 13);
    }

    #[test]
    fn every_trap_code_has_a_distinct_name() {
        let mut names: alloc::vec::Vec<_> = NUMBERED.iter().map(|c| c.name()).collect();
        names.push(TrapCode::Other.name());
        names.sort();
        names.dedup();
        assert_eq!(names.len(), NUMBERED.len() + 1);
    }
}
