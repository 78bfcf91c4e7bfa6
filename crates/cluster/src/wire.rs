//! The envelope: what one node publishes to another, as bytes.
//!
//! # What it owns
//! [`Frame`] and [`Signal`], their encoding ([`Frame::encode`], [`Frame::decode`]) and
//! nothing else: no I/O, no state. docs/CLUSTER.md, "The envelope", is this file's
//! contract; a change here is a change of the protocol and bumps [`PROTOCOL`].
//!
//! # Encoding
//! A NATS message on a node's inbox carries one or more frames back to back: the
//! publishing task puts every frame queued for one node into one message (a batch), up
//! to [`BATCH_BYTES`], so a busy pair pays the server's per-message cost once per batch.
//! postcard (varints, no field names) of a serde derive: small, the same on every
//! platform, and already how guests' messages are encoded. Pids travel as their 62-bit
//! value, references as theirs, exit reasons in the guest ABI's wire form
//! (`ExitReason::to_wire`), so nothing needs translating on the way in: a pid means the
//! same process on every node.
//!
//! # Invariants
//! - Every frame from node A to node B carries the next sequence number of the pair
//!   (A, B), from 1. The receiver checks it: a gap is a lost frame, which the protocol
//!   never hides (it declares the connection down).
//! - Control frames (probe, hello, heartbeat) go to the cluster's control subject and
//!   carry no sequence number: losing one costs only time. A goodbye is a frame of each
//!   pair, so it comes after the stopping node's last signals.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

use shoal_scheduler::{
    AccountingSnapshot, Exit, ExitReason, NodeId, Pid, Reference, SignalReason, Via,
};

/// The protocol's version, in every hello: nodes of another version do not join.
pub const PROTOCOL: u16 = 4;

/// Most bytes of frames in one NATS message: a quarter of the server's default payload
/// limit (1 MiB), so a batch never meets the limit and one batch's latency stays small.
pub const BATCH_BYTES: usize = 256 << 10;

/// One frame from one node to another, with its place in the pair's order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// The sending node's id.
    pub from: u16,
    /// The sending node's incarnation (its creation, random per start).
    pub creation: u64,
    /// The pair's sequence number: 1 for the first frame from `from` to this receiver.
    pub seq: u64,
    /// What it carries.
    pub signal: Signal,
}

