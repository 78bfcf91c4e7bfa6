//! Request and reply over an alias, Erlang's `gen:call` pattern: the requester monitors
//! the receiver and opens the monitor's reference as an alias of its mailbox, sends the
//! request with the alias in front of the payload, and waits for a message tagged with
//! it: the reply, or the `DOWN` if the receiver ends first. Afterwards the monitor is
//! removed (a queued `DOWN` with it) and the alias closed, so a late reply is dropped and
//! never lands in a later receive.

use std::time::Duration;

use shoal_executor::SendError;
use shoal_proc::{ExitReason, Message, MessageKind, Pid, Reference};

use super::NativeContext;

impl NativeContext {
    /// Sends `data` with `tag` to `to` with a reply alias, and waits at most `timeout` for
    /// the reply: a message tagged with the alias. The request's payload is the alias
    /// (8 bytes, little-endian) followed by `data`; the server replies by sending to the
    /// sender with the alias as the tag. If `to` ends before it replies, the wait ends at
    /// once with [`RequestError::Ended`] and its reason. After a timeout the alias is
    /// closed, so a late reply is dropped and no later receive can take it.
    pub async fn request(
        &self,
        to: Pid,
        tag: u64,
        data: &[u8],
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        // The alias is the reference of a monitor of `to` (Erlang's monitor with
        // `{alias, demonitor}`): one receive of that tag takes the reply or, if `to` ends
        // first, its `DOWN`.
        let reference = self.monitor_alias(to);
        let mut payload = Vec::with_capacity(8 + data.len());
        payload.extend_from_slice(&reference.to_bits().to_le_bytes());
        payload.extend_from_slice(data);
        let sent = self.send(to, tag, payload);
        let reply = match sent {
            Ok(()) => self.receive(Some(reference.to_bits()), Some(timeout)).await,
            Err(_) => None,
        };
        self.demonitor(reference, true);
        self.unalias(reference);
        sent.map_err(RequestError::Send)?;
        match reply {
            None => Err(RequestError::Timeout),
            Some(message) => match message.kind {
                MessageKind::Down { reason, .. } => Err(RequestError::Ended(reason)),
                _ => Ok(message),
            },
        }
    }
}

/// A request got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The request could not be sent.
    #[error("request not sent: {0}")]
    Send(SendError),
    /// No reply came in time; a late one will be dropped.
    #[error("no reply in time")]
    Timeout,
    /// The receiver ended, with this reason, before it replied.
    #[error("the receiver ended before replying: {0}")]
    Ended(ExitReason),
}

/// Splits a request made by [`NativeContext::request`] (or the guest SDK) into the alias
/// to reply to and the payload. `None` if it is too short or the alias is not a reference.
pub fn split_request(data: &[u8]) -> Option<(Reference, &[u8])> {
    let (alias, rest) = data.split_first_chunk::<8>()?;
    Some((Reference::from_bits(u64::from_le_bytes(*alias))?, rest))
}
