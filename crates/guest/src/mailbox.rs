//! The mailbox: receiving messages, typed and raw, and sending them.
//!
//! # Three kinds of message, one queue
//! A process's mailbox holds data messages (sent with [`send`]) and two kinds of system
//! message: `EXIT` (an exit signal from a link, turned into a message because the process
//! traps exits) and `DOWN` (a monitored process ended). They share one queue, in the order
//! they were sent per sender (docs/ABI.md, "Message kinds").
//!
//! # Typed and raw
//! - [`Mailbox<M>`] is the typed view: [`Mailbox::receive`] takes the oldest message of any
//!   kind and returns a [`Received<M>`], decoding a data message's bytes as `M` with
//!   postcard and an `EXIT`'s or `DOWN`'s reason as an [`ExitReason`]. Bytes that do not
//!   decode are a [`DecodeError`] that carries the message, never a panic: a stray message
//!   must not crash an actor.
//! - [`receive_raw`] and [`receive_tag`] are the raw level: a [`RawMessage`] with its
//!   kind, sender, tag and bytes, the latter selective by tag (the oldest message with
//!   that tag; others stay queued in order). [`RawMessage::decode`] is the typed decoding.
//!
//! # Tags
//! [`send`] uses tag [`DEFAULT_TAG`]; [`send_tagged`] any other. Tags in the reference
//! range `[2^62, 2^63)` are reserved for replies to aliases (see `request`): a data message
//! with such a tag reaches only a process that has it open as an alias.
//!
//! # Timeouts
//! `None` waits forever; `Some(d)` waits at least `d`, rounded up to whole milliseconds
//! (the ABI's unit) so that a short non-zero timeout still waits; `Some(Duration::ZERO)`
//! does not wait.

use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use shoal_abi::message;

use crate::error::SendError;
use crate::pid::{Pid, Reference};
use crate::reason::{ExitReason, WireError};
use crate::{status, sys};

/// The tag [`send`] uses. `EXIT` messages have tag 0 too, but [`Mailbox::receive`] tells
/// them apart by kind, not by tag.
pub const DEFAULT_TAG: u64 = 0;

/// What kind of message it is (`message_kind()`).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum MessageKind {
    /// `0`: sent with `send`.
    Data,
    /// `1`: an exit signal turned into a message (the process traps exits).
    Exit,
    /// `2`: a monitored process ended.
    Down,
    /// A kind this SDK does not know (a newer host).
    Unknown(i32),
}

impl MessageKind {
    fn from_raw(kind: i32) -> MessageKind {
        match kind {
            message::DATA => MessageKind::Data,
            message::EXIT => MessageKind::Exit,
            message::DOWN => MessageKind::Down,
            other => MessageKind::Unknown(other),
        }
    }
}

/// A message as the host delivers it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RawMessage {
    /// Data, `EXIT` or `DOWN`.
    pub kind: MessageKind,
    /// The sender (data), the process the signal is from (`EXIT`), or the monitored
    /// process (`DOWN`); `None` for the host.
    pub from: Option<Pid>,
    /// The sender's tag (data), 0 (`EXIT`), or the monitor's reference (`DOWN`).
    pub tag: u64,
    /// The payload (data) or the encoded reason (`EXIT`, `DOWN`).
    pub bytes: Vec<u8>,
}

/// A message, decoded.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Received<M> {
    /// A data message that decoded as `M`.
    Data {
        /// The sender; `None` for the host.
        from: Option<Pid>,
        /// The message.
        msg: M,
    },
    /// An exit signal from a linked process (or one that called `exit` on us), received
    /// as a message because this process traps exits.
    Exit {
        /// Where the signal came from; `None` for the host.
        from: Option<Pid>,
        /// Its reason.
        reason: ExitReason,
    },
    /// A monitored process ended (or was not alive when the monitor was set).
    Down {
        /// The monitor's reference, as `monitor` or `spawn_monitor` returned it.
        reference: Reference,
        /// The monitored process.
        pid: Pid,
        /// Why it ended.
        reason: ExitReason,
    },
}

/// Why a message did not decode.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum DecodeCause {
    /// A data message's bytes are not a postcard encoding of the mailbox's type.
    #[error("the payload does not decode: {0}")]
    Payload(postcard::Error),
    /// An `EXIT` or `DOWN` carries bytes that are not an exit reason.
    #[error("the exit reason does not decode: {0}")]
    Reason(#[from] WireError),
    /// A `DOWN` whose tag is not a reference, or that names no process.
    #[error("a DOWN message without a reference or a pid")]
    Down,
    /// A message kind this SDK does not know.
    #[error("unknown message kind {0}")]
    Kind(i32),
}

