//! Registered names: a process found by a well-known name instead of a pid.
//!
//! Names are UTF-8, 1 to 255 bytes. A process has at most one name and a name names at
//! most one live process; a name is released when its process ends, before its exit
//! signals go out, so a supervisor that restarts a named server can register the new
//! one as soon as it sees the old one's `EXIT` or `DOWN` (docs/ABI.md, "Names").

use serde::Serialize;

use crate::error::{GlobalNameError, NoProc, RegisterError, SendError};
use crate::mailbox::{self, DEFAULT_TAG};
use crate::pid::Pid;
use crate::{status, sys};

/// Registers `name` for `pid` (usually [`self_pid`](crate::self_pid)).
pub fn register(name: &str, pid: Pid) -> Result<(), RegisterError> {
    RegisterError::check(sys::register(name, pid.to_raw()))
}

/// Releases `name`; [`NoProc`] if no process has it.
pub fn unregister(name: &str) -> Result<(), NoProc> {
    match sys::unregister(name) {
        status::OK => Ok(()),
        status::NOPROC => Err(NoProc),
        other => status::unexpected("unregister", other.into()),
    }
}

/// The process registered under `name`, if any. A name no process could have (empty,
/// longer than 255 bytes) has none.
pub fn whereis(name: &str) -> Option<Pid> {
    match sys::whereis(name) {
        raw if raw >= 0 => Pid::from_raw(raw),
        raw if raw == i64::from(status::NOPROC) || raw == i64::from(status::BAD_NAME) => None,
        other => status::unexpected("whereis", other),
    }
}

/// Registers `name` for `pid`, a live process of this node, across the whole cluster
/// (docs/CLUSTER.md, "Names"), waiting like a receive for the cluster's answer. The name
/// is released when the process or its node dies.
pub fn register_global(name: &str, pid: Pid) -> Result<(), GlobalNameError> {
    let result = sys::register_global(name, pid.to_raw());
    GlobalNameError::check("register_global", result.into())
}

/// Releases the cluster-wide `name`, whoever holds it; [`GlobalNameError::NoProc`] if
/// no live process held it.
pub fn unregister_global(name: &str) -> Result<(), GlobalNameError> {
    let result = sys::unregister_global(name);
    GlobalNameError::check("unregister_global", result.into())
}

/// The process, of any node, registered under the cluster-wide `name`; `Ok(None)` if
/// none is.
pub fn whereis_global(name: &str) -> Result<Option<Pid>, GlobalNameError> {
    match sys::whereis_global(name) {
        raw if raw >= 0 => Ok(Pid::from_raw(raw)),
        raw if raw == i64::from(status::NOPROC) => Ok(None),
        other => GlobalNameError::check("whereis_global", other).map(|()| None),
    }
}

/// Sends `msg`, postcard-encoded, with tag [`DEFAULT_TAG`] to the process registered
/// under `name`; [`SendError::NoProc`] if there is none.
pub fn send_name<M: Serialize + ?Sized>(name: &str, msg: &M) -> Result<(), SendError> {
    send_name_tagged(name, DEFAULT_TAG, msg)
}

/// Sends `msg`, postcard-encoded, with `tag` to the process registered under `name` on
/// the node `node` of a cluster (Erlang's `{name, node} ! msg`);
/// [`SendError::NoProc`] if the node is down or, for this node, no process has the name.
pub fn send_name_on<M: Serialize + ?Sized>(
    node: u16,
    name: &str,
    tag: u64,
    msg: &M,
) -> Result<(), SendError> {
    let bytes = mailbox::encode(msg)?;
    let status = sys::sending(|| sys::send_name_on(node, name, tag, &bytes));
    SendError::check("send_name_on", status)
}

/// [`send_name`] with a tag.
pub fn send_name_tagged<M: Serialize + ?Sized>(
    name: &str,
    tag: u64,
    msg: &M,
) -> Result<(), SendError> {
    let bytes = mailbox::encode(msg)?;
    SendError::check("send_name", sys::send_name(name, tag, &bytes))
}
