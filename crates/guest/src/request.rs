//! Request/reply over aliases: a call that waits for its own answer and nothing else.
//!
//! # The protocol (docs/ABI.md, "References")
//! 1. The requester opens an alias: a fresh [`Reference`], open in its mailbox.
//! 2. It sends the request with the alias inside.
//! 3. The server answers with a data message to the requester whose tag is the alias.
//! 4. The requester waits with `receive_tag(alias, timeout)`, so every other message
//!    stays queued in order, and then closes the alias whether or not a reply came.
//!
//! Once the alias is closed, the host drops any message tagged with it on arrival (and
//! `unalias` removes one already queued), so a reply that comes after the timeout never
//! lands in a later receive: the requester's mailbox cannot fill with stale answers, and a
//! later request cannot take an earlier one's reply by mistake.
//!
//! # Two envelopes
//! - [`request`] sends a [`Request<Q>`]: the alias as 8 bytes little-endian, then the body
//!   in postcard. That is the runtime's own request format, the one the host's
//!   `NativeContext::request` sends and `shoal::split_request` takes apart, so guests and
//!   native processes can call each other. The reply goes to the request's sender:
//!   the server reads it with a `Mailbox<Request<Q>>` and answers with
//!   [`Request::reply`]`(from, &reply)`.
//! - A server that takes several kinds of message puts a [`ReplyTo`] (pid and alias)
//!   inside its own message enum instead, and the requester builds that message with
//!   [`request_with`]; the server answers with [`ReplyTo::send`].
//!
//! A request notices the server dying, as Erlang's `gen:call` does: its alias is the
//! reference of a monitor of the server (`monitor_alias`), so the one selective receive
//! takes the reply or the server's `DOWN`, and a server that ends first is
//! [`RequestError::Ended`] with its reason at once ([`SendError::NoProc`] if it was
//! already dead at the send).

use std::time::Duration;

use serde::de::{self, DeserializeOwned, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

use crate::error::SendError;
use crate::mailbox::{self, DEFAULT_TAG, DecodeError, Received};
use crate::pid::{Pid, Reference};
use crate::reason::ExitReason;
use crate::{status, sys};

/// Bytes of the alias at the front of a [`Request`]: a `u64`, little-endian.
pub const ALIAS_BYTES: usize = 8;

/// Where a reply goes: the requester and the alias it waits on.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ReplyTo {
    /// The requester.
    pub pid: Pid,
    /// The alias the requester waits on; the reply's tag.
    pub alias: Reference,
}

impl ReplyTo {
    /// Sends `reply` to the requester. `Ok` also when the requester has given up: the
    /// host drops the reply then, as the protocol intends.
    pub fn send<R: Serialize + ?Sized>(&self, reply: &R) -> Result<(), SendError> {
        mailbox::send_tagged(self.pid, self.alias.to_raw(), reply)
    }
}

/// A request as [`request`] sends it: the alias to reply to, and the body. On the wire,
/// `alias.to_le_bytes()` then the body in postcard.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Request<Q> {
    /// The alias the requester waits on; the reply's tag.
    pub alias: Reference,
    /// What is asked.
    pub body: Q,
}

impl<Q> Request<Q> {
    /// Where the reply goes, given the request's sender (the `from` of the
    /// [`Received::Data`] it came in).
    pub fn reply_to(&self, from: Pid) -> ReplyTo {
        ReplyTo {
            pid: from,
            alias: self.alias,
        }
    }

    /// Answers the request that `from` sent (see [`ReplyTo::send`]).
    pub fn reply<R: Serialize + ?Sized>(&self, from: Pid, reply: &R) -> Result<(), SendError> {
        self.reply_to(from).send(reply)
    }
}

// The alias as a fixed 8-byte tuple: postcard writes a tuple of `u8`s as the raw bytes,
// with no length, so the encoding is exactly `alias (8 bytes LE) ++ postcard(body)`.
impl<Q: Serialize> Serialize for Request<Q> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&self.alias.to_raw().to_le_bytes())?;
        tuple.serialize_element(&self.body)?;
        tuple.end()
    }
}

