//! `bench cluster`: two `shoal node` OS processes and this process as a third node, on one
//! NATS server, against raw async-nats on the same server in the same run.
//!
//! Measured, in this order:
//! 1. a round trip from a process here to node b's service and back (`ECHO`), against
//!    the same exchange between two raw clients;
//! 2. one-way messages from one process here to node b's service (`COUNT`), with what
//!    arrived, was lost and came out of order, against raw publishes to a raw subscriber;
//! 3. the time from SIGKILL of node c to the `noconnection` exit of a process here linked
//!    to its service;
//! 4. the same after SIGSTOP of node b (a hung node).
//!
//! Without `--nats`, a `nats-server` is started on a free loopback port (it must be on
//! PATH) with a system account, and stopped at the end: the nodes watch its disconnect
//! events, so `node_down_detect_ms` measures those, while a hung node (whose connection
//! stays open) is found by heartbeats. With `--nats`, the nodes connect without
//! credentials and both are found by heartbeats. The nodes run with the default
//! liveness timings.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use futures::StreamExt;
use shoal::{ExitReason, MessageKind, NativeContext, NodeId, Pid, SendError, SpawnOptions};
use shoal_cluster::service::{Counts, SERVICE, tag};
use shoal_cluster::{Credentials, Node, NodeConfig};

use super::{Bench, Report};

/// Round trips timed, after [`WARMUP_TRIPS`].
const ROUND_TRIPS: usize = 5_000;
/// Round trips before the clock starts (connections and caches warm).
const WARMUP_TRIPS: usize = 500;
/// One-way messages by default: the issue's 1,000,000.
const DEFAULT_ONE_WAY: u64 = 1_000_000;
/// How long any one phase may take before the bench calls it stuck.
const STUCK: Duration = Duration::from_secs(120);

/// A child process killed and reaped when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = rustix::process::kill_process(pid_of(&self.0), rustix::process::Signal::CONT);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn pid_of(child: &Child) -> rustix::process::Pid {
    rustix::process::Pid::from_raw(child.id() as i32).expect("a child's pid is positive")
}

/// The server's accounts when the bench starts it: the nodes' (`app`) and a system
/// account (`sys`), whose disconnect events tell the nodes at once that a node's
/// connection closed.
const SERVER_CONFIG: &str = r#"
accounts {
  SYS: { users: [ { user: sys, password: sys } ] }
  APP: { users: [ { user: app, password: app } ] }
}
system_account: SYS
"#;

/// The users of [`SERVER_CONFIG`]: (user, password) of the nodes and of the system.
const APP_USER: (&str, &str) = ("app", "app");
const SYSTEM_USER: (&str, &str) = ("sys", "sys");

/// Starts `nats-server` on a free loopback port with [`SERVER_CONFIG`].
fn start_server() -> anyhow::Result<(Reaped, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = std::env::temp_dir().join(format!("shoal-bench-nats-{port}.conf"));
    std::fs::write(&config, SERVER_CONFIG)?;
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-c"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context(
            "no --nats given and `nats-server` is not on PATH (apt-get install nats-server)",
        )?;
    let server = Reaped(child);
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        ensure!(
            start.elapsed() < Duration::from_secs(10),
            "nats-server did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Read at start-up; not needed after.
    let _ = std::fs::remove_file(&config);
    Ok((server, format!("nats://127.0.0.1:{port}")))
}

