//! Exit reasons: why a process ended, as `EXIT` and `DOWN` messages carry it, and the
//! reasons a guest may send with an exit signal.
//!
//! # On the wire (docs/ABI.md, "Exit reasons on the wire")
//! At least [`WIRE_HEADER`] bytes: `kind: u8`, `code: i32` little-endian, then a
//! payload of the remaining bytes. The kind numbers and trap code numbers are stable:
//!
//! | kind | reason | code | payload |
//! |---|---|---|---|
//! | 0 | normal | exit code | empty |
//! | 1 | trap | trap code number | message, UTF-8 |
//! | 2 | out_of_fuel | 0 | empty |
//! | 3 | deadline | 0 | empty |
//! | 4 | killed | 0 | empty |
//! | 5 | noproc | 0 | empty |
//! | 6 | shutdown | 0 | empty |
//! | 7 | host_error | 0 | message, UTF-8 |
//! | 8 | custom | any | any bytes |
//!
//! Decoding is strict where a mistake would mislead (a short header, an unknown kind:
//! [`ReasonError`]) and lenient where the host promises text (invalid UTF-8 is replaced,
//! as the host's own decoder does; an unknown trap number is [`TrapCode::Other`], so a
//! newer host's trap does not make an older guest's supervisor fail).
//!
//! What a guest *sends* is a [`Signal`]: only normal, kill, shutdown and custom can be
//! sent (`exit_signal`'s `kind` 0, 4, 6, 8).

use std::fmt;

/// The smallest encoded reason: a kind byte and a 32-bit code.
pub const WIRE_HEADER: usize = 5;

/// The wire's kind numbers.
mod kind {
    pub(super) const NORMAL: u8 = 0;
    pub(super) const TRAP: u8 = 1;
    pub(super) const OUT_OF_FUEL: u8 = 2;
    pub(super) const DEADLINE: u8 = 3;
    pub(super) const KILLED: u8 = 4;
    pub(super) const NOPROC: u8 = 5;
    pub(super) const SHUTDOWN: u8 = 6;
    pub(super) const HOST_ERROR: u8 = 7;
    pub(super) const CUSTOM: u8 = 8;
}

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
    /// Integer overflow.
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
    /// A host call was given a range outside the guest's memory.
    BadPointer,
    /// The guest panicked; the reason's message is the panic's.
    Panic,
    /// Any other trap, or a number this SDK does not know.
    Other,
}

/// Trap codes in wire order: `TRAP_CODES[n]` has number `n`; [`TrapCode::Other`] is 255.
const TRAP_CODES: [TrapCode; 14] = [
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

/// [`TrapCode::Other`]'s wire number.
const TRAP_OTHER: i32 = 255;

impl TrapCode {
    /// The trap code with wire number `n`; unknown numbers are [`TrapCode::Other`].
    pub fn from_number(n: i32) -> TrapCode {
        usize::try_from(n)
            .ok()
            .and_then(|i| TRAP_CODES.get(i).copied())
            .unwrap_or(TrapCode::Other)
    }

    /// The wire number.
    pub fn number(self) -> i32 {
        TRAP_CODES
            .iter()
            .position(|c| *c == self)
            .map_or(TRAP_OTHER, |i| i as i32)
    }

    /// snake_case name, as the host prints it.
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
}

/// Why a process ended, as an `EXIT` or `DOWN` message says.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ExitReason {
    /// The entry returned, or the process called `exit(code)`.
    Normal {
        /// The exit code.
        code: i32,
    },
    /// The process trapped (a panic is a trap with [`TrapCode::Panic`]).
    Trap {
        /// What kind of trap.
        code: TrapCode,
        /// wasmtime's or the panic's message.
        message: String,
    },
    /// Its lifetime fuel budget was spent.
    OutOfFuel,
    /// Its wall-clock deadline passed.
    Deadline,
    /// Killed: by the host, by a `kill` signal, or along a link from a killed process.
    Killed,
    /// The process was not alive (a link or monitor of a dead pid).
    NoProc,
    /// Stopped by its supervisor or by the runtime shutting down.
    Shutdown,
    /// A host function failed.
    HostError {
        /// What went wrong.
        message: String,
    },
    /// A reason chosen by a process.
    Custom {
        /// The code.
        code: i32,
        /// The bytes.
        data: Vec<u8>,
    },
}

