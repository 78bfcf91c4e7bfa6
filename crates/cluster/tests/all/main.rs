//! Nodes of one cluster on a real NATS server, in one test process: each test starts its
//! own `nats-server` on a free loopback port and stops it at the end.

mod names;
mod nodes;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shoal_cluster::{Node, NodeConfig};
use shoal_scheduler::{Preemption, Runtime};

/// A `nats-server` of this test's own, killed when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    _store: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed when dropped.
pub struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `nats-server` on a free loopback port with JetStream and `extra` arguments,
/// and waits until it accepts connections.
pub fn server(extra: &[&str]) -> Server {
    server_on(free_port(), extra)
}

/// [`server`] on a given port (a restart of one).
pub fn server_on(port: u16, extra: &[&str]) -> Server {
    let store = std::env::temp_dir().join(format!("shoal-nats-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&store).unwrap();
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(&store)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server is not on PATH: `apt-get install nats-server` (.ci/run does)");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nats-server did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Server {
        child,
        url: format!("nats://127.0.0.1:{port}"),
        _store: TempDir(store),
    }
}

/// A server with a system account (`sys`/`sys`) beside the application's (`app`/`app`),
/// so that nodes can watch its connection events.
pub fn server_with_system_account() -> Server {
    let path = std::env::temp_dir().join(format!(
        "shoal-nats-{}-{}.conf",
        std::process::id(),
        free_port()
    ));
    std::fs::write(&path, SYSTEM_ACCOUNT_CONFIG).unwrap();
    let server = server(&["-c", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    server
}

/// nats-server's configuration for [`server_with_system_account`].
pub const SYSTEM_ACCOUNT_CONFIG: &str = r#"
accounts {
  SYS: { users: [ { user: sys, password: sys } ] }
  APP: { users: [ { user: app, password: app } ] }
}
system_account: SYS
"#;

/// The settings of node `name` of cluster `test` on `server`, with short liveness
/// timings so that a silent node is found quickly.
pub fn config(server: &Server, name: &str) -> NodeConfig {
    let mut config = NodeConfig::new(server.url.clone(), "test", name);
    config.heartbeat = Duration::from_millis(50);
    config.down_after = Duration::from_millis(300);
    config.join_window = Duration::from_millis(100);
    config
}

/// Starts a node with 1 worker.
pub async fn node(config: NodeConfig) -> Node {
    let builder = Runtime::builder().workers(1).preemption(Preemption::Epoch {
        tick: Duration::from_millis(1),
        slice_ticks: 1,
    });
    Node::start(config, builder).await.expect("the node starts")
}

/// Long enough for anything these tests wait for; a test that waits longer is hung.
pub const HANG: Duration = Duration::from_secs(30);