/// A message that did not decode, and why. It has been taken from the mailbox; the
/// message is here in full, so the caller may log it, decode it otherwise, or drop it.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("a {:?} message from {:?} with tag {} did not decode: {cause}", message.kind, message.from, message.tag)]
pub struct DecodeError {
    /// The message.
    pub message: RawMessage,
    /// Why it did not decode.
    pub cause: DecodeCause,
}

/// The typed `receive_timeout`'s error: nothing came in time, or what came did not decode.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ReceiveError {
    /// No message arrived within the timeout.
    #[error("no message within the timeout")]
    Timeout,
    /// A message arrived and did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl RawMessage {
    /// Decodes the message: a data message's bytes as `M`, a system message's reason.
    pub fn decode<M: DeserializeOwned>(self) -> Result<Received<M>, DecodeError> {
        let fail = |message, cause| Err(DecodeError { message, cause });
        match self.kind {
            MessageKind::Data => match postcard::from_bytes(&self.bytes) {
                Ok(msg) => Ok(Received::Data {
                    from: self.from,
                    msg,
                }),
                Err(e) => fail(self, DecodeCause::Payload(e)),
            },
            MessageKind::Exit => match ExitReason::from_wire(&self.bytes) {
                Ok(reason) => Ok(Received::Exit {
                    from: self.from,
                    reason,
                }),
                Err(e) => fail(self, e.into()),
            },
            MessageKind::Down => {
                let (Some(reference), Some(pid)) = (Reference::from_raw(self.tag), self.from)
                else {
                    return fail(self, DecodeCause::Down);
                };
                match ExitReason::from_wire(&self.bytes) {
                    Ok(reason) => Ok(Received::Down {
                        reference,
                        pid,
                        reason,
                    }),
                    Err(e) => fail(self, e.into()),
                }
            }
            MessageKind::Unknown(kind) => fail(self, DecodeCause::Kind(kind)),
        }
    }
}

/// The ABI's `timeout_ms` for `timeout` (see the module docs).
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> i64 {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            i64::try_from(ms).unwrap_or(i64::MAX)
        }
    }
}

/// Takes the oldest message, waiting at most `timeout` (`None`: forever); `None` if the
/// wait timed out.
pub fn receive_raw(timeout: Option<Duration>) -> Option<RawMessage> {
    take_current("receive", sys::receive(timeout_ms(timeout)))
}

/// Takes the oldest message whose tag is `tag`, waiting at most `timeout` (`None`:
/// forever); other messages stay queued in their order. `None` if the wait timed out.
/// With a monitor's reference as the tag, this waits for that monitor's `DOWN`.
pub fn receive_tag(tag: u64, timeout: Option<Duration>) -> Option<RawMessage> {
    take_current("receive_tag", sys::receive_tag(tag, timeout_ms(timeout)))
}

/// Reads the current message after a receive returned `length`.
fn take_current(function: &str, length: i64) -> Option<RawMessage> {
    if length == i64::from(status::TIMEOUT) {
        return None;
    }
    let Ok(size) = usize::try_from(length) else {
        status::unexpected(function, length)
    };
    let mut bytes = vec![0u8; size];
    let read = sys::message_read(&mut bytes);
    if usize::try_from(read) != Ok(size) {
        status::unexpected("message_read", read.into());
    }
    let from = match sys::message_sender() {
        -1 => None,
        sender => Some(
            Pid::from_raw(sender).unwrap_or_else(|| status::unexpected("message_sender", sender)),
        ),
    };
    let kind = match sys::message_kind() {
        status::NO_MESSAGE => status::unexpected("message_kind", status::NO_MESSAGE.into()),
        kind => MessageKind::from_raw(kind),
    };
    Some(RawMessage {
        kind,
        from,
        tag: sys::message_tag() as u64,
        bytes,
    })
}

/// A typed view of this process's mailbox: data messages decode as `M`.
///
/// It holds nothing: every `Mailbox` of a process reads the same queue, so a process
/// that expects different types at different times makes a `Mailbox` of each (or one of
/// an enum of them).
pub struct Mailbox<M> {
    _messages: PhantomData<fn() -> M>,
}

impl<M: DeserializeOwned> Mailbox<M> {
    /// The caller's mailbox, decoding data messages as `M`.
    pub fn new() -> Mailbox<M> {
        Mailbox {
            _messages: PhantomData,
        }
    }

    /// Takes the oldest message, waiting as long as it takes.
    pub fn receive(&self) -> Result<Received<M>, DecodeError> {
        receive_raw(None)
            .unwrap_or_else(|| status::unexpected("receive", status::TIMEOUT.into()))
            .decode()
    }

    /// Takes the oldest message, waiting at most `timeout` (`Duration::ZERO`: only one
    /// already queued).
    pub fn receive_timeout(&self, timeout: Duration) -> Result<Received<M>, ReceiveError> {
        match receive_raw(Some(timeout)) {
            Some(message) => Ok(message.decode()?),
            None => Err(ReceiveError::Timeout),
        }
    }
}

