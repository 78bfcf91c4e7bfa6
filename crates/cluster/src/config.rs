//! A node's settings and the errors of starting one.

use std::path::PathBuf;
use std::time::Duration;

use shoal_scheduler::{ConfigError, NodeId};

use crate::wire::SpawnRefusal;

/// How often a node says it is alive. Four beats fit in [`DEFAULT_DOWN_AFTER`], so one
/// or two beats delayed by a busy server or a scheduling hiccup are no false alarm.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(250);

/// How long a node may be silent before the others declare it down: the bound
/// for a hung node is 1.5 s, and a check runs every heartbeat, so a silent node is
/// found within 1 s + 250 ms.
pub const DEFAULT_DOWN_AFTER: Duration = Duration::from_millis(1000);

/// How long a starting node listens for the nodes that are up before it draws its id:
/// a hello crosses a loopback server in well under a millisecond; 200 ms leaves room for
/// a loaded machine.
pub const DEFAULT_JOIN_WINDOW: Duration = Duration::from_millis(200);

/// Most bytes of signals queued for other nodes before sends are refused with
/// `SendError::NodeBacklog`: 64 MiB, a few seconds of one-way traffic at the goal's
/// 300k messages/s of 100 bytes.
pub const DEFAULT_BACKLOG_BYTES: usize = 64 << 20;

/// Messages the inbox subscription may hold before the client drops them (a "slow
/// consumer", which the node turns into `noconnection`): 1 Mi messages, since a drop
/// costs every link to every peer while a held message costs its bytes.
pub const DEFAULT_SUBSCRIPTION_CAPACITY: usize = 1 << 20;

/// The largest module a node takes from another: 256 MiB, above any real program's
/// (CPython's is tens of MiB) and far below a node's memory.
pub const MAX_MODULE_BYTES: u64 = 256 << 20;

/// The options of a process spawned on another node: the scheduler's seam defines
/// them, so that processes pass them too.
pub use shoal_scheduler::RemoteSpawnOptions;

/// How a node proves who it is to the NATS server.
#[derive(Clone, Debug, Default)]
pub enum Credentials {
    /// None.
    #[default]
    None,
    /// A user and password.
    UserPassword {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// A token.
    Token(String),
    /// A `.creds` file (a JWT and an nkey seed).
    CredsFile(PathBuf),
}

/// The settings of one node of a cluster.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The cluster's name: nodes of one name on one server see each other. Letters,
    /// digits, `-` and `_` only (it is a token of every subject).
    pub cluster: String,
    /// The node's name, for logs and listings; its identity is its id.
    pub name: String,
    /// Whether other nodes may spawn processes here.
    pub accept_spawn: bool,
    /// Credentials for the server.
    pub credentials: Credentials,
    /// Credentials of a user of the server's system account, if it has one: with them
    /// the node watches the server's disconnect events and declares a node down as soon
    /// as its connection closes, instead of after `down_after` of silence.
    pub system: Option<Credentials>,
    /// Require TLS, with these extra root certificates (PEM) if any.
    pub tls: Option<Option<PathBuf>>,
    /// [`DEFAULT_HEARTBEAT`].
    pub heartbeat: Duration,
    /// [`DEFAULT_DOWN_AFTER`].
    pub down_after: Duration,
    /// [`DEFAULT_JOIN_WINDOW`].
    pub join_window: Duration,
    /// [`DEFAULT_BACKLOG_BYTES`].
    pub backlog_bytes: usize,
    /// [`DEFAULT_SUBSCRIPTION_CAPACITY`].
    pub subscription_capacity: usize,
}

impl NodeConfig {
    /// The default settings for a node named `name` of cluster `cluster` on `url`.
    pub fn new(
        url: impl Into<String>,
        cluster: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        NodeConfig {
            url: url.into(),
            cluster: cluster.into(),
            name: name.into(),
            accept_spawn: false,
            credentials: Credentials::None,
            system: None,
            tls: None,
            heartbeat: DEFAULT_HEARTBEAT,
            down_after: DEFAULT_DOWN_AFTER,
            join_window: DEFAULT_JOIN_WINDOW,
            backlog_bytes: DEFAULT_BACKLOG_BYTES,
            subscription_capacity: DEFAULT_SUBSCRIPTION_CAPACITY,
        }
    }

