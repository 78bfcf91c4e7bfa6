//! Cluster-wide names: a process's requests to register, release and look up a name
//! that every node of a cluster sees, and their answers.
//!
//! # What it owns
//! Nothing: the names live wherever the cluster's transport keeps them (a key-value
//! bucket of the cluster's messaging engine). This file is the wait for the answer to a
//! request (`remote`'s [`GlobalName`], part of the seam), and the answer's encoding as a
//! message, so that a guest, a
//! native process and the host ask the same way.
//!
//! # What it may import
//! What `remote` may: the executor, `proc` and the crate's errors.
//!
//! # Invariants
//! - A request is checked here before it leaves (a valid name; for a registration, a
//!   live process of this node), so a transport only sees requests it can carry out.
//! - The requester waits like a receive, on an alias of its own, for at most
//!   [`GLOBAL_NAME_TIMEOUT`]; an answer that comes later finds the alias closed and is
//!   dropped, so it never reaches the mailbox as a stray message.

use std::time::Duration;

use shoal_executor::{Executor, Process};
use shoal_proc::{Message, Pid};

use super::remote::{GlobalName, RemotePort, ask_remote};
use super::{Actors, remote};
use crate::error::GlobalNameError;

/// What a request comes to: for a registration, `None`; for a release, the pid that held
/// the name; for a look-up, the holder. `Ok(None)` from a release or a look-up: no live
/// process holds the name.
pub type GlobalAnswer = Result<Option<Pid>, GlobalNameError>;

/// How long a process waits for the answer to a name request: the key-value store's own
/// request timeout (5 s in async-nats) for each of the at most three requests one takes
/// (read, write, and a write of a stale holder's entry).
pub const GLOBAL_NAME_TIMEOUT: Duration = Duration::from_secs(15);

/// Carries out `request` for `me` and waits like a receive (the worker runs other
/// processes meanwhile) for the answer; and whether the wait suspended `me`.
pub(crate) async fn global_name(
    executor: &Executor,
    actors: &Actors,
    me: &Process,
    request: GlobalName,
) -> (GlobalAnswer, bool) {
    if shoal_proc::check_name(request.name()).is_err() {
        return (
            Err(GlobalNameError::BadName(request.name().to_owned())),
            false,
        );
    }
    if let GlobalName::Register { pid, .. } = request
        && (remote::is_remote(executor, pid) || executor.process(pid).is_none())
    {
        return (Err(GlobalNameError::NoProc(pid)), false);
    }
    if remote::remote_of(actors).is_none() {
        let reason = "this runtime is not a node of a cluster".to_owned();
        return (Err(GlobalNameError::Unavailable(reason)), false);
    }
    let name = request.name().to_owned();
    let (answer, waited) = ask_remote(executor, actors, me, GLOBAL_NAME_TIMEOUT, |remote, tag| {
        remote.global_name(request, me.pid(), tag);
    })
    .await;
    let answer = match answer {
        Some(message) => decode(&name, &message.data),
        None => Err(GlobalNameError::Unavailable(format!(
            "no answer in {GLOBAL_NAME_TIMEOUT:?}"
        ))),
    };
    (answer, waited)
}

impl RemotePort {
    /// Answers a name request made by `to` (of this node) under `tag`.
    pub fn answer_global(&self, to: Pid, tag: u64, answer: &GlobalAnswer) {
        let _ = self.deliver(to, Message::data(None, tag, encode(answer)));
    }
}

/// An answer's first byte.
mod kind {
    pub const PID: u8 = 0;
    pub const NONE: u8 = 1;
    pub const TAKEN: u8 = 2;
    pub const NOPROC: u8 = 3;
    pub const BAD_NAME: u8 = 4;
    pub const UNAVAILABLE: u8 = 5;
}

/// An answer as message bytes: its kind, then a pid (8 bytes, little-endian) or a reason
/// in UTF-8. The name is the requester's to know, so it does not travel.
fn encode(answer: &GlobalAnswer) -> Vec<u8> {
    let with_pid = |kind: u8, pid: &Pid| {
        std::iter::once(kind)
            .chain(pid.to_bits().to_le_bytes())
            .collect()
    };
    match answer {
        Ok(Some(pid)) => with_pid(kind::PID, pid),
        Ok(None) => vec![kind::NONE],
        Err(GlobalNameError::Taken { holder, .. }) => with_pid(kind::TAKEN, holder),
        Err(GlobalNameError::NoProc(pid)) => with_pid(kind::NOPROC, pid),
        Err(GlobalNameError::BadName(_)) => vec![kind::BAD_NAME],
        Err(GlobalNameError::Unavailable(reason)) => std::iter::once(kind::UNAVAILABLE)
            .chain(reason.bytes())
            .collect(),
    }
}

/// The inverse of [`encode`] for a request about `name`; bytes that are no answer are
/// an `Unavailable` error.
fn decode(name: &str, bytes: &[u8]) -> GlobalAnswer {
    let malformed = || GlobalNameError::Unavailable("a malformed answer".to_owned());
    let pid = |rest: &[u8]| {
        rest.try_into()
            .ok()
            .map(u64::from_le_bytes)
            .and_then(Pid::from_bits)
            .ok_or_else(malformed)
    };
    match bytes.split_first() {
        Some((&kind::PID, rest)) => Ok(Some(pid(rest)?)),
        Some((&kind::NONE, [])) => Ok(None),
        Some((&kind::TAKEN, rest)) => Err(GlobalNameError::Taken {
            name: name.to_owned(),
            holder: pid(rest)?,
        }),
        Some((&kind::NOPROC, rest)) => Err(GlobalNameError::NoProc(pid(rest)?)),
        Some((&kind::BAD_NAME, [])) => Err(GlobalNameError::BadName(name.to_owned())),
        Some((&kind::UNAVAILABLE, rest)) => Err(GlobalNameError::Unavailable(
            String::from_utf8_lossy(rest).into_owned(),
        )),
        _ => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_proc::NodeId;

    #[test]
    fn every_answer_round_trips_and_garbage_is_unavailable() {
        let pid = Pid::on(NodeId::new(3).unwrap(), 5, 6);
        let answers = [
            Ok(Some(pid)),
            Ok(None),
            Err(GlobalNameError::Taken {
                name: "db".into(),
                holder: pid,
            }),
            Err(GlobalNameError::NoProc(pid)),
            Err(GlobalNameError::BadName("db".into())),
            Err(GlobalNameError::Unavailable("no JetStream".into())),
        ];
        for answer in answers {
            assert_eq!(decode("db", &encode(&answer)), answer);
        }
        for garbage in [&[][..], &[0, 1], &[1, 0], &[9]] {
            assert!(matches!(
                decode("db", garbage),
                Err(GlobalNameError::Unavailable(_))
            ));
        }
    }
}
