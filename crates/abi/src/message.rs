//! Messages: the kind numbers `message_kind()` returns, and the limits on what a process
//! sends (docs/ABI.md, "Message kinds", "Names").
//!
//! A mailbox holds data messages and two kinds of system message in one queue; a
//! guest tells them apart by these numbers, never by tag.

/// `message_kind()` of a data message, sent with `send` (or by the host).
pub const DATA: i32 = 0;
/// `message_kind()` of `EXIT`: an exit signal turned into a message because the receiver
/// traps exits. Its bytes are the encoded [`ExitReason`](crate::ExitReason).
pub const EXIT: i32 = 1;
/// `message_kind()` of `DOWN`: a monitored process ended. Its tag is the monitor's
/// reference and its bytes the encoded [`ExitReason`](crate::ExitReason).
pub const DOWN: i32 = 2;

/// The largest message a process may send: 16 MiB; a larger send is refused with
/// [`TOO_LARGE`](crate::status::TOO_LARGE). Every send copies its bytes into the
/// receiver's mailbox, so payloads larger than this belong in shared storage, not in a
/// copy per send.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// The longest registered name, in bytes of UTF-8 (names are 1 to 255 bytes); a longer
/// one is refused with [`BAD_NAME`](crate::status::BAD_NAME). Erlang puts the same bound
/// on an atom, the type of its registered names.
pub const MAX_NAME_BYTES: usize = 255;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_kinds_are_zero_one_two() {
        assert_eq!([DATA, EXIT, DOWN], [0, 1, 2]);
    }

    #[test]
    fn the_limits_are_sixteen_mebibytes_and_255_bytes() {
        assert_eq!(MAX_MESSAGE_BYTES, 16 * 1024 * 1024);
        assert_eq!(MAX_NAME_BYTES, 255);
    }
}
