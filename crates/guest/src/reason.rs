//! Exit reasons: why a process ended, as `EXIT` and `DOWN` messages carry it, and the
//! reasons a guest may send with an exit signal.
//!
//! [`ExitReason`], [`TrapCode`] and the wire format (docs/ABI.md, "Exit reasons on the
//! wire") are `shoal-abi`'s, the crate the host encodes them with: decode a message's
//! bytes with [`ExitReason::from_wire`], which fails with a [`WireError`] on a short
//! header or an unknown kind, never with a panic.
//!
//! What a guest *sends* is a [`Signal`]: only normal, kill, shutdown and custom can be
//! sent (`exit_signal`'s `kind` 0, 4, 6, 8, the [`ExitKind`] numbers).

pub use shoal_abi::{ExitKind, ExitReason, TrapCode, WIRE_HEADER, WireError};

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
            Signal::Normal { code } => (ExitKind::Normal.number().into(), *code, &[]),
            Signal::Kill => (ExitKind::Killed.number().into(), 0, &[]),
            Signal::Shutdown => (ExitKind::Shutdown.number().into(), 0, &[]),
            Signal::Custom { code, data } => (ExitKind::Custom.number().into(), *code, data),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