impl<'de, Q: Deserialize<'de>> Deserialize<'de> for Request<Q> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RequestVisitor<Q>(std::marker::PhantomData<Q>);

        impl<'de, Q: Deserialize<'de>> Visitor<'de> for RequestVisitor<Q> {
            type Value = Request<Q>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a request: an 8-byte alias, then the body")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Request<Q>, A::Error> {
                let alias: [u8; ALIAS_BYTES] = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let alias = Reference::from_raw(u64::from_le_bytes(alias))
                    .ok_or_else(|| de::Error::custom("the alias is not a reference"))?;
                let body = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                Ok(Request { alias, body })
            }
        }

        deserializer.deserialize_tuple(2, RequestVisitor(std::marker::PhantomData))
    }
}

/// A request that got no usable reply.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum RequestError {
    /// The request could not be sent (the server is not alive, its mailbox is full...).
    #[error("the request was not sent: {0}")]
    Send(#[from] SendError),
    /// No reply within the timeout (the server may be slow, or dead). A reply that comes
    /// later is dropped.
    #[error("no reply within the timeout")]
    Timeout,
    /// A reply came and did not decode as the reply type.
    #[error("the reply did not decode: {0}")]
    Decode(#[from] DecodeError),
    /// The server ended, with this reason, before it replied.
    #[error("the server ended before replying: {0}")]
    Ended(ExitReason),
}

/// Opens an alias: a fresh reference; data messages tagged with it reach this process
/// until [`unalias`] closes it.
///
/// # Panics
/// If the runtime's memory budget cannot take the alias (`OVER_BUDGET`): possible only
/// for a process that already holds more aliases than its free allowance (docs/ABI.md).
pub fn alias() -> Reference {
    Reference::from_host("alias", sys::alias())
}

/// Closes `alias` and removes queued messages tagged with it; true if it was open.
pub fn unalias(alias: Reference) -> bool {
    match sys::unalias(alias.to_raw()) {
        0 => false,
        1 => true,
        other => status::unexpected("unalias", other.into()),
    }
}

/// Sends `body` to `pid` as a [`Request`] (tag [`DEFAULT_TAG`]) and waits at most
/// `timeout` for the reply.
pub fn request<Q, R>(pid: Pid, body: &Q, timeout: Duration) -> Result<R, RequestError>
where
    Q: Serialize + ?Sized,
    R: DeserializeOwned,
{
    request_tagged(pid, DEFAULT_TAG, body, timeout)
}

/// [`request`] with the request sent under `tag` (for a server that tells requests from
/// other messages by tag, as native servers using `shoal::split_request` may).
pub fn request_tagged<Q, R>(
    pid: Pid,
    tag: u64,
    body: &Q,
    timeout: Duration,
) -> Result<R, RequestError>
where
    Q: Serialize + ?Sized,
    R: DeserializeOwned,
{
    call(pid, timeout, |alias| {
        mailbox::send_tagged(pid, tag, &Request { alias, body })
    })
}

/// Sends the message `make` builds around a fresh [`ReplyTo`] to `pid`, and waits at
/// most `timeout` for the reply. For servers whose message type is an enum with a
/// `ReplyTo` in its requests: `request_with(room, t, Room::Members)`.
pub fn request_with<M, R>(
    pid: Pid,
    timeout: Duration,
    make: impl FnOnce(ReplyTo) -> M,
) -> Result<R, RequestError>
where
    M: Serialize,
    R: DeserializeOwned,
{
    let me = crate::self_pid();
    call(pid, timeout, |alias| {
        mailbox::send(pid, &make(ReplyTo { pid: me, alias }))
    })
}

/// The protocol (module docs): monitor `server` under a reference that is also an
/// alias, `send` with it, wait for the message tagged with it (the reply, or the `DOWN`
/// if the server ends first), then remove both on every path.
fn call<R: DeserializeOwned>(
    server: Pid,
    timeout: Duration,
    send: impl FnOnce(Reference) -> Result<(), SendError>,
) -> Result<R, RequestError> {
    let alias = match sys::monitor_alias(server.to_raw()) {
        raw if raw == i64::from(crate::status::OVER_BUDGET) => {
            return Err(RequestError::Send(SendError::OverBudget));
        }
        raw => Reference::from_host("monitor_alias", raw),
    };
    let outcome = send(alias).map_err(RequestError::from).and_then(|()| {
        mailbox::receive_tag(alias.to_raw(), Some(timeout)).ok_or(RequestError::Timeout)
    });
    // From here on, a reply to this request is dropped on arrival, and so is the DOWN.
    crate::demonitor(alias, true);
    unalias(alias);
    match outcome?.decode::<R>()? {
        Received::Data { msg, .. } => Ok(msg),
        Received::Down { reason, .. } => Err(RequestError::Ended(reason)),
        // An EXIT's tag is 0, never an alias.
        Received::Exit { .. } => unreachable!("a message tagged with an alias is no EXIT"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias() -> Reference {
        Reference::from_raw((1 << 62) | 0x10).unwrap()
    }

    fn pid() -> Pid {
        Pid::from_raw((1 << 32) | 3).unwrap()
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    enum Room {
        Say(String),
        Members(ReplyTo),
    }

    #[test]
    fn a_request_is_the_alias_little_endian_then_the_body_in_postcard() {
        let body = (7u8, String::from("how many?"));
        let bytes = mailbox::encode(&Request {
            alias: alias(),
            body: &body,
        })
        .unwrap();
        let mut expected = alias().to_raw().to_le_bytes().to_vec();
        expected.extend(postcard::to_allocvec(&body).unwrap());
        assert_eq!(bytes, expected);
        assert_eq!(bytes.len(), ALIAS_BYTES + 1 + 1 + 9);
    }

    #[test]
    fn a_request_sent_by_reference_decodes_as_the_owned_type() {
        let body = String::from("how many?");
        let bytes = mailbox::encode(&Request {
            alias: alias(),
            body: &body,
        })
        .unwrap();
        let decoded: Request<String> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(decoded.alias, alias());
        assert_eq!(decoded.body, body);
    }

    #[test]
    fn a_request_whose_alias_is_not_a_reference_does_not_decode() {
        let mut bytes = 5u64.to_le_bytes().to_vec();
        bytes.push(1);
        assert!(postcard::from_bytes::<Request<u8>>(&bytes).is_err());
        assert!(postcard::from_bytes::<Request<u8>>(&[1, 2, 3]).is_err());
    }

    #[test]
    fn the_reply_goes_to_the_sender_tagged_with_the_alias() {
        let request = Request {
            alias: alias(),
            body: (),
        };
        assert_eq!(
            request.reply_to(pid()),
            ReplyTo {
                pid: pid(),
                alias: alias()
            }
        );
    }

    #[test]
    fn a_reply_to_travels_inside_a_servers_own_enum() {
        let reply_to = ReplyTo {
            pid: pid(),
            alias: alias(),
        };
        let bytes = mailbox::encode(&Room::Members(reply_to)).unwrap();
        assert_eq!(
            postcard::from_bytes::<Room>(&bytes).unwrap(),
            Room::Members(reply_to)
        );
        let other = mailbox::encode(&Room::Say("x".into())).unwrap();
        assert_eq!(
            postcard::from_bytes::<Room>(&other).unwrap(),
            Room::Say("x".into())
        );
    }

    #[test]
    #[should_panic(expected = "only available inside a Shoal guest")]
    fn requests_need_a_guest() {
        let _ = request::<u8, u8>(pid(), &1, Duration::from_millis(1));
    }
}
