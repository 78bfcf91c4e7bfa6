//! How a guest's run can end in error, and the structured exit each becomes.
//!
//! wasmtime reports every way out of instantiation or the entry call as one
//! `wasmtime::Error`. The host functions raise their own: [`GuestExit`] for `shoal.exit`,
//! [`GuestPanic`] for `shoal.panic`, [`BadPointer`] for a range outside the guest's
//! memory, and the executor's `Interrupt` for a kill or a deadline seen at a tick or
//! after a host call. [`exit_reason_of`] maps each, and wasmtime's own traps, to the
//! [`ExitReason`] a caller matches on.

use shoal_executor::Interrupt;
use shoal_proc::{ExitReason, TrapCode};

/// Raised by `shoal.exit(code)`: unwinds the guest and ends it as `normal(code)`.
#[derive(Debug, thiserror::Error)]
#[error("guest called exit({0})")]
pub(crate) struct GuestExit(pub i32);

/// Raised by `shoal.panic`: ends the guest as `trap(panic: message)`.
#[derive(Debug, thiserror::Error)]
#[error("guest panicked: {0}")]
pub(crate) struct GuestPanic(pub String);

/// A guest passed a range outside its memory.
#[derive(Debug, thiserror::Error)]
#[error("bad pointer in shoal.{function}: {detail}")]
pub(crate) struct BadPointer {
    /// The host function that was given it.
    pub function: &'static str,
    /// What was wrong with it.
    pub detail: String,
}

/// Maps an error out of instantiation or the entry call to a structured exit.
pub(crate) fn exit_reason_of(error: wasmtime::Error) -> ExitReason {
    if let Some(GuestExit(code)) = error.downcast_ref::<GuestExit>() {
        return ExitReason::Normal { code: *code };
    }
    if let Some(interrupt) = error.downcast_ref::<Interrupt>() {
        return match interrupt {
            Interrupt::Killed => ExitReason::Killed,
            Interrupt::Deadline => ExitReason::Deadline,
        };
    }
    if let Some(wasmtime_wasi::I32Exit(code)) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return ExitReason::Normal { code: *code };
    }
    if let Some(GuestPanic(message)) = error.downcast_ref::<GuestPanic>() {
        return ExitReason::Trap {
            code: TrapCode::Panic,
            message: message.clone(),
        };
    }
    if let Some(bad) = error.downcast_ref::<BadPointer>() {
        return ExitReason::Trap {
            code: TrapCode::BadPointer,
            message: bad.to_string(),
        };
    }
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        use wasmtime::Trap as T;
        let code = match trap {
            T::OutOfFuel => return ExitReason::OutOfFuel,
            // Shoal's epoch callback never answers `Interrupt`; an interrupt is a deadline.
            T::Interrupt => return ExitReason::Deadline,
            T::StackOverflow => TrapCode::StackOverflow,
            T::MemoryOutOfBounds => TrapCode::MemoryOutOfBounds,
            T::HeapMisaligned => TrapCode::HeapMisaligned,
            T::TableOutOfBounds => TrapCode::TableOutOfBounds,
            T::IndirectCallToNull => TrapCode::IndirectCallToNull,
            T::BadSignature => TrapCode::BadSignature,
            T::IntegerOverflow => TrapCode::IntegerOverflow,
            T::IntegerDivisionByZero => TrapCode::IntegerDivisionByZero,
            T::BadConversionToInteger => TrapCode::BadConversionToInteger,
            T::UnreachableCodeReached => TrapCode::UnreachableCodeReached,
            T::NullReference => TrapCode::NullReference,
            T::AllocationTooLarge => TrapCode::AllocationTooLarge,
            _ => TrapCode::Other,
        };
        return ExitReason::Trap {
            code,
            message: trap.to_string(),
        };
    }
    if is_canonical_abi_fault(&error) {
        return ExitReason::Trap {
            code: TrapCode::BadPointer,
            message: error.root_cause().to_string(),
        };
    }
    ExitReason::HostError {
        message: format!("{error:#}"),
    }
}

/// What wasmtime's component model says, as untyped errors, when it refuses a guest's
/// values at the boundary (`component/func/typed.rs` and `options.rs` in wasmtime 48): a
/// pointer or length out of bounds of memory, a misaligned pointer, a bad discriminant,
/// a string that is not UTF-8.
const CANONICAL_ABI_FAULTS: [&str; 4] = ["out of bounds", "not aligned", "discriminant", "utf-8"];

/// Whether `error` is the component model's refusal of a guest's values: the guest's
/// fault, as the core ABI's bad pointers are, so it ends as `trap(bad_pointer)` and not as
/// the host's error.
fn is_canonical_abi_fault(error: &wasmtime::Error) -> bool {
    let cause = error.root_cause().to_string();
    CANONICAL_ABI_FAULTS
        .iter()
        .any(|fault| cause.contains(fault))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_raised_error_becomes_its_exit() {
        let of = |e| exit_reason_of(wasmtime::Error::new(e));
        assert_eq!(of(GuestExit(3)), ExitReason::Normal { code: 3 });
        assert_eq!(
            exit_reason_of(wasmtime::Error::new(Interrupt::Deadline)),
            ExitReason::Deadline
        );
        assert_eq!(
            exit_reason_of(wasmtime::Error::new(Interrupt::Killed)),
            ExitReason::Killed
        );
        assert_eq!(
            exit_reason_of(wasmtime::Error::new(GuestPanic("boom".into()))),
            ExitReason::Trap {
                code: TrapCode::Panic,
                message: "boom".into()
            }
        );
        assert_eq!(
            exit_reason_of(wasmtime::Error::new(wasmtime::Trap::OutOfFuel)),
            ExitReason::OutOfFuel
        );
        let bad = exit_reason_of(wasmtime::Error::new(BadPointer {
            function: "send",
            detail: "range".into(),
        }));
        assert!(
            matches!(&bad, ExitReason::Trap { code: TrapCode::BadPointer, message } if message == "bad pointer in shoal.send: range"),
            "{bad}"
        );
        assert!(matches!(
            exit_reason_of(wasmtime::Error::msg("other")),
            ExitReason::HostError { .. }
        ));
        assert_eq!(
            exit_reason_of(
                wasmtime::Error::msg("list pointer/length out of bounds of memory")
                    .context("error while executing at wasm backtrace")
            ),
            ExitReason::Trap {
                code: TrapCode::BadPointer,
                message: "list pointer/length out of bounds of memory".into()
            }
        );
    }
}
