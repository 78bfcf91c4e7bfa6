//! Registered names: one name per live process, one process per name, released when the
//! process ends (by the exit hook, before its exit signals go out).

use shoal_executor::{Executor, SendError};
use shoal_proc::{Message, NodeId, Pid, RegisterError, check_name};

use super::Actors;

/// Registers the live process `pid` as `name`.
pub(crate) fn register(
    executor: &Executor,
    actors: &Actors,
    name: &str,
    pid: Pid,
) -> Result<(), RegisterError> {
    let process = executor.process(pid);
    actors
        .registry
        .register(name, pid, process.as_deref().map(|p| &p.core))
}

/// Removes `name`; the pid it named.
pub(crate) fn unregister(executor: &Executor, actors: &Actors, name: &str) -> Option<Pid> {
    actors
        .registry
        .unregister(name, |pid| executor.process(pid))
}

/// The live process registered as `name`.
pub(crate) fn whereis(actors: &Actors, name: &str) -> Option<Pid> {
    actors.registry.whereis(name)
}

/// Sends `message` to the process registered as `name` on `node`: this runtime's
/// registry for its own node, the transport's for another.
pub(crate) fn send_name_on(
    executor: &Executor,
    actors: &Actors,
    node: NodeId,
    name: &str,
    message: Message,
) -> Result<(), SendError> {
    if node == executor.node() {
        return send_name(executor, actors, name, message);
    }
    check_name(name).map_err(|_| SendError::NoName(name.to_owned()))?;
    match super::remote::remote_of(actors) {
        Some(remote) => remote.send_name(node, name, message),
        None => Err(SendError::NoName(format!("{name} on node {node}"))),
    }
}

/// Sends `message` to the process registered as `name`.
pub(crate) fn send_name(
    executor: &Executor,
    actors: &Actors,
    name: &str,
    message: Message,
) -> Result<(), SendError> {
    let pid = whereis(actors, name).ok_or_else(|| SendError::NoName(name.to_owned()))?;
    super::send(executor, actors, pid, message)
}