/// A signal between processes of two nodes (docs/CLUSTER.md, "The envelope").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signal {
    /// A data message: `to`'s mailbox gets `(from, tag, data)`.
    Send {
        /// The receiver.
        to: u64,
        /// The sender, or `None` for the sending node's host.
        from: Option<u64>,
        /// The message's tag.
        tag: u64,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// A data message to the process registered as `name` on the receiving node.
    SendName {
        /// The name.
        name: String,
        /// The sender, or `None` for the sending node's host.
        from: Option<u64>,
        /// The message's tag.
        tag: u64,
        /// Its bytes.
        data: Vec<u8>,
    },
    /// `from` linked itself to `to`: keep the other half, or answer `noproc`.
    Link {
        /// The linker, of the sending node.
        from: u64,
        /// The linked process, of the receiving node.
        to: u64,
    },
    /// `from` removed its link with `to`.
    Unlink {
        /// The unlinker.
        from: u64,
        /// The other end.
        to: u64,
    },
    /// An exit signal from `from` (`None`: the sending node's host) to `to`.
    Exit {
        /// The sender.
        from: Option<u64>,
        /// The receiver.
        to: u64,
        /// True for a linked process's exit, false for `exit(to, reason)`.
        linked: bool,
        /// True for the untrappable `kill` of `exit(to, kill)`.
        kill: bool,
        /// The reason, in the ABI's wire form.
        reason: Vec<u8>,
    },
    /// `watcher` monitors `target` under `reference` (the watcher's node's).
    Monitor {
        /// The watcher, of the sending node.
        watcher: u64,
        /// Its reference.
        reference: u64,
        /// The watched process, of the receiving node.
        target: u64,
    },
    /// `watcher` removed its monitor `reference` of `target`.
    Demonitor {
        /// The watcher.
        watcher: u64,
        /// Its reference.
        reference: u64,
        /// The watched process.
        target: u64,
    },
    /// `from` ended with `reason`; `watcher` monitored it under `reference` (the
    /// watcher's own reference).
    Down {
        /// The watcher, of the receiving node.
        watcher: u64,
        /// The watcher's reference.
        reference: u64,
        /// The ended process.
        from: u64,
        /// The reason, in the ABI's wire form.
        reason: Vec<u8>,
    },
    /// The sender declared the receiver down earlier (a false alarm, or a lost frame):
    /// the receiver is cut off from it and treats it as down too.
    Cut,
    /// The sender is stopping, after every signal it had for the receiver: the receiver
    /// declares it down now.
    Goodbye,
    /// Spawn `export` of the module whose SHA-256 is `hash` with `arg`; answered with
    /// `Spawned`, after a `NeedModule` if the receiver lacks the module.
    Spawn {
        /// The sender's number for the request.
        request: u64,
        /// The module's SHA-256.
        hash: [u8; 32],
        /// The entry export.
        export: String,
        /// The entry's argument.
        arg: i64,
        /// The process's lifetime fuel budget.
        fuel_limit: Option<u64>,
        /// Its wall-clock deadline, in milliseconds.
        deadline_ms: Option<u64>,
        /// Its largest linear memory, in bytes.
        max_memory: Option<u64>,
        /// Send its exit back, with its accounting, as `Exited`.
        report_exit: bool,
    },
    /// The receiver of a `Spawn` lacks the module `hash`: send it in `ModuleChunk`s.
    NeedModule {
        /// The module's SHA-256.
        hash: [u8; 32],
    },
    /// Bytes `offset..offset + bytes.len()` of the module `hash`, of `total` bytes.
    ModuleChunk {
        /// The module's SHA-256.
        hash: [u8; 32],
        /// Where the bytes go.
        offset: u64,
        /// The module's length.
        total: u64,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The answer to `Spawn` number `request`: the new pid, or why there is none.
    Spawned {
        /// The request's number.
        request: u64,
        /// The pid, or the refusal.
        result: Result<u64, SpawnRefusal>,
    },
    /// The process of `Spawn` number `request` (asked with `report_exit`) ended.
    Exited {
        /// The request's number.
        request: u64,
        /// Its exit.
        exit: ExitReport,
    },
    /// Answer with a `Pong` carrying `nanos`: the sender times its round trips to the
    /// receiver, in order with the pair's other signals (queues included).
    Ping {
        /// The sender's clock when it queued the ping, in its own nanoseconds.
        nanos: u64,
    },
    /// The answer to a `Ping`.
    Pong {
        /// The ping's `nanos`, unchanged.
        nanos: u64,
    },
}

/// Why a node refused a `Spawn`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum SpawnRefusal {
    /// The node was not started to accept remote spawns.
    #[error("the node does not accept remote spawns")]
    NotAccepted,
    /// The module's bytes did not arrive whole, or do not match their hash.
    #[error("the module arrived damaged: {0}")]
    BadModule(String),
    /// The module did not compile there.
    #[error("the module does not compile there: {0}")]
    Compile(String),
    /// The spawn failed there (a missing export, capacity, a bad option).
    #[error("the spawn failed there: {0}")]
    Spawn(String),
}

/// A control frame on the cluster's control subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Control {
    /// A node is up, or answers another's hello (`reply`: whether it is an answer).
    Hello {
        /// [`PROTOCOL`].
        protocol: u16,
        /// The node's name.
        name: String,
        /// Its id for this start.
        id: u16,
        /// Its creation.
        creation: u64,
        /// Whether it accepts remote spawns.
        accepts_spawn: bool,
        /// Ids it holds for nodes it declared down, which a new node must not draw.
        dead: Vec<u16>,
        /// An answer to a hello: no answer to it is due.
        reply: bool,
    },
    /// A node that is still joining asks who is up before it draws its id.
    Probe,
    /// A node is alive.
    Beat {
        /// Its id.
        id: u16,
        /// Its creation.
        creation: u64,
    },
}