/// Starts `shoal node` as an OS process and waits for its "node ID NAME up" line.
fn start_node(
    url: &str,
    cluster: &str,
    name: &str,
    accounts: bool,
) -> anyhow::Result<(Reaped, NodeId)> {
    let exe = std::env::current_exe().context("cannot find the shoal binary")?;
    let mut command = Command::new(exe);
    command.args([
        "node",
        "--nats",
        url,
        "--cluster",
        cluster,
        "--name",
        name,
        "--workers",
        "1",
    ]);
    if accounts {
        command.args([
            "--user",
            APP_USER.0,
            "--password",
            APP_USER.1,
            "--system-user",
            SYSTEM_USER.0,
            "--system-password",
            SYSTEM_USER.1,
        ]);
    }
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start `shoal node`")?;
    let stdout = child.stdout.take().expect("piped");
    let child = Reaped(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let id = line
        .split_whitespace()
        .nth(1)
        .and_then(|id| id.parse().ok())
        .and_then(NodeId::new)
        .with_context(|| format!("`shoal node` said {line:?}, not \"node ID NAME up\""))?;
    Ok((child, id))
}

pub(crate) fn run(bench: &Bench<'_>) -> anyhow::Result<Report> {
    let one_way = bench.args.rounds.unwrap_or(DEFAULT_ONE_WAY);
    ensure!(one_way > 0, "--rounds must be at least 1");
    // A server of the bench's own has the accounts of SERVER_CONFIG; one given with
    // --nats is used without credentials, so without its connection events.
    let (_server, url, accounts) = match &bench.args.nats {
        Some(url) => (None, url.clone(), false),
        None => {
            let (server, url) = start_server()?;
            (Some(server), url, true)
        }
    };
    let cluster = format!("bench-{}", std::process::id());
    let (b_proc, b) = start_node(&url, &cluster, "b", accounts)?;
    let (c_proc, c) = start_node(&url, &cluster, "c", accounts)?;

    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let mut config = NodeConfig::new(url.clone(), cluster, "bench");
    if accounts {
        config.credentials = user(APP_USER);
        config.system = Some(user(SYSTEM_USER));
    }
    let builder = {
        let mut builder = shoal::Runtime::builder();
        if let Some(workers) = bench.args.workers {
            builder = builder.workers(workers);
        }
        builder
    };
    let node = io.block_on(Node::start(config, builder))?;
    io.block_on(node.wait_for_nodes(2, STUCK))?;
    let bar = bench.progress(4, "cluster");

    let (rtt, raw_rtt) = (
        round_trips(&node, b)?,
        io.block_on(raw_round_trips(&url, accounts))?,
    );
    bar.inc(1);
    let (counts, per_s) = one_way_messages(&node, b, one_way)?;
    let (raw_per_s, raw_lost) = io.block_on(raw_one_way(&url, accounts, one_way))?;
    bar.inc(1);
    let kill_ms = detect(&node, c, c_proc, |child| {
        let _ = child.0.kill();
    })?;
    bar.inc(1);
    // The stopped node is continued and killed when its `Reaped` drops, after the
    // measurement.
    let hang_ms = detect(&node, b, b_proc, |child| {
        let _ = rustix::process::kill_process(pid_of(&child.0), rustix::process::Signal::STOP);
    })?;
    bar.finish_and_clear();

    let mut report = Report::of(node.runtime(), 3);
    let p50 = percentile(&rtt, 0.50);
    let raw_p50 = percentile(&raw_rtt, 0.50);
    report.figure(
        "roundtrip_us_p50",
        p50,
        "a process here to node b's service and back (µs)",
    );
    report.figure(
        "roundtrip_us_p99",
        percentile(&rtt, 0.99),
        "the same, 99th percentile (µs)",
    );
    report.figure(
        "raw_nats_roundtrip_us_p50",
        raw_p50,
        "two raw async-nats clients, the same exchange (µs)",
    );
    report.figure(
        "roundtrip_over_raw_us",
        p50 - raw_p50,
        "what the nodes add to a round trip (µs)",
    );
    report.figure(
        "msgs_per_s",
        per_s,
        "one-way messages from a process here to node b, all counted there",
    );
    report.figure(
        "raw_nats_msgs_per_s",
        raw_per_s,
        "raw publishes to a raw subscriber on the same server",
    );
    report.figure(
        "raw_nats_lost",
        raw_lost,
        "raw publishes the raw subscriber never got (core NATS is at-most-once)",
    );
    report.figure(
        "ratio_msgs_vs_raw",
        per_s / raw_per_s,
        "msgs_per_s / raw_nats_msgs_per_s",
    );
    report.figure("messages", one_way, "one-way messages sent");
    report.figure(
        "received",
        counts.received,
        "one-way messages node b counted",
    );
    report.figure("lost", counts.lost, "one-way messages that never arrived");
    report.figure(
        "reordered",
        counts.reordered,
        "one-way messages that arrived after a later one",
    );
    report.figure(
        "node_down_detect_ms",
        kill_ms,
        "SIGKILL of node c to the noconnection exit of a process linked to it (ms)",
    );
    report.figure(
        "node_hang_detect_ms",
        hang_ms,
        "SIGSTOP of node b to the same (ms)",
    );
    io.block_on(node.stop(Duration::from_millis(100)));
    Ok(report)
}

/// The `p`th percentile of `xs`, in µs.
fn percentile(xs: &[Duration], p: f64) -> f64 {
    let mut sorted: Vec<Duration> = xs.to_vec();
    sorted.sort();
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// Spawns `body` on `node` once it knows the pid of `target`'s service, and returns what
/// it sends on the channel.
fn with_service<T, F, Fut>(node: &Node, target: NodeId, body: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce(NativeContext, Pid) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let process = node
        .runtime()
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            let who = cx.receive(Some(tag::WHO), Some(STUCK)).await;
            let result = match who.and_then(|m| m.from) {
                Some(service) => body(cx, service).await,
                None => Err(anyhow::anyhow!("the node service did not answer")),
            };
            let _ = tx.send(result);
            0
        })?;
    ask_who(node, target, process.pid())?;
    rx.recv_timeout(STUCK + STUCK)
        .context("a bench process never reported")?
}

