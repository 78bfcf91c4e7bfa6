//! The typed errors of host calls: each is the subset of the ABI's statuses (see
//! [`status`](crate::status)) that its calls are documented to return.
//!
//! Decoding errors live with what they decode: [`DecodeError`](crate::DecodeError) in
//! `mailbox`, [`WireError`](crate::WireError) (`shoal-abi`'s) in `reason`, and
//! [`RequestError`](crate::RequestError) in `request`.

use shoal_abi::MAX_NAME_BYTES;

use crate::status;

/// A spawn the runtime refused.
#[derive(Copy, Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum SpawnError {
    /// The runtime is at its process capacity (or at the number of live wasm processes
    /// its memory-mapping budget admits).
    #[error("spawn refused: the runtime is at its process capacity")]
    Capacity,
    /// The module has no such export, or its type is not an entry type.
    #[error("spawn refused: no such export, or its type is not an entry type")]
    BadExport,
    /// The runtime is shutting down.
    #[error("spawn refused: the runtime is shutting down")]
    ShuttingDown,
    /// `spawn_on`: no such node is up.
    #[error("spawn refused: no such node is up")]
    NoNode,
    /// `spawn_on`: the node refused (it does not accept spawns, or the module or its
    /// export failed there).
    #[error("spawn refused by the node")]
    Refused,
}

impl SpawnError {
    /// The pid a spawn call returned, or its error.
    pub(crate) fn check(function: &str, result: i64) -> Result<crate::Pid, SpawnError> {
        if let Some(pid) = crate::Pid::from_raw(result) {
            return Ok(pid);
        }
        Err(match i32::try_from(result) {
            Ok(status::CAPACITY) => SpawnError::Capacity,
            Ok(status::BAD_EXPORT) => SpawnError::BadExport,
            Ok(status::SHUTTING_DOWN) => SpawnError::ShuttingDown,
            Ok(status::NOPROC) if function == "spawn_on" => SpawnError::NoNode,
            Ok(status::REFUSED) if function == "spawn_on" => SpawnError::Refused,
            _ => status::unexpected(function, result),
        })
    }
}

/// A message the runtime did not queue.
#[derive(Copy, Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum SendError {
    /// The receiver is dead or never existed; for a send by name, no process has the
    /// name.
    #[error("no such process")]
    NoProc,
    /// The receiver's mailbox is at its bound.
    #[error("the receiver's mailbox is full")]
    MailboxFull,
    /// The runtime's memory budget cannot hold the message now; nothing was queued.
    #[error("the runtime's memory budget cannot hold the message")]
    OverBudget,
    /// The message is larger than the runtime's limit (16 MiB).
    #[error("the message is larger than the runtime's limit")]
    TooLarge,
    /// A send by name with a name that is empty, longer than 255 bytes or not UTF-8.
    #[error("a name must be 1 to {MAX_NAME_BYTES} bytes of UTF-8")]
    BadName,
    /// The message cannot be encoded with postcard (a type whose `Serialize` postcard
    /// does not support, such as a sequence of unknown length).
    #[error("the message cannot be encoded with postcard")]
    Encode,
}

impl SendError {
    /// The result of a `send` or `send_name` call.
    pub(crate) fn check(function: &str, result: i32) -> Result<(), SendError> {
        match result {
            status::OK => Ok(()),
            status::NOPROC => Err(SendError::NoProc),
            status::MAILBOX_FULL => Err(SendError::MailboxFull),
            status::TOO_LARGE => Err(SendError::TooLarge),
            status::OVER_BUDGET => Err(SendError::OverBudget),
            status::BAD_NAME => Err(SendError::BadName),
            other => status::unexpected(function, other.into()),
        }
    }
}

/// The target process is not alive (or, for names, no process has the name).
#[derive(Copy, Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("no such process")]
pub struct NoProc;

/// A name the runtime did not register.
#[derive(Copy, Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum RegisterError {
    /// The pid is not alive.
    #[error("no such process")]
    NoProc,
    /// The name is registered to a live process already.
    #[error("the name is taken")]
    NameTaken,
    /// The process has a name already (one name per process, as in Erlang).
    #[error("the process has a registered name already")]
    AlreadyNamed,
    /// The name is empty or longer than 255 bytes.
    #[error("a name must be 1 to {MAX_NAME_BYTES} bytes of UTF-8")]
    BadName,
}