impl<M: DeserializeOwned> Default for Mailbox<M> {
    fn default() -> Self {
        Mailbox::new()
    }
}

impl<M> std::fmt::Debug for Mailbox<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mailbox")
    }
}

/// The postcard bytes of `msg`, as [`send`] sends them.
pub fn encode<M: Serialize + ?Sized>(msg: &M) -> Result<Vec<u8>, SendError> {
    postcard::to_allocvec(msg).map_err(|_| SendError::Encode)
}

/// Sends `msg`, postcard-encoded, to `pid` with tag [`DEFAULT_TAG`].
pub fn send<M: Serialize + ?Sized>(pid: Pid, msg: &M) -> Result<(), SendError> {
    send_tagged(pid, DEFAULT_TAG, msg)
}

/// Sends `msg`, postcard-encoded, to `pid` with `tag`.
pub fn send_tagged<M: Serialize + ?Sized>(pid: Pid, tag: u64, msg: &M) -> Result<(), SendError> {
    send_bytes(pid, tag, &encode(msg)?)
}

/// Sends `bytes` as they are to `pid` with `tag`. To a process of another node whose
/// queue is full, waits like a receive until it has room (docs/ABI.md, `wait_node`).
pub fn send_bytes(pid: Pid, tag: u64, bytes: &[u8]) -> Result<(), SendError> {
    let status = sys::sending(|| sys::send(pid.to_raw(), tag, bytes));
    SendError::check("send", status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    enum Chat {
        Say(String),
        Leave,
    }

    fn pid(n: i64) -> Pid {
        Pid::from_raw(n).unwrap()
    }

    fn data(bytes: Vec<u8>) -> RawMessage {
        RawMessage {
            kind: MessageKind::Data,
            from: Some(pid(4)),
            tag: DEFAULT_TAG,
            bytes,
        }
    }

    #[test]
    fn a_data_message_decodes_as_the_mailbox_type() {
        let bytes = encode(&Chat::Say("hi".into())).unwrap();
        assert_eq!(
            data(bytes).decode::<Chat>(),
            Ok(Received::Data {
                from: Some(pid(4)),
                msg: Chat::Say("hi".into())
            })
        );
    }

    #[test]
    fn a_message_of_another_type_is_a_decode_error_that_keeps_it() {
        let message = data(vec![7, 1, 2]);
        let error = message.clone().decode::<Chat>().unwrap_err();
        assert_eq!(error.message, message);
        assert!(matches!(error.cause, DecodeCause::Payload(_)), "{error}");
    }

    #[test]
    fn an_exit_message_carries_the_decoded_reason() {
        let message = RawMessage {
            kind: MessageKind::Exit,
            from: Some(pid(9)),
            tag: 0,
            bytes: ExitReason::Shutdown.to_wire(),
        };
        assert_eq!(
            message.decode::<Chat>(),
            Ok(Received::Exit {
                from: Some(pid(9)),
                reason: ExitReason::Shutdown
            })
        );
    }

    #[test]
    fn a_down_message_carries_reference_pid_and_reason() {
        let reference = Reference::from_raw((1 << 62) + 5).unwrap();
        let message = RawMessage {
            kind: MessageKind::Down,
            from: Some(pid(9)),
            tag: reference.to_raw(),
            bytes: ExitReason::NoProc.to_wire(),
        };
        assert_eq!(
            message.decode::<Chat>(),
            Ok(Received::Down {
                reference,
                pid: pid(9),
                reason: ExitReason::NoProc
            })
        );
    }

    #[test]
    fn a_down_without_a_reference_tag_is_a_decode_error() {
        let message = RawMessage {
            kind: MessageKind::Down,
            from: Some(pid(9)),
            tag: 3,
            bytes: ExitReason::NoProc.to_wire(),
        };
        let error = message.decode::<Chat>().unwrap_err();
        assert_eq!(error.cause, DecodeCause::Down);
    }

    #[test]
    fn an_unknown_kind_is_a_decode_error() {
        let message = RawMessage {
            kind: MessageKind::from_raw(7),
            ..data(vec![])
        };
        assert_eq!(
            message.decode::<Chat>().unwrap_err().cause,
            DecodeCause::Kind(7)
        );
    }

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_millis(250))), 250);
        assert_eq!(timeout_ms(Some(Duration::from_micros(250_001))), 251);
        assert_eq!(timeout_ms(Some(Duration::MAX)), i64::MAX);
    }

    #[test]
    #[should_panic(expected = "only available inside a Shoal guest")]
    fn the_host_module_is_a_stub_outside_a_guest() {
        let _ = send(pid(1), &Chat::Leave);
    }
}
