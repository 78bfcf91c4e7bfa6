//! Exits: why a process ended, structured all the way out.
//!
//! A caller matches on [`ExitReason`], never on a string. The enum is `non_exhaustive`,
//! so later reasons do not break matches that have a wildcard arm.
//!
//! # On the wire
//! Guests receive reasons (in `EXIT` and `DOWN` messages) and send them (`exit_signal`)
//! as bytes: `kind: u8`, `code: i32` little-endian, then a payload. [`ExitReason::to_wire`]
//! and [`ExitReason::from_wire`] are the two directions; docs/ABI.md has the table, and
//! the kind and trap numbers here are stable.

use std::fmt;
use std::sync::Arc;

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
    /// The guest panicked (`shoal.panic`); the message is the panic's.
    Panic,
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
            TrapCode::Panic => "panic",
            TrapCode::Other => "other",
        }
    }

    /// The trap code's stable number on the wire (docs/ABI.md).
    pub fn number(self) -> i32 {
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
        const ALL: [TrapCode; 14] = [
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
        usize::try_from(n)
            .ok()
            .and_then(|i| ALL.get(i).copied())
            .unwrap_or(TrapCode::Other)
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
    /// Killed: by the host, by an untrappable `kill` exit signal, or by a linked
    /// process that was itself killed.
    Killed,
    /// A host function returned an error or panicked.
    HostError {
        /// What went wrong.
        message: String,
    },
    /// The process it linked to or monitored was not alive (the reason of the signal a
    /// link to a dead pid gets, and of the `DOWN` a monitor of one gets).
    NoProc,
    /// Stopped by its supervisor, or by a runtime shutting down in order.
    Shutdown,
    /// A reason chosen by a process (`exit_signal` with a code and bytes).
    Custom {
        /// The code.
        code: i32,
        /// The bytes.
        data: Vec<u8>,
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
    /// [`ExitReason::NoProc`].
    NoProc,
    /// [`ExitReason::Shutdown`].
    Shutdown,
    /// [`ExitReason::Custom`].
    Custom,
}

impl ExitKind {
    /// Every kind, in report order.
    pub const ALL: [ExitKind; 9] = [
        ExitKind::Normal,
        ExitKind::Trap,
        ExitKind::OutOfFuel,
        ExitKind::Deadline,
        ExitKind::Killed,
        ExitKind::HostError,
        ExitKind::NoProc,
        ExitKind::Shutdown,
        ExitKind::Custom,
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
            ExitKind::NoProc => "noproc",
            ExitKind::Shutdown => "shutdown",
            ExitKind::Custom => "custom",
        }
    }

    /// The kind's stable number on the wire (docs/ABI.md).
    pub fn number(self) -> u8 {
        match self {
            ExitKind::Normal => 0,
            ExitKind::Trap => 1,
            ExitKind::OutOfFuel => 2,
            ExitKind::Deadline => 3,
            ExitKind::Killed => 4,
            ExitKind::NoProc => 5,
            ExitKind::Shutdown => 6,
            ExitKind::HostError => 7,
            ExitKind::Custom => 8,
        }
    }

    /// The kind with wire number `n`.
    pub fn from_number(n: u8) -> Option<ExitKind> {
        ExitKind::ALL.into_iter().find(|k| k.number() == n)
    }
}

/// The smallest encoded reason: a kind byte and a 32-bit code.
pub const WIRE_HEADER: usize = 5;

/// Bytes that are not an encoded exit reason.
#[derive(Copy, Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum WireError {
    /// Fewer than [`WIRE_HEADER`] bytes.
    #[error("an encoded exit reason has at least 5 bytes, got {0}")]
    Short(usize),
    /// A kind byte no reason has.
    #[error("unknown exit reason kind {0}")]
    UnknownKind(u8),
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
            ExitReason::NoProc => ExitKind::NoProc,
            ExitReason::Shutdown => ExitKind::Shutdown,
            ExitReason::Custom { .. } => ExitKind::Custom,
        }
    }

    /// The reason as guests receive it: kind, code, payload (see the module docs).
    pub fn to_wire(&self) -> Vec<u8> {
        let (code, payload): (i32, &[u8]) = match self {
            ExitReason::Normal { code } => (*code, &[]),
            ExitReason::Trap { code, message } => (code.number(), message.as_bytes()),
            ExitReason::HostError { message } => (0, message.as_bytes()),
            ExitReason::Custom { code, data } => (*code, data),
            _ => (0, &[]),
        };
        let mut out = Vec::with_capacity(WIRE_HEADER + payload.len());
        out.push(self.kind().number());
        out.extend_from_slice(&code.to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Decodes a reason encoded by [`to_wire`](Self::to_wire) or by a guest. Text
    /// payloads that are not UTF-8 are decoded lossily.
    pub fn from_wire(bytes: &[u8]) -> Result<ExitReason, WireError> {
        if bytes.len() < WIRE_HEADER {
            return Err(WireError::Short(bytes.len()));
        }
        let code = i32::from_le_bytes(bytes[1..WIRE_HEADER].try_into().expect("4 bytes"));
        let payload = &bytes[WIRE_HEADER..];
        let text = || String::from_utf8_lossy(payload).into_owned();
        let kind = ExitKind::from_number(bytes[0]).ok_or(WireError::UnknownKind(bytes[0]))?;
        Ok(match kind {
            ExitKind::Normal => ExitReason::Normal { code },
            ExitKind::Trap => ExitReason::Trap {
                code: TrapCode::from_number(code),
                message: text(),
            },
            ExitKind::OutOfFuel => ExitReason::OutOfFuel,
            ExitKind::Deadline => ExitReason::Deadline,
            ExitKind::Killed => ExitReason::Killed,
            ExitKind::HostError => ExitReason::HostError { message: text() },
            ExitKind::NoProc => ExitReason::NoProc,
            ExitKind::Shutdown => ExitReason::Shutdown,
            ExitKind::Custom => ExitReason::Custom {
                code,
                data: payload.to_vec(),
            },
        })
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
            ExitReason::Custom { code, data } if data.is_empty() => write!(f, "custom({code})"),
            ExitReason::Custom { code, data } => {
                write!(f, "custom({code}: {})", String::from_utf8_lossy(data))
            }
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
    /// What it wrote to stdout and stderr, if they were captured (a WASI process
    /// spawned to capture them).
    pub output: Option<Arc<CapturedOutput>>,
}

/// A process's captured stdout and stderr.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapturedOutput {
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
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
        assert_eq!(names.len(), ExitKind::ALL.len());
    }

    #[test]
    fn every_reason_survives_the_wire() {
        let reasons = [
            ExitReason::Normal { code: -3 },
            ExitReason::Trap {
                code: TrapCode::Panic,
                message: "boom".into(),
            },
            ExitReason::OutOfFuel,
            ExitReason::Deadline,
            ExitReason::Killed,
            ExitReason::HostError {
                message: "h".into(),
            },
            ExitReason::NoProc,
            ExitReason::Shutdown,
            ExitReason::Custom {
                code: 7,
                data: vec![0, 255, 1],
            },
        ];
        for reason in reasons {
            let wire = reason.to_wire();
            assert_eq!(wire[0], reason.kind().number());
            assert_eq!(ExitReason::from_wire(&wire), Ok(reason));
        }
    }

    #[test]
    fn the_wire_numbers_are_the_documented_ones() {
        assert_eq!(
            ExitReason::Custom {
                code: 1,
                data: vec![]
            }
            .to_wire()[0],
            8
        );
        assert_eq!(ExitReason::Shutdown.to_wire(), vec![6, 0, 0, 0, 0]);
        assert_eq!(ExitReason::NoProc.to_wire()[0], 5);
        let host = ExitReason::HostError {
            message: "m".into(),
        };
        assert_eq!(host.to_wire(), vec![7, 0, 0, 0, 0, b'm']);
        assert_eq!(
            ExitReason::Normal { code: 2 }.to_wire(),
            vec![0, 2, 0, 0, 0]
        );
        assert_eq!(TrapCode::Panic.number(), 13);
        assert_eq!(TrapCode::from_number(13), TrapCode::Panic);
        assert_eq!(TrapCode::from_number(200), TrapCode::Other);
        assert_eq!(
            TrapCode::from_number(TrapCode::Other.number()),
            TrapCode::Other
        );
    }

    #[test]
    fn malformed_wire_reasons_are_typed_errors() {
        assert_eq!(ExitReason::from_wire(&[0, 1]), Err(WireError::Short(2)));
        assert_eq!(
            ExitReason::from_wire(&[9, 0, 0, 0, 0]),
            Err(WireError::UnknownKind(9))
        );
    }
}
