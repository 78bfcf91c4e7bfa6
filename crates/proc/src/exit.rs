//! Exits: why a process ended, structured all the way out.
//!
//! A caller matches on [`ExitReason`], never on a string. The enum is `non_exhaustive`:
//! later issues add exits caused by links (`noproc`, an exit signal from a linked
//! process) without breaking matches that have a wildcard arm.

use std::fmt;

use crate::{AccountingSnapshot, Pid};

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
    /// Integer division by zero.
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
    /// Any other trap wasmtime reports.
    Other,
}

impl TrapCode {
    /// snake_case name, as reports print it.
    pub fn name(self) -> &'static str {
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
            TrapCode::Other => "other",
        }
    }
}

/// Why a process ended.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ExitReason {
    /// The entry returned (code = its `i32` result, or 0) or the guest called `exit(code)`.
    Normal {
        /// The exit code.
        code: i32,
    },
    /// The guest trapped.
    Trap {
        /// What kind of trap.
        code: TrapCode,
        /// wasmtime's description.
        message: String,
    },
    /// The lifetime fuel budget was spent.
    OutOfFuel,
    /// The wall-clock deadline passed.
    Deadline,
    /// Killed by the host (or, later, by another process).
    Killed,
    /// A host function returned an error or panicked.
    HostError {
        /// What went wrong.
        message: String,
    },
}

/// The reasons without their payloads, for counting.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum ExitKind {
    /// [`ExitReason::Normal`].
    Normal,
    /// [`ExitReason::Trap`].
    Trap,
    /// [`ExitReason::OutOfFuel`].
    OutOfFuel,
    /// [`ExitReason::Deadline`].
    Deadline,
    /// [`ExitReason::Killed`].
    Killed,
    /// [`ExitReason::HostError`].
    HostError,
}

impl ExitKind {
    /// Every kind, in report order.
    pub const ALL: [ExitKind; 6] = [
        ExitKind::Normal,
        ExitKind::Trap,
        ExitKind::OutOfFuel,
        ExitKind::Deadline,
        ExitKind::Killed,
        ExitKind::HostError,
    ];

    /// snake_case name, as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            ExitKind::Normal => "normal",
            ExitKind::Trap => "trap",
            ExitKind::OutOfFuel => "out_of_fuel",
            ExitKind::Deadline => "deadline",
            ExitKind::Killed => "killed",
            ExitKind::HostError => "host_error",
        }
    }
}

impl ExitReason {
    /// The kind of exit.
    pub fn kind(&self) -> ExitKind {
        match self {
            ExitReason::Normal { .. } => ExitKind::Normal,
            ExitReason::Trap { .. } => ExitKind::Trap,
            ExitReason::OutOfFuel => ExitKind::OutOfFuel,
            ExitReason::Deadline => ExitKind::Deadline,
            ExitReason::Killed => ExitKind::Killed,
            ExitReason::HostError { .. } => ExitKind::HostError,
        }
    }

    /// True for a normal exit, whatever its code.
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal { .. })
    }

    /// The exit code of a normal exit.
    pub fn code(&self) -> Option<i32> {
        match self {
            ExitReason::Normal { code } => Some(*code),
            _ => None,
        }
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal { code } => write!(f, "normal({code})"),
            ExitReason::Trap { code, message } => write!(f, "trap({}: {message})", code.name()),
            ExitReason::HostError { message } => write!(f, "host_error({message})"),
            other => f.write_str(other.kind().name()),
        }
    }
}

/// A process's end: who, why, and what it used.
#[derive(Clone, Debug, PartialEq)]
pub struct Exit {
    /// The process.
    pub pid: Pid,
    /// Why it ended.
    pub reason: ExitReason,
    /// Its accounting at the end.
    pub accounting: AccountingSnapshot,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_display_as_reports_print_them() {
        assert_eq!(ExitReason::Normal { code: 3 }.to_string(), "normal(3)");
        assert_eq!(ExitReason::OutOfFuel.to_string(), "out_of_fuel");
        let trap = ExitReason::Trap {
            code: TrapCode::BadPointer,
            message: "x".into(),
        };
        assert_eq!(trap.to_string(), "trap(bad_pointer: x)");
        assert_eq!(trap.kind(), ExitKind::Trap);
        assert_eq!(trap.code(), None);
        assert_eq!(ExitReason::Normal { code: 7 }.code(), Some(7));
    }

    #[test]
    fn every_kind_has_a_distinct_name() {
        let mut names: Vec<_> = ExitKind::ALL.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 6);
    }
}