    /// Checks every setting, naming the first bad one.
    pub fn validate(&self) -> Result<(), ClusterError> {
        let token = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !token(&self.cluster) {
            return Err(ClusterError::bad(
                "cluster",
                format!(
                    "{:?} must be 1 to 64 letters, digits, `-` or `_`",
                    self.cluster
                ),
            ));
        }
        if self.name.is_empty() || self.name.len() > 255 {
            return Err(ClusterError::bad("name", "must be 1 to 255 bytes"));
        }
        if self.heartbeat.is_zero() || self.down_after < self.heartbeat * 2 {
            return Err(ClusterError::bad(
                "down_after",
                format!(
                    "{:?} must be at least two heartbeats ({:?} each)",
                    self.down_after, self.heartbeat
                ),
            ));
        }
        if self.backlog_bytes == 0 || self.subscription_capacity == 0 {
            return Err(ClusterError::bad(
                "backlog_bytes",
                "the backlog and the subscription capacity must be above 0",
            ));
        }
        Ok(())
    }

    /// The control subject: hellos, heartbeats, goodbyes.
    pub(crate) fn control_subject(&self) -> String {
        format!("shoal.{}.ctl", self.cluster)
    }

    /// The name the node's connection has on the server, from which a disconnect event
    /// names the node: `shoal.<cluster>.<creation in hex>`.
    pub(crate) fn client_name(&self, creation: u64) -> String {
        format!("shoal.{}.{creation:016x}", self.cluster)
    }

    /// The creation a connection name of this cluster carries, if it is one.
    pub(crate) fn creation_of(&self, client_name: &str) -> Option<u64> {
        let hex = client_name.strip_prefix(&format!("shoal.{}.", self.cluster))?;
        u64::from_str_radix(hex, 16).ok()
    }

    /// Node `id`'s inbox subject.
    pub(crate) fn inbox_subject(&self, id: u16) -> String {
        format!("shoal.{}.node.{id}", self.cluster)
    }
}

/// Why a node did not start, or an operation on one failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A setting is out of range.
    #[error("invalid cluster setting `{setting}`: {reason}")]
    BadSetting {
        /// The setting.
        setting: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The NATS server could not be reached or refused the node (wrong credentials).
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The server.
        url: String,
        /// The client's error.
        reason: String,
    },
    /// The server refused a subscription or a publish.
    #[error("NATS refused {what}: {reason}")]
    Nats {
        /// What was refused.
        what: &'static str,
        /// The client's error.
        reason: String,
    },
    /// A control frame (a probe, a hello) did not reach the server in time: the
    /// connection is down.
    #[error("a control frame did not reach the server within {0:?}")]
    ControlTimeout(Duration),
    /// Every node id is taken or was declared down.
    #[error("no node id is free in cluster `{cluster}`")]
    NoFreeId {
        /// The cluster.
        cluster: String,
    },
    /// The node's runtime did not start.
    #[error(transparent)]
    Runtime(#[from] ConfigError),
    /// Waited too long.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
}

impl ClusterError {
    pub(crate) fn bad(setting: &'static str, reason: impl Into<String>) -> ClusterError {
        ClusterError::BadSetting {
            setting,
            reason: reason.into(),
        }
    }

    pub(crate) fn nats(what: &'static str, e: impl std::fmt::Display) -> ClusterError {
        ClusterError::Nats {
            what,
            reason: e.to_string(),
        }
    }
}

/// Why a remote spawn did not happen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RemoteSpawnError {
    /// The node is not up, or went down before it answered.
    #[error("node {0} is not up")]
    NodeDown(NodeId),
    /// The node refused.
    #[error("node {node} refused the spawn: {refusal}")]
    Refused {
        /// The node.
        node: NodeId,
        /// Why.
        refusal: SpawnRefusal,
    },
    /// The module is larger than [`MAX_MODULE_BYTES`].
    #[error("a module of {0} bytes is larger than a node takes ({MAX_MODULE_BYTES} bytes)")]
    TooLarge(u64),
    /// No answer in time.
    #[error("no answer from node {0} in {1:?}")]
    Timeout(NodeId, Duration),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_refused_by_name() {
        let ok = NodeConfig::new("nats://127.0.0.1:4222", "c-1_x", "a");
        assert!(ok.validate().is_ok());
        let setting = |c: NodeConfig| match c.validate() {
            Err(ClusterError::BadSetting { setting, .. }) => setting,
            other => panic!("{other:?}"),
        };
        let mut c = ok.clone();
        c.cluster = "a.b".into();
        assert_eq!(setting(c), "cluster");
        let mut c = ok.clone();
        c.name = String::new();
        assert_eq!(setting(c), "name");
        let mut c = ok.clone();
        c.down_after = c.heartbeat;
        assert_eq!(setting(c), "down_after");
        assert_eq!(ok.inbox_subject(7), "shoal.c-1_x.node.7");
        let name = ok.client_name(0xabc);
        assert_eq!(ok.creation_of(&name), Some(0xabc));
        assert_eq!(ok.creation_of("shoal.other.0000000000000abc"), None);
        assert_eq!(ok.creation_of(&format!("{name}.sys")), None);
    }
}
