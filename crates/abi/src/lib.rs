//! The guest ABI's numbers and encodings, defined once.
//!
//! A Shoal guest and the Shoal host talk across the wasm boundary in `i32`s, `i64`s and
//! bytes. Every value whose meaning both sides must agree on lives here, and only here:
//! the status codes host calls return, the message kinds `message_kind()` reports, the
//! size limits, the reference range, the trap code numbers, and the exit reason with its
//! wire encoding. A disagreement between host and guest is then a compile error or a
//! version bump of this crate, never two tables that drift apart.
//!
//! | file | holds |
//! |---|---|
//! | `status` | the status codes: `OK` and the negative failures |
//! | `message` | message kind numbers, the message size and name length limits |
//! | `reference` | the reference range `[2^62, 2^63)` and [`is_reference`] |
//! | `trap` | [`TrapCode`] and its stable numbers |
//! | `reason` | [`ExitReason`], [`ExitKind`] and the reason's wire codec |
//!
//! # Who uses it
//! - `shoal-proc`, the host's process model: its exits, mailboxes, references and
//!   registry use these types and constants (and re-export them under their old paths).
//! - The host ABI in `shoal-scheduler`: the `shoal` host module returns these statuses,
//!   enforces these limits and encodes reasons with [`ExitReason::to_wire`].
//! - `shoal-guest`, the SDK for Rust guests: it decodes reasons with
//!   [`ExitReason::from_wire`] and maps these statuses to typed errors.
//!
//! The crate has no dependencies and is `no_std` with `alloc`, so it builds for
//! `wasm32-unknown-unknown` as well as for the host, and costs either side nothing.
//!
//! # Stability
//! Every value here is part of the guest ABI, documented in docs/ABI.md ("Status codes",
//! "Message kinds", "Exit reasons on the wire", "References", "Names"). A compiled guest
//! carries these numbers in its code, so they are stable: a value is never changed or
//! reused, only added.
//!
//! # Invariants
//! - Every status but `OK` (0) is negative, and no two are equal. Pids, lengths and
//!   references are never negative, so a negative result is always a status.
//! - Message kind numbers (0 data, 1 exit, 2 down), exit kind numbers (0 to 8) and trap
//!   code numbers (0 to 13, 255 for other) never change.
//! - References lie in `[2^62, 2^63)`: positive as an `i64`, so never equal to a status,
//!   and above the tags applications use for data.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod message;
mod reason;
mod reference;
pub mod status;
mod trap;

pub use message::{MAX_MESSAGE_BYTES, MAX_NAME_BYTES};
pub use reason::{ExitKind, ExitReason, WIRE_HEADER, WireError};
pub use reference::{REFERENCE_BASE, is_reference};
pub use trap::TrapCode;