/// Bytes that are not an encoded exit reason.
#[derive(Copy, Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ReasonError {
    /// Fewer than [`WIRE_HEADER`] bytes.
    #[error("an encoded exit reason has at least 5 bytes, got {0}")]
    Short(usize),
    /// A kind byte no reason has.
    #[error("unknown exit reason kind {0}")]
    UnknownKind(u8),
}

impl ExitReason {
    /// Decodes a reason from the wire format (see the module docs).
    pub fn decode(bytes: &[u8]) -> Result<ExitReason, ReasonError> {
        let Some((header, payload)) = bytes.split_first_chunk::<WIRE_HEADER>() else {
            return Err(ReasonError::Short(bytes.len()));
        };
        let [kind, code @ ..] = *header;
        let code = i32::from_le_bytes(code);
        let text = || String::from_utf8_lossy(payload).into_owned();
        Ok(match kind {
            kind::NORMAL => ExitReason::Normal { code },
            kind::TRAP => ExitReason::Trap {
                code: TrapCode::from_number(code),
                message: text(),
            },
            kind::OUT_OF_FUEL => ExitReason::OutOfFuel,
            kind::DEADLINE => ExitReason::Deadline,
            kind::KILLED => ExitReason::Killed,
            kind::NOPROC => ExitReason::NoProc,
            kind::SHUTDOWN => ExitReason::Shutdown,
            kind::HOST_ERROR => ExitReason::HostError { message: text() },
            kind::CUSTOM => ExitReason::Custom {
                code,
                data: payload.to_vec(),
            },
            other => return Err(ReasonError::UnknownKind(other)),
        })
    }

    /// Encodes the reason in the wire format: the inverse of [`decode`](Self::decode).
    pub fn encode(&self) -> Vec<u8> {
        let (kind, code, payload): (u8, i32, &[u8]) = match self {
            ExitReason::Normal { code } => (kind::NORMAL, *code, &[]),
            ExitReason::Trap { code, message } => (kind::TRAP, code.number(), message.as_bytes()),
            ExitReason::OutOfFuel => (kind::OUT_OF_FUEL, 0, &[]),
            ExitReason::Deadline => (kind::DEADLINE, 0, &[]),
            ExitReason::Killed => (kind::KILLED, 0, &[]),
            ExitReason::NoProc => (kind::NOPROC, 0, &[]),
            ExitReason::Shutdown => (kind::SHUTDOWN, 0, &[]),
            ExitReason::HostError { message } => (kind::HOST_ERROR, 0, message.as_bytes()),
            ExitReason::Custom { code, data } => (kind::CUSTOM, *code, data),
        };
        let mut out = Vec::with_capacity(WIRE_HEADER + payload.len());
        out.push(kind);
        out.extend_from_slice(&code.to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// True for a normal exit, whatever its code: the reason a link does not spread.
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal { .. })
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal { code } => write!(f, "normal({code})"),
            ExitReason::Trap { code, message } => write!(f, "trap({}: {message})", code.name()),
            ExitReason::OutOfFuel => f.write_str("out_of_fuel"),
            ExitReason::Deadline => f.write_str("deadline"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::NoProc => f.write_str("noproc"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::HostError { message } => write!(f, "host_error({message})"),
            ExitReason::Custom { code, data } if data.is_empty() => write!(f, "custom({code})"),
            ExitReason::Custom { code, data } => {
                write!(f, "custom({code}: {})", String::from_utf8_lossy(data))
            }
        }
    }
}

/// A reason a process can send with [`exit`](crate::exit): the ones `exit_signal`
/// accepts.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Signal {
    /// `normal(code)`: dropped by a process that does not trap exits (unless it is sent
    /// to oneself, which ends the sender normally).
    Normal {
        /// The exit code.
        code: i32,
    },
    /// Ends the receiver as `killed`, trapping exits or not.
    Kill,
    /// `shutdown`: an orderly stop, as a supervisor sends.
    Shutdown,
    /// A reason of the sender's choosing.
    Custom {
        /// The code.
        code: i32,
        /// The bytes.
        data: Vec<u8>,
    },
}

