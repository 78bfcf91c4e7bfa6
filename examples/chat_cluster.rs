//! Chat across two nodes of a cluster: the room of `examples/chat.rs` on node `left`, its
//! members on `left` and `right`, every message between them crossing a NATS server.
//!
//! Run it with `cargo run --example chat_cluster` (4 members), or with a member count as
//! the argument. It starts `nats-server` (on PATH: `apt-get install nats-server`) on a free
//! loopback port and stops it at the end; both nodes run in this process, each with its
//! own runtime and its own connection to the server, exactly as two machines would.
//!
//! The guests are the same as in the one-node chat: a member is told the room's node in
//! its argument, and finds the room there by name (`send_name_on`, Erlang's
//! `{room, node} ! msg`). The room monitors every member, on either node, so when the
//! last one crashes (it always does, after its lines) everyone hears it leave. The
//! program checks the outcome and exits non-zero if any member missed a line.

use std::error::Error;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shoal::{ExitReason, Runtime};
use shoal_cluster::{Node, NodeConfig};

#[allow(dead_code)]
#[path = "guests/chat/src/protocol.rs"]
mod protocol;

use protocol::{LINES, ROOM, ToRoom};

/// Members, unless the first argument says otherwise.
const MEMBERS: u16 = 4;

/// How long the nodes wait for each other.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A `nats-server` of this program's own, stopped when dropped.
struct NatsServer(Child);

impl NatsServer {
    fn start() -> Result<(NatsServer, String), Box<dyn Error>> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start nats-server ({e}): apt-get install nats-server"))?;
        let server = NatsServer(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > JOIN_TIMEOUT {
                return Err("nats-server did not start".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok((server, format!("nats://127.0.0.1:{port}")))
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let wasm = shoal_examples::module_or_exit(shoal_examples::CHAT);
    let members = shoal_examples::member_count_arg(MEMBERS)?;
    let (_server, url) = NatsServer::start()?;
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    io.block_on(async move {
        let node = |name: &str| Node::start(NodeConfig::new(url.clone(), "chat", name), Runtime::builder());
        let left = node("left").await?;
        let right = node("right").await?;
        left.wait_for_nodes(1, JOIN_TIMEOUT).await?;
        right.wait_for_nodes(1, JOIN_TIMEOUT).await?;
        let (on_left, on_right) = (left.runtime().compile(wasm)?, right.runtime().compile(wasm)?);

        let room = left.runtime().spawn(&on_left, "room", 0)?;
        println!(
            "chat across two nodes: room {} on {} (node {}), {members} members on {} and {} (node {})",
            room.pid(),
            left.name(),
            left.id(),
            left.name(),
            right.name(),
            right.id()
        );
        let mut handles = Vec::new();
        for i in 0..members {
            let arg = protocol::pack(i, members, left.id().get());
            let (node, module) = if i % 2 == 0 { (&left, &on_left) } else { (&right, &on_right) };
            handles.push((node.name().to_owned(), node.runtime().spawn(module, "member", arg)?));
        }

        let mut missed = 0;
        for (i, (node, handle)) in handles.iter().enumerate() {
            let exit = handle.join().await;
            let last = i + 1 == usize::from(members);
            let heard = exit.reason.code();
            let expected = u32::from(members - 1) * LINES;
            let ok = if last {
                matches!(exit.reason, ExitReason::Trap { .. })
            } else {
                heard == Some(expected as i32)
            };
            missed += usize::from(!ok);
            println!(
                "{} {} on {node} exited {}{}",
                protocol::member_name(i as u16),
                handle.pid(),
                exit.reason,
                match heard {
                    Some(lines) => format!(": heard {lines} of {expected} lines"),
                    None => String::new(),
                }
            );
        }

        left.runtime().send_name(ROOM, 0, postcard::to_allocvec(&ToRoom::Close)?)?;
        // Its count is of members whose `DOWN` had not reached it when it closed: the
        // right node's come over NATS, with no order against the host's close.
        println!(
            "room exited {} (members still subscribed when it closed)",
            room.join().await.reason
        );
        left.stop(Duration::from_millis(100)).await;
        right.stop(Duration::from_millis(100)).await;
        if missed > 0 {
            return Err(format!("{missed} members did not end as expected").into());
        }
        Ok::<(), Box<dyn Error>>(())
    })
}
