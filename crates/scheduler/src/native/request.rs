//! Request and reply over an alias, Erlang's `erpc`-style pattern: the requester opens
//! a fresh alias of its mailbox, sends the request with the alias in front of the
//! payload, and waits for a message tagged with the alias. After a timeout the alias is
//! closed, so a late reply is dropped and never lands in a later receive.

use std::time::Duration;

use shoal_executor::SendError;
use shoal_proc::{Message, Pid, Reference};

use super::NativeContext;

impl NativeContext {
    /// Sends `data` with `tag` to `to` with a reply alias, and waits at most `timeout` for
    /// the reply: a message tagged with the alias. The request's payload is the alias
    /// (8 bytes, little-endian) followed by `data`; the server replies by sending to the
    /// sender with the alias as the tag. After a timeout the alias is closed, so a late
    /// reply is dropped and no later receive can take it.
    pub async fn request(
        &self,
        to: Pid,
        tag: u64,
        data: &[u8],
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        let alias = self.alias();
        let mut payload = Vec::with_capacity(8 + data.len());
        payload.extend_from_slice(&alias.to_bits().to_le_bytes());
        payload.extend_from_slice(data);
        if let Err(e) = self.send(to, tag, payload) {
            self.unalias(alias);
            return Err(RequestError::Send(e));
        }
        let reply = self.receive(Some(alias.to_bits()), Some(timeout)).await;
        self.unalias(alias);
        reply.ok_or(RequestError::Timeout)
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
}

/// Splits a request made by [`NativeContext::request`] (or the guest SDK) into the alias
/// to reply to and the payload. `None` if it is too short or the alias is not a reference.
pub fn split_request(data: &[u8]) -> Option<(Reference, &[u8])> {
    let (alias, rest) = data.split_first_chunk::<8>()?;
    Some((Reference::from_bits(u64::from_le_bytes(*alias))?, rest))
}