impl RegisterError {
    /// The result of a `register` call.
    pub(crate) fn check(result: i32) -> Result<(), RegisterError> {
        match result {
            status::OK => Ok(()),
            status::NOPROC => Err(RegisterError::NoProc),
            status::NAME_TAKEN => Err(RegisterError::NameTaken),
            status::ALREADY_NAMED => Err(RegisterError::AlreadyNamed),
            status::BAD_NAME => Err(RegisterError::BadName),
            other => status::unexpected("register", other.into()),
        }
    }
}

/// A cluster-wide name request the cluster did not carry out.
#[derive(Copy, Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum GlobalNameError {
    /// Registering: the pid is not a live process of this node. Releasing: no live
    /// process held the name. Looking up: no live process holds it.
    #[error("no such process")]
    NoProc,
    /// Another live process, of any node, holds the name.
    #[error("the cluster-wide name is taken")]
    NameTaken,
    /// The name is empty or longer than 255 bytes.
    #[error("a name must be 1 to {MAX_NAME_BYTES} bytes of UTF-8")]
    BadName,
    /// Cluster-wide names cannot be reached: this runtime is no node of a cluster, its
    /// server offers no JetStream, or the answer did not come in time.
    #[error("cluster-wide names are unavailable")]
    Unavailable,
}

impl GlobalNameError {
    /// The result of a `*_global` call other than a pid.
    pub(crate) fn check(function: &str, result: i64) -> Result<(), GlobalNameError> {
        match i32::try_from(result) {
            Ok(status::OK) => Ok(()),
            Ok(status::NOPROC) => Err(GlobalNameError::NoProc),
            Ok(status::NAME_TAKEN) => Err(GlobalNameError::NameTaken),
            Ok(status::BAD_NAME) => Err(GlobalNameError::BadName),
            Ok(status::REFUSED) => Err(GlobalNameError::Unavailable),
            _ => status::unexpected(function, result),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_statuses_map_to_their_errors() {
        assert_eq!(SpawnError::check("spawn", 5).map(|p| p.to_raw()), Ok(5));
        assert_eq!(SpawnError::check("spawn", -5), Err(SpawnError::Capacity));
        assert_eq!(SpawnError::check("spawn", -6), Err(SpawnError::BadExport));
        assert_eq!(
            SpawnError::check("spawn", -8),
            Err(SpawnError::ShuttingDown)
        );
    }

    #[test]
    #[should_panic(expected = "shoal.spawn returned -2")]
    fn a_status_the_abi_does_not_allow_is_a_broken_invariant() {
        let _ = SpawnError::check("spawn", -2);
    }

    #[test]
    fn send_statuses_map_to_their_errors() {
        assert_eq!(SendError::check("send", 0), Ok(()));
        assert_eq!(SendError::check("send", -1), Err(SendError::NoProc));
        assert_eq!(SendError::check("send", -2), Err(SendError::MailboxFull));
        assert_eq!(SendError::check("send", -7), Err(SendError::TooLarge));
        assert_eq!(SendError::check("send_name", -12), Err(SendError::BadName));
    }

    #[test]
    fn global_name_statuses_map_to_their_errors() {
        let check = |s| GlobalNameError::check("register_global", s);
        assert_eq!(check(0), Ok(()));
        assert_eq!(check(-1), Err(GlobalNameError::NoProc));
        assert_eq!(check(-9), Err(GlobalNameError::NameTaken));
        assert_eq!(check(-12), Err(GlobalNameError::BadName));
        assert_eq!(check(-14), Err(GlobalNameError::Unavailable));
    }

    #[test]
    fn register_statuses_map_to_their_errors() {
        assert_eq!(RegisterError::check(0), Ok(()));
        assert_eq!(RegisterError::check(-1), Err(RegisterError::NoProc));
        assert_eq!(RegisterError::check(-9), Err(RegisterError::NameTaken));
        assert_eq!(RegisterError::check(-10), Err(RegisterError::AlreadyNamed));
        assert_eq!(RegisterError::check(-12), Err(RegisterError::BadName));
    }
}
