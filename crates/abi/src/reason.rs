//! Exit reasons: why a process ended, structured all the way out and on the wire.
//!
//! A caller matches on [`ExitReason`], never on a string. The enum is `non_exhaustive`,
//! so later reasons do not break matches that have a wildcard arm. [`ExitKind`] is the
//! reason without its payload, for counting and for the wire's kind byte.
//!
//! # On the wire (docs/ABI.md, "Exit reasons on the wire")
//! Guests receive reasons (in `EXIT` and `DOWN` messages) and send them (`exit_signal`)
//! as bytes: at least [`WIRE_HEADER`] of them, `kind: u8`, `code: i32` little-endian,
//! then a payload of the remaining bytes. [`ExitReason::to_wire`] and
//! [`ExitReason::from_wire`] are the two directions. The kind numbers are stable:
//!
//! | kind | reason | code | payload |
//! |---|---|---|---|
//! | 0 | normal | exit code | empty |
//! | 1 | trap | trap code number ([`TrapCode::number`]) | message, UTF-8 |
//! | 2 | out_of_fuel | 0 | empty |
//! | 3 | deadline | 0 | empty |
//! | 4 | killed | 0 | empty |
//! | 5 | noproc | 0 | empty |
//! | 6 | shutdown | 0 | empty |
//! | 7 | host_error | 0 | message, UTF-8 |
//! | 8 | custom | any | any bytes |
//! | 9 | noconnection | 0 | empty |
//! | 10 | mailbox_overflow | 0 | empty |
//!
//! Decoding is strict where a mistake would mislead (a short header, an unknown kind:
//! [`WireError`]) and lenient where the sender promises text (invalid UTF-8 is replaced;
//! an unknown trap number is [`TrapCode::Other`]).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::TrapCode;

/// Why a process ended.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ExitReason {
    /// The entry returned (code = its `i32` result, or 0) or the guest called `exit(code)`.
    Normal {
        /// The exit code.
        code: i32,
    },
    /// The guest trapped (a panic is a trap with [`TrapCode::Panic`]).
    Trap {
        /// What kind of trap.
        code: TrapCode,
        /// wasmtime's or the panic's message.
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
    /// The node of the process it linked to or monitored went down or lost contact
    /// (a cluster's liveness protocol, docs/CLUSTER.md): Erlang's `noconnection`.
    NoConnection,
    /// Its mailbox reached its bound and the process was spawned to end rather than
    /// refuse the sender (`SpawnOptions::kill_on_full_mailbox`): Erlang's
    /// `max_heap_size` with `kill`.
    MailboxOverflow,
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
    /// [`ExitReason::NoConnection`].
    NoConnection,
    /// [`ExitReason::MailboxOverflow`].
    MailboxOverflow,
}

impl ExitKind {
    /// Every kind, in report order.
    pub const ALL: [ExitKind; 11] = [
        ExitKind::Normal,
        ExitKind::Trap,
        ExitKind::OutOfFuel,
        ExitKind::Deadline,
        ExitKind::Killed,
        ExitKind::HostError,
        ExitKind::NoProc,
        ExitKind::Shutdown,
        ExitKind::Custom,
        ExitKind::NoConnection,
        ExitKind::MailboxOverflow,
    ];

    /// snake_case name, as reports print it.
    pub const fn name(self) -> &'static str {
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
            ExitKind::NoConnection => "noconnection",
            ExitKind::MailboxOverflow => "mailbox_overflow",
        }
    }

    /// The kind's stable number on the wire (docs/ABI.md); also `exit_signal`'s `kind`.
    pub const fn number(self) -> u8 {
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
            ExitKind::NoConnection => 9,
            ExitKind::MailboxOverflow => 10,
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
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum WireError {
    /// Fewer than [`WIRE_HEADER`] bytes.
    Short(usize),
    /// A kind byte no reason has.
    UnknownKind(u8),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Short(len) => write!(
                f,
                "an encoded exit reason has at least {WIRE_HEADER} bytes, got {len}"
            ),
            WireError::UnknownKind(kind) => write!(f, "unknown exit reason kind {kind}"),
        }
    }
}