impl Signal {
    /// `exit_signal`'s `(kind, code, payload)` arguments.
    pub(crate) fn to_call(&self) -> (i32, i32, &[u8]) {
        match self {
            Signal::Normal { code } => (kind::NORMAL.into(), *code, &[]),
            Signal::Kill => (kind::KILLED.into(), 0, &[]),
            Signal::Shutdown => (kind::SHUTDOWN.into(), 0, &[]),
            Signal::Custom { code, data } => (kind::CUSTOM.into(), *code, data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(kind: u8, code: i32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&code.to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn every_kind_decodes_as_the_abi_table_says() {
        let cases = [
            (wire(0, 7, b""), ExitReason::Normal { code: 7 }),
            (wire(2, 0, b""), ExitReason::OutOfFuel),
            (wire(3, 0, b""), ExitReason::Deadline),
            (wire(4, 0, b""), ExitReason::Killed),
            (wire(5, 0, b""), ExitReason::NoProc),
            (wire(6, 0, b""), ExitReason::Shutdown),
            (
                wire(7, 0, b"oops"),
                ExitReason::HostError {
                    message: "oops".into(),
                },
            ),
            (
                wire(8, -3, &[1, 2, 3]),
                ExitReason::Custom {
                    code: -3,
                    data: vec![1, 2, 3],
                },
            ),
        ];
        for (bytes, reason) in cases {
            assert_eq!(ExitReason::decode(&bytes), Ok(reason.clone()), "{bytes:?}");
            assert_eq!(reason.encode(), bytes, "{reason}");
        }
    }

    #[test]
    fn a_panic_decodes_as_a_trap_with_its_message() {
        let bytes = wire(1, 13, "panicked at src/lib.rs:3:5:\nboom".as_bytes());
        assert_eq!(
            ExitReason::decode(&bytes),
            Ok(ExitReason::Trap {
                code: TrapCode::Panic,
                message: "panicked at src/lib.rs:3:5:\nboom".into(),
            })
        );
    }

    #[test]
    fn trap_numbers_round_trip_and_unknown_ones_are_other() {
        for (n, code) in TRAP_CODES.iter().enumerate() {
            assert_eq!(code.number(), n as i32);
            assert_eq!(TrapCode::from_number(n as i32), *code);
        }
        assert_eq!(TrapCode::Other.number(), 255);
        assert_eq!(TrapCode::from_number(255), TrapCode::Other);
        assert_eq!(TrapCode::from_number(14), TrapCode::Other);
        assert_eq!(TrapCode::from_number(-1), TrapCode::Other);
        assert_eq!(TrapCode::from_number(7), TrapCode::IntegerDivisionByZero);
    }

    #[test]
    fn short_or_unknown_bytes_are_errors_not_panics() {
        assert_eq!(ExitReason::decode(&[]), Err(ReasonError::Short(0)));
        assert_eq!(
            ExitReason::decode(&[0, 0, 0, 0]),
            Err(ReasonError::Short(4))
        );
        assert_eq!(
            ExitReason::decode(&wire(9, 0, b"")),
            Err(ReasonError::UnknownKind(9))
        );
    }

    #[test]
    fn invalid_utf8_in_a_message_is_replaced() {
        let reason = ExitReason::decode(&wire(7, 0, &[b'a', 0xff])).unwrap();
        assert_eq!(
            reason,
            ExitReason::HostError {
                message: "a\u{fffd}".into()
            }
        );
    }

    #[test]
    fn the_code_is_little_endian() {
        assert_eq!(
            ExitReason::decode(&[0, 0x01, 0x02, 0, 0]),
            Ok(ExitReason::Normal { code: 0x0201 })
        );
    }

    #[test]
    fn signals_use_the_exit_signal_kinds() {
        assert_eq!(Signal::Normal { code: 2 }.to_call(), (0, 2, &[][..]));
        assert_eq!(Signal::Kill.to_call(), (4, 0, &[][..]));
        assert_eq!(Signal::Shutdown.to_call(), (6, 0, &[][..]));
        let custom = Signal::Custom {
            code: 9,
            data: b"why".to_vec(),
        };
        assert_eq!(custom.to_call(), (8, 9, &b"why"[..]));
    }

    #[test]
    fn reasons_display_like_the_host() {
        assert_eq!(ExitReason::Normal { code: 0 }.to_string(), "normal(0)");
        assert_eq!(ExitReason::NoProc.to_string(), "noproc");
        let trap = ExitReason::Trap {
            code: TrapCode::UnreachableCodeReached,
            message: "wasm trap".into(),
        };
        assert_eq!(
            trap.to_string(),
            "trap(unreachable_code_reached: wasm trap)"
        );
    }
}