/// Asks `target`'s service to say `WHO` to `asker`, a process of `node`: the answer's
/// sender is the service's pid.
fn ask_who(node: &Node, target: NodeId, asker: Pid) -> Result<(), SendError> {
    node.send_name(target, SERVICE, tag::WHO, asker.to_bits().to_le_bytes())
}

/// Round trips from a process of `node` to `target`'s service.
fn round_trips(node: &Node, target: NodeId) -> anyhow::Result<Vec<Duration>> {
    with_service(node, target, |cx, service| async move {
        let mut times = Vec::with_capacity(ROUND_TRIPS);
        for i in 0..WARMUP_TRIPS + ROUND_TRIPS {
            let start = Instant::now();
            cx.send(service, tag::ECHO, vec![0; 8])?;
            cx.receive(Some(tag::ECHO), Some(STUCK))
                .await
                .context("an echo never came back")?;
            if i >= WARMUP_TRIPS {
                times.push(start.elapsed());
            }
        }
        Ok(times)
    })
}

/// `count` one-way messages from a process of `node` to `target`'s service: what the
/// service counted, and messages per second from the first send to its report.
fn one_way_messages(node: &Node, target: NodeId, count: u64) -> anyhow::Result<(Counts, f64)> {
    with_service(node, target, move |cx, service| async move {
        let start = Instant::now();
        for seq in 0..count {
            loop {
                match cx.send(service, tag::COUNT, seq.to_le_bytes()) {
                    Ok(()) => break,
                    // The queue to the node is full: wait, like a receive, for room.
                    Err(SendError::NodeBacklog { .. }) => {
                        cx.wait_node_room().await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        cx.send(service, tag::REPORT, Vec::new())?;
        let report = cx
            .receive(Some(tag::REPORT), Some(STUCK))
            .await
            .context("no report")?;
        let elapsed = start.elapsed();
        let counts = Counts::from_bytes(&report.data).context("a malformed report")?;
        Ok((counts, counts.received as f64 / elapsed.as_secs_f64()))
    })
}

/// Links a process of `node` to `target`'s service, does `stop` to `target`'s OS process
/// and returns the milliseconds until the process got `noconnection`.
fn detect(
    node: &Node,
    target: NodeId,
    mut child: Reaped,
    stop: impl FnOnce(&mut Reaped),
) -> anyhow::Result<f64> {
    let (linked_tx, linked_rx) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    let process = node
        .runtime()
        .spawn_native(SpawnOptions::new(), move |cx| async move {
            cx.trap_exit(true);
            let Some(who) = cx.receive(Some(tag::WHO), Some(STUCK)).await else {
                return 1;
            };
            let Some(service) = who.from else { return 2 };
            cx.link(service);
            // A round trip after the link: the link is in place on the other node.
            let _ = cx.send(service, tag::ECHO, Vec::new());
            let _ = cx.receive(Some(tag::ECHO), Some(STUCK)).await;
            let _ = linked_tx.send(());
            let exit = cx.receive(None, Some(STUCK)).await;
            let _ = tx.send((Instant::now(), exit.map(|m| (m.from, m.kind))));
            0
        })?;
    ask_who(node, target, process.pid())?;
    linked_rx
        .recv_timeout(STUCK)
        .context("the link was never made")?;
    let start = Instant::now();
    stop(&mut child);
    let (at, exit) = rx
        .recv_timeout(STUCK + STUCK)
        .context("no exit signal came")?;
    match exit {
        Some((
            _,
            MessageKind::Exit {
                reason: ExitReason::NoConnection,
            },
        )) => Ok(at.duration_since(start).as_secs_f64() * 1e3),
        other => bail!("expected EXIT(noconnection), got {other:?}"),
    }
}

fn user((user, password): (&str, &str)) -> Credentials {
    Credentials::UserPassword {
        user: user.into(),
        password: password.into(),
    }
}

/// A raw client's options: the nodes' user if the server has the bench's accounts.
fn raw_options(accounts: bool) -> async_nats::ConnectOptions {
    if accounts {
        async_nats::ConnectOptions::with_user_and_password(APP_USER.0.into(), APP_USER.1.into())
    } else {
        async_nats::ConnectOptions::new()
    }
}

/// The same round trips between two raw clients on the server at `url`.
async fn raw_round_trips(url: &str, accounts: bool) -> anyhow::Result<Vec<Duration>> {
    let (pinger, ponger) = (
        raw_options(accounts).connect(url).await?,
        raw_options(accounts).connect(url).await?,
    );
    let mut pings = ponger.subscribe("raw.ping").await?;
    let mut pongs = pinger.subscribe("raw.pong").await?;
    ponger.flush().await?;
    pinger.flush().await?;
    let echo = tokio::spawn(async move {
        while let Some(m) = pings.next().await {
            if ponger.publish("raw.pong", m.payload).await.is_err() {
                break;
            }
        }
    });
    let mut times = Vec::with_capacity(ROUND_TRIPS);
    let mut lost = 0;
    for i in 0..WARMUP_TRIPS + ROUND_TRIPS {
        // Core NATS is at-most-once: a ping or pong may be lost, and is then sent again
        // (numbered, so that a late pong is told from the awaited one). Such trips are
        // not timed; too many losses in a row end the run.
        let seq = (i as u64).to_le_bytes();
        let timed = loop {
            let start = Instant::now();
            pinger.publish("raw.ping", seq.to_vec().into()).await?;
            let deadline = tokio::time::Instant::now() + RAW_PONG_WAIT;
            let answered = loop {
                match tokio::time::timeout_at(deadline, pongs.next()).await {
                    Ok(Some(m)) if m.payload[..] == seq => break true,
                    Ok(Some(_)) => continue,
                    Ok(None) => anyhow::bail!("the raw pong stream ended"),
                    Err(_) => break false,
                }
            };
            if answered {
                break (lost == 0).then(|| start.elapsed());
            }
            lost += 1;
            tracing::warn!(
                trip = i,
                "a raw ping went unanswered for {RAW_PONG_WAIT:?}: sent again"
            );
            ensure!(
                lost < RAW_LOSSES,
                "raw pongs stopped coming ({lost} pings unanswered)"
            );
        };
        if let (true, Some(took)) = (i >= WARMUP_TRIPS, timed) {
            times.push(took);
        }
        lost = 0;
    }
    echo.abort();
    Ok(times)
}

/// How long a raw ping waits for its pong before it is sent again.
const RAW_PONG_WAIT: Duration = Duration::from_secs(1);
/// Raw pings in a row left unanswered before the baseline gives up.
const RAW_LOSSES: usize = 10;

/// `count` raw publishes of 8 bytes (a sequence number, as the nodes send) to a raw
/// subscriber: received per second, from the first publish to the last message received,
/// and how many never arrived.
async fn raw_one_way(url: &str, accounts: bool, count: u64) -> anyhow::Result<(f64, u64)> {
    let options = || raw_options(accounts).subscription_capacity(count as usize + 1);
    let (publisher, receiver) = (options().connect(url).await?, options().connect(url).await?);
    let mut sink = receiver.subscribe("raw.sink").await?;
    receiver.flush().await?;
    let counted = tokio::spawn(async move {
        let mut n = 0u64;
        while n < count {
            match tokio::time::timeout(Duration::from_secs(5), sink.next()).await {
                Ok(Some(_)) => n += 1,
                _ => break,
            }
        }
        (n, Instant::now())
    });
    let start = Instant::now();
    for seq in 0..count {
        publisher
            .publish("raw.sink", seq.to_le_bytes().to_vec().into())
            .await?;
    }
    publisher.flush().await?;
    let (n, end) = counted.await?;
    // Core NATS is at-most-once: a server that finds the subscriber slow drops it. The
    // baseline reports that rather than failing.
    Ok((
        n as f64 / end.duration_since(start).as_secs_f64(),
        count - n,
    ))
}