impl core::error::Error for WireError {}

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
            ExitReason::NoConnection => ExitKind::NoConnection,
            ExitReason::MailboxOverflow => ExitKind::MailboxOverflow,
        }
    }

    /// True for a normal exit, whatever its code: the reason a link does not spread.
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

    /// The reason in the wire format: kind, code, payload (see the module docs).
    pub fn to_wire(&self) -> Vec<u8> {
        let (code, payload): (i32, &[u8]) = match self {
            ExitReason::Normal { code } => (*code, &[]),
            ExitReason::Trap { code, message } => (code.number(), message.as_bytes()),
            ExitReason::HostError { message } => (0, message.as_bytes()),
            ExitReason::Custom { code, data } => (*code, data),
            ExitReason::OutOfFuel
            | ExitReason::Deadline
            | ExitReason::Killed
            | ExitReason::NoProc
            | ExitReason::NoConnection
            | ExitReason::MailboxOverflow
            | ExitReason::Shutdown => (0, &[]),
        };
        let mut out = Vec::with_capacity(WIRE_HEADER + payload.len());
        out.push(self.kind().number());
        out.extend_from_slice(&code.to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Decodes a reason encoded by [`to_wire`](Self::to_wire), by the host or by a guest.
    /// Text payloads that are not UTF-8 are decoded lossily.
    pub fn from_wire(bytes: &[u8]) -> Result<ExitReason, WireError> {
        let Some((header, payload)) = bytes.split_first_chunk::<WIRE_HEADER>() else {
            return Err(WireError::Short(bytes.len()));
        };
        let [kind, code @ ..] = *header;
        let code = i32::from_le_bytes(code);
        let text = || String::from_utf8_lossy(payload).into_owned();
        Ok(
            match ExitKind::from_number(kind).ok_or(WireError::UnknownKind(kind))? {
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
                ExitKind::NoConnection => ExitReason::NoConnection,
                ExitKind::MailboxOverflow => ExitReason::MailboxOverflow,
                ExitKind::Custom => ExitReason::Custom {
                    code,
                    data: payload.to_vec(),
                },
            },
        )
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

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use alloc::vec;

    use super::*;

    /// The bytes of a reason with this kind, code and payload, written out by hand.
    fn wire(kind: u8, code: i32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&code.to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn every_kind_encodes_as_the_abi_table_says() {
        let cases = [
            (wire(0, 7, b""), ExitReason::Normal { code: 7 }),
            (
                wire(1, 13, b"boom"),
                ExitReason::Trap {
                    code: TrapCode::Panic,
                    message: "boom".into(),
                },
            ),
            (wire(2, 0, b""), ExitReason::OutOfFuel),
            (wire(3, 0, b""), ExitReason::Deadline),
            (wire(4, 0, b""), ExitReason::Killed),
            (wire(5, 0, b""), ExitReason::NoProc),
            (wire(6, 0, b""), ExitReason::Shutdown),
            (wire(9, 0, b""), ExitReason::NoConnection),
            (wire(10, 0, b""), ExitReason::MailboxOverflow),
            (
                wire(7, 0, b"oops"),
                ExitReason::HostError {
                    message: "oops".into(),
                },
            ),
            (
                wire(8, -3, &[0, 255, 1]),
                ExitReason::Custom {
                    code: -3,
                    data: vec![0, 255, 1],
                },
            ),
        ];
        for (bytes, reason) in cases {
            assert_eq!(reason.to_wire(), bytes, "{reason}");
            assert_eq!(bytes[0], reason.kind().number());
            assert_eq!(ExitReason::from_wire(&bytes), Ok(reason), "{bytes:?}");
        }
    }

    #[test]
    fn every_kind_number_is_documented_and_round_trips() {
        let numbers: Vec<u8> = ExitKind::ALL.iter().map(|k| k.number()).collect();
        assert_eq!(numbers, [0, 1, 2, 3, 4, 7, 5, 6, 8, 9, 10]);
        for kind in ExitKind::ALL {
            assert_eq!(ExitKind::from_number(kind.number()), Some(kind));
        }
        assert_eq!(ExitKind::from_number(11), None);
    }

    #[test]
    fn every_kind_has_a_distinct_name() {
        let mut names: Vec<_> = ExitKind::ALL.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ExitKind::ALL.len());
    }

    #[test]
    fn the_code_is_little_endian() {
        assert_eq!(
            ExitReason::from_wire(&[0, 0x01, 0x02, 0, 0]),
            Ok(ExitReason::Normal { code: 0x0201 })
        );
    }

    #[test]
    fn a_panic_decodes_as_a_trap_with_its_message() {
        let bytes = wire(1, 13, "panicked at src/lib.rs:3:5:\nboom".as_bytes());
        assert_eq!(
            ExitReason::from_wire(&bytes),
            Ok(ExitReason::Trap {
                code: TrapCode::Panic,
                message: "panicked at src/lib.rs:3:5:\nboom".into(),
            })
        );
    }

    #[test]
    fn an_unknown_trap_number_decodes_as_other() {
        assert_eq!(
            ExitReason::from_wire(&wire(1, 200, b"new")),
            Ok(ExitReason::Trap {
                code: TrapCode::Other,
                message: "new".into(),
            })
        );
    }

    #[test]
    fn malformed_wire_reasons_are_typed_errors_not_panics() {
        assert_eq!(ExitReason::from_wire(&[]), Err(WireError::Short(0)));
        assert_eq!(ExitReason::from_wire(&[0, 1]), Err(WireError::Short(2)));
        assert_eq!(
            ExitReason::from_wire(&[0, 0, 0, 0]),
            Err(WireError::Short(4))
        );
        assert_eq!(
            ExitReason::from_wire(&wire(11, 0, b"")),
            Err(WireError::UnknownKind(11))
        );
    }

    #[test]
    fn wire_errors_say_what_is_wrong() {
        assert_eq!(
            WireError::Short(2).to_string(),
            "an encoded exit reason has at least 5 bytes, got 2"
        );
        assert_eq!(
            WireError::UnknownKind(9).to_string(),
            "unknown exit reason kind 9"
        );
    }

    #[test]
    fn invalid_utf8_in_a_message_is_replaced() {
        assert_eq!(
            ExitReason::from_wire(&wire(7, 0, &[b'a', 0xff])),
            Ok(ExitReason::HostError {
                message: "a\u{fffd}".into()
            })
        );
    }

    #[test]
    fn reasons_display_as_reports_print_them() {
        let cases = [
            (ExitReason::Normal { code: 3 }, "normal(3)"),
            (
                ExitReason::Trap {
                    code: TrapCode::BadPointer,
                    message: "x".into(),
                },
                "trap(bad_pointer: x)",
            ),
            (ExitReason::OutOfFuel, "out_of_fuel"),
            (ExitReason::Deadline, "deadline"),
            (ExitReason::Killed, "killed"),
            (
                ExitReason::HostError {
                    message: "h".into(),
                },
                "host_error(h)",
            ),
            (ExitReason::NoProc, "noproc"),
            (ExitReason::Shutdown, "shutdown"),
            (ExitReason::NoConnection, "noconnection"),
            (ExitReason::MailboxOverflow, "mailbox_overflow"),
            (
                ExitReason::Custom {
                    code: 5,
                    data: vec![],
                },
                "custom(5)",
            ),
            (
                ExitReason::Custom {
                    code: 5,
                    data: b"why".to_vec(),
                },
                "custom(5: why)",
            ),
        ];
        for (reason, shown) in cases {
            assert_eq!(reason.to_string(), shown);
        }
    }

    #[test]
    fn only_a_normal_reason_is_normal_and_has_a_code() {
        assert!(ExitReason::Normal { code: 7 }.is_normal());
        assert_eq!(ExitReason::Normal { code: 7 }.code(), Some(7));
        let trap = ExitReason::Trap {
            code: TrapCode::BadPointer,
            message: "x".into(),
        };
        assert!(!trap.is_normal());
        assert_eq!(trap.code(), None);
        assert_eq!(trap.kind(), ExitKind::Trap);
    }
}