/// A process's exit as it crosses nodes: the reason in the ABI's wire form, the
/// accounting as numbers (instants of one machine mean nothing on another, so its
/// lifetime travels instead).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitReport {
    /// The process.
    pub pid: u64,
    /// Why it ended, in the ABI's wire form.
    pub reason: Vec<u8>,
    /// Fuel consumed.
    pub fuel: u64,
    /// Quanta run.
    pub quanta: u64,
    /// Voluntary yields.
    pub voluntary_yields: u64,
    /// Preemptions.
    pub preemptions: u64,
    /// Nanoseconds queued for a worker.
    pub runnable_ns: u64,
    /// Nanoseconds on a worker.
    pub running_ns: u64,
    /// Nanoseconds blocked.
    pub waiting_ns: u64,
    /// Nanoseconds from spawn to exit.
    pub lifetime_ns: u64,
}

impl ExitReport {
    /// The report of `exit`.
    pub fn of(exit: &Exit) -> ExitReport {
        let a = &exit.accounting;
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let lifetime = match (a.spawned_at, a.exited_at) {
            (Some(spawned), Some(exited)) => exited.saturating_duration_since(spawned),
            _ => Duration::ZERO,
        };
        ExitReport {
            pid: exit.pid.to_bits(),
            reason: exit.reason.to_wire(),
            fuel: a.fuel,
            quanta: a.quanta,
            voluntary_yields: a.voluntary_yields,
            preemptions: a.preemptions,
            runnable_ns: ns(a.runnable),
            running_ns: ns(a.running),
            waiting_ns: ns(a.waiting),
            lifetime_ns: ns(lifetime),
        }
    }

    /// The exit it reports, as of its arrival at `arrived`; `None` for a pid that is
    /// none.
    pub fn into_exit(self, arrived: Instant) -> Option<Exit> {
        let pid = pid(self.pid)?;
        let exited_at = Some(arrived);
        let spawned_at = arrived.checked_sub(Duration::from_nanos(self.lifetime_ns));
        Some(Exit {
            pid,
            reason: reason(&self.reason),
            accounting: AccountingSnapshot {
                fuel: self.fuel,
                quanta: self.quanta,
                voluntary_yields: self.voluntary_yields,
                preemptions: self.preemptions,
                runnable: Duration::from_nanos(self.runnable_ns),
                running: Duration::from_nanos(self.running_ns),
                waiting: Duration::from_nanos(self.waiting_ns),
                spawned_at,
                exited_at,
            },
            output: None,
        })
    }
}

/// A frame or control frame that is not one.
#[derive(Debug, thiserror::Error)]
#[error("undecodable cluster frame ({len} bytes): {source}")]
pub struct DecodeError {
    /// Its length.
    pub len: usize,
    /// postcard's complaint.
    #[source]
    pub source: postcard::Error,
}

impl Frame {
    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// The frames of a batch (frames back to back in one NATS message), in order; an
    /// undecodable frame ends it with an error.
    pub fn decode_batch(mut bytes: &[u8]) -> impl Iterator<Item = Result<Frame, DecodeError>> + '_ {
        std::iter::from_fn(move || {
            if bytes.is_empty() {
                return None;
            }
            match postcard::take_from_bytes::<Frame>(bytes) {
                Ok((frame, rest)) => {
                    bytes = rest;
                    Some(Ok(frame))
                }
                Err(source) => {
                    let len = bytes.len();
                    bytes = &[];
                    Some(Err(DecodeError { len, source }))
                }
            }
        })
    }

    /// A frame from its bytes.
    pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
        decode(bytes)
    }
}

