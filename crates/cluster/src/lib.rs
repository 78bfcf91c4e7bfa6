//! Clusters over NATS: Shoal's processes on many machines, with Erlang's semantics.
//!
//! A [`Node`] is one runtime joined to a cluster through a NATS server. Its pids carry
//! its node id (drawn at random for each start), so a pid means the same process on
//! every node; `send`, `link`, `monitor` and exit signals to a pid of another node work
//! as they do locally, for guests, native processes and the host alike. When a node goes
//! down (it said goodbye, fell silent, or a frame to or from it was lost), every link to
//! its processes fires with `noconnection` and every monitor delivers
//! `DOWN(noconnection)`. docs/CLUSTER.md has the protocol, its timings and guarantees.
//!
//! # Layers
//! | file | holds | may import |
//! |---|---|---|
//! | `config` | [`NodeConfig`], [`ClusterError`], [`RemoteSpawnError`], the default timings | the scheduler's errors, `wire`'s refusals |
//! | `wire` | the envelope: frames, signals, control frames, their bytes | the scheduler's pid, reference and reason types |
//! | `peers` | membership as a state machine: up, down, sequence numbers | nothing of I/O |
//! | `transport` | the runtime's `Remote` (out) and the dispatch of frames (in) | `wire`, `peers`, the scheduler's seam |
//! | `node` | [`Node`]: connecting, joining, the tasks, stopping | all of the above, async-nats, tokio |
//! | `spawn` | remote spawn: modules by hash, sent in chunks, compiled once, cached | `transport`, `wire` |
//! | `metrics` | [`Metrics`]: the node's figures in Prometheus' text format | `transport`, the scheduler's stats |
//! | `names` | cluster-wide names in a JetStream key-value bucket, released when their holder or its node dies | `transport`, async-nats' key-value store |
//! | `service` | the node service every `shoal node` runs: who, echo, counted one-way messages | `node` |
//!
//! The scheduler knows nothing of this crate: it exposes a seam (`Remote` out,
//! `RemotePort` in), and this crate is one transport behind it.

mod config;
mod metrics;
mod names;
mod node;
mod peers;
pub mod service;
pub mod spawn;
mod transport;
pub mod wire;

pub use config::{
    ClusterError, Credentials, DEFAULT_BACKLOG_BYTES, DEFAULT_DOWN_AFTER, DEFAULT_HEARTBEAT,
    DEFAULT_JOIN_WINDOW, DEFAULT_SUBSCRIPTION_CAPACITY, NodeConfig, RemoteSpawnError,
};
pub use metrics::Metrics;
pub use node::{Node, NodeInfo, NodeStats, RemoteProcess};
pub use spawn::RemoteSpawnOptions;
pub use wire::SpawnRefusal;
