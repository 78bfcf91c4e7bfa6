//! The ABI's status codes (docs/ABI.md, "Status codes" and "More status codes").
//!
//! Host functions that can fail return one of these negative values; pids, lengths and
//! references are never negative, so a negative result is always a status. The values
//! are stable. The rest of the crate maps them to typed errors at each call; a status a
//! function is not documented to return means the SDK and the host disagree about the
//! ABI, a broken invariant, and panics through [`unexpected`].

/// Success.
pub const OK: i32 = 0;
/// The target pid is dead, or never existed (also: no process has the name).
pub const NOPROC: i32 = -1;
/// The target's mailbox is at its bound; the message was not queued.
pub const MAILBOX_FULL: i32 = -2;
/// A receive timed out.
pub const TIMEOUT: i32 = -3;
/// `message_*` was called with no current message.
pub const NO_MESSAGE: i32 = -4;
/// Spawn refused: the runtime is at its process capacity.
pub const CAPACITY: i32 = -5;
/// Spawn refused: no such export, or its type is not an entry type.
pub const BAD_EXPORT: i32 = -6;
/// Send refused: the message is larger than the runtime's limit (16 MiB).
pub const TOO_LARGE: i32 = -7;
/// Spawn refused: the runtime is shutting down.
pub const SHUTTING_DOWN: i32 = -8;
/// `register`: the name is registered to a live process already.
pub const NAME_TAKEN: i32 = -9;
/// `register`: the process has a registered name already.
pub const ALREADY_NAMED: i32 = -10;
/// `exit_signal`: the reason kind cannot be sent.
pub const BAD_REASON: i32 = -11;
/// A name is empty, longer than 255 bytes, or not UTF-8.
pub const BAD_NAME: i32 = -12;

/// A status `function` is not documented to return: the SDK and the host disagree.
#[cold]
#[track_caller]
pub(crate) fn unexpected(function: &str, status: i64) -> ! {
    panic!("shoal.{function} returned {status}, which docs/ABI.md does not allow it")
}
