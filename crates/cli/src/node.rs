//! `shoal node`: runs one node of a cluster until SIGINT or SIGTERM, then stops it in
//! order (its processes end, its links fire, it says goodbye). A node the others cut off
//! (declared down after a pause, a partition or a server outage) restarts under a new id
//! and joins again, printing its `up` line again.
//!
//! The node runs the node service (`shoal_cluster::service`), so other nodes can find it,
//! time round trips to it and count messages sent to it. Joins and leaves are logged on
//! stderr (`RUST_LOG` overrides the default `info`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use shoal::Runtime;
use shoal_cluster::{Credentials, Node, NodeConfig};

use crate::metrics;

/// How long the node's processes get to finish when it is told to stop, before they are
/// killed: short, because the other nodes' links to them should fire within 100 ms of
/// the signal (docs/CLUSTER.md, "Liveness").
const STOP_GRACE: Duration = Duration::from_millis(50);

#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// The NATS server.
    #[arg(long, value_name = "URL")]
    pub nats: String,

    /// The cluster: nodes of one name on one server see each other.
    #[arg(long, value_name = "NAME")]
    pub cluster: String,

    /// This node's name (default: the host name and the process id).
    #[arg(long, value_name = "NODE")]
    pub name: Option<String>,

    /// Worker threads of the node's runtime (default: one per core).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,

    /// Let other nodes spawn processes here.
    #[arg(long)]
    pub accept_spawn: bool,

    #[command(flatten)]
    pub auth: NatsAuth,

    /// How often this node says it is alive, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub heartbeat_ms: Option<u64>,

    /// How long another node may be silent before it is declared down, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub down_after_ms: Option<u64>,

    /// Serve the node's figures in Prometheus' text format at http://ADDR/metrics
    /// (live processes, spawns, messages in and out, the run queue, and per peer its
    /// state and round trip).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
}

/// Credentials and TLS for the NATS server.
#[derive(Debug, Args)]
pub(crate) struct NatsAuth {
    /// A user (with --password).
    #[arg(long, value_name = "USER", requires = "password")]
    pub user: Option<String>,

    /// The user's password.
    #[arg(long, value_name = "PASSWORD", requires = "user")]
    pub password: Option<String>,

    /// A token.
    #[arg(long, value_name = "TOKEN", conflicts_with_all = ["user", "creds"])]
    pub token: Option<String>,

    /// An nkeys `.creds` file.
    #[arg(long, value_name = "FILE", conflicts_with = "user")]
    pub creds: Option<PathBuf>,

    /// A user of the server's system account (with --system-password): the node then
    /// watches the server's disconnect events and declares a node down as soon as its
    /// connection closes.
    #[arg(long, value_name = "USER", requires = "system_password")]
    pub system_user: Option<String>,

    /// That user's password.
    #[arg(long, value_name = "PASSWORD", requires = "system_user")]
    pub system_password: Option<String>,

    /// Require TLS.
    #[arg(long)]
    pub tls: bool,

    /// Extra root certificates for TLS (PEM).
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub tls_ca: Option<PathBuf>,
}

impl NatsAuth {
    pub(crate) fn apply(&self, config: &mut NodeConfig) {
        config.credentials = match (&self.user, &self.password, &self.token, &self.creds) {
            (Some(user), Some(password), _, _) => Credentials::UserPassword {
                user: user.clone(),
                password: password.clone(),
            },
            (_, _, Some(token), _) => Credentials::Token(token.clone()),
            (_, _, _, Some(creds)) => Credentials::CredsFile(creds.clone()),
            _ => Credentials::None,
        };
        if let (Some(user), Some(password)) = (&self.system_user, &self.system_password) {
            config.system = Some(Credentials::UserPassword {
                user: user.clone(),
                password: password.clone(),
            });
        }
        if self.tls {
            config.tls = Some(self.tls_ca.clone());
        }
    }
}

/// The node's settings from the command line.
pub(crate) fn config(args: &NodeArgs) -> NodeConfig {
    let name = args.name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "node".into());
        format!("{host}-{}", std::process::id())
    });
    let mut config = NodeConfig::new(args.nats.clone(), args.cluster.clone(), name);
    config.accept_spawn = args.accept_spawn;
    if let Some(ms) = args.heartbeat_ms {
        config.heartbeat = Duration::from_millis(ms);
    }
    if let Some(ms) = args.down_after_ms {
        config.down_after = Duration::from_millis(ms);
    }
    args.auth.apply(&mut config);
    config
}

pub(crate) fn run(args: &NodeArgs) -> anyhow::Result<()> {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the node's I/O thread")?;
    tokio.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot watch for SIGTERM")?;
        let figures = metrics::Source::default();
        if let Some(addr) = args.metrics {
            let listener = metrics::bind(addr).await?;
            tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
            tokio::spawn(metrics::serve(listener, figures.clone()));
        }
        loop {
            let mut builder = Runtime::builder();
            if let Some(workers) = args.workers {
                builder = builder.workers(workers);
            }
            let node = Node::start(config(args), builder).await?;
            shoal_cluster::service::spawn(&node)?;
            *figures.lock() = Some(node.metrics());
            println!("node {} {} up", node.id(), node.name());
            let rejoin = tokio::select! {
                _ = tokio::signal::ctrl_c() => false,
                _ = term.recv() => false,
                () = node.cut_off() => true,
            };
            let id = node.id();
            figures.lock().take();
            node.stop(STOP_GRACE).await;
            if !rejoin {
                return anyhow::Ok(());
            }
            // The others declared this node down and will never take its pids again:
            // its processes are gone with it, and it joins again under a new id.
            tracing::warn!(%id, "cut off by the cluster: rejoining under a new id");
        }
    })
}