impl Control {
    /// The control frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// A control frame from its bytes.
    pub fn decode(bytes: &[u8]) -> Result<Control, DecodeError> {
        decode(bytes)
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("frames hold no type postcard cannot encode")
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, DecodeError> {
    postcard::from_bytes(bytes).map_err(|source| DecodeError {
        len: bytes.len(),
        source,
    })
}

/// The SHA-256 of a module's bytes: its name between nodes.
pub fn module_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A pid from the wire, or `None` for a value that is no pid's.
pub fn pid(bits: u64) -> Option<Pid> {
    Pid::from_bits(bits)
}

/// A reference from the wire.
pub fn reference(bits: u64) -> Option<Reference> {
    Reference::from_bits(bits)
}

/// An exit reason from the wire; an undecodable one is a host error naming it, so a
/// signal is never lost to a peer's bad bytes.
pub fn reason(bytes: &[u8]) -> ExitReason {
    ExitReason::from_wire(bytes).unwrap_or_else(|e| ExitReason::HostError {
        message: format!("a peer sent an undecodable exit reason: {e}"),
    })
}

/// The `Exit` signal for `via`.
pub fn exit(from: Option<Pid>, to: Pid, via: &Via) -> Signal {
    let (linked, kill, reason) = match via {
        Via::Link(reason) => (true, false, reason.to_wire()),
        Via::Exit(SignalReason::Kill) => (false, true, ExitReason::Killed.to_wire()),
        Via::Exit(SignalReason::Reason(reason)) => (false, false, reason.to_wire()),
    };
    Signal::Exit {
        from: from.map(Pid::to_bits),
        to: to.to_bits(),
        linked,
        kill,
        reason,
    }
}

/// The `Via` of an `Exit` signal's fields.
pub fn via(linked: bool, kill: bool, reason_bytes: &[u8]) -> Via {
    match (linked, kill) {
        (true, _) => Via::Link(reason(reason_bytes)),
        (false, true) => Via::Exit(SignalReason::Kill),
        (false, false) => Via::Exit(SignalReason::Reason(reason(reason_bytes))),
    }
}

/// A node id from the wire, or `None` for one out of range.
pub fn node(id: u16) -> Option<NodeId> {
    NodeId::new(id).filter(|n| *n != NodeId::LOCAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_control_frames_round_trip() {
        let frames = [
            Signal::Send {
                to: 1 << 48 | 5,
                from: None,
                tag: 9,
                data: b"hi".to_vec(),
            },
            exit(
                Some(Pid::new(1, 2)),
                Pid::new(3, 4),
                &Via::Exit(SignalReason::Kill),
            ),
            Signal::Down {
                watcher: 7,
                reference: 1 << 62,
                from: 8,
                reason: ExitReason::NoConnection.to_wire(),
            },
            Signal::Cut,
        ];
        for (seq, signal) in frames.into_iter().enumerate() {
            let frame = Frame {
                from: 3,
                creation: u64::MAX,
                seq: seq as u64 + 1,
                signal,
            };
            assert_eq!(Frame::decode(&frame.encode()).unwrap(), frame);
        }
        let mut batch = Vec::new();
        let frame = |seq| Frame {
            from: 1,
            creation: 2,
            seq,
            signal: Signal::Cut,
        };
        batch.extend(frame(1).encode());
        batch.extend(frame(2).encode());
        let frames: Vec<Frame> = Frame::decode_batch(&batch).map(Result::unwrap).collect();
        assert_eq!(frames, [frame(1), frame(2)]);
        batch.push(0xff);
        assert!(Frame::decode_batch(&batch).last().unwrap().is_err());
        let hello = Control::Hello {
            protocol: PROTOCOL,
            name: "a".into(),
            id: 16_383,
            creation: 1,
            accepts_spawn: true,
            dead: vec![4],
            reply: false,
        };
        assert_eq!(Control::decode(&hello.encode()).unwrap(), hello);
    }

    #[test]
    fn an_exit_keeps_its_kind_kill_and_reason_across_the_wire() {
        let cases = [
            Via::Link(ExitReason::Shutdown),
            Via::Exit(SignalReason::Kill),
            Via::Exit(SignalReason::Reason(ExitReason::Custom {
                code: 2,
                data: vec![1],
            })),
        ];
        for v in cases {
            let Signal::Exit {
                linked,
                kill,
                reason,
                ..
            } = exit(None, Pid::new(0, 0), &v)
            else {
                unreachable!()
            };
            assert_eq!(via(linked, kill, &reason), v);
        }
    }

    #[test]
    fn garbage_is_a_typed_error_and_a_bad_reason_a_host_error() {
        assert!(Frame::decode(&[0xff; 3]).is_err());
        assert!(Control::decode(&[]).is_err());
        assert!(matches!(reason(&[42]), ExitReason::HostError { .. }));
        assert_eq!(node(0), None);
        assert_eq!(node(u16::MAX), None);
    }
}
