//! `shoal run --spread`: the run's processes spread over the nodes of a cluster.
//!
//! The tool joins the cluster as a node of its own (named `run-<pid>`), lists the nodes
//! that accept spawns, and spawns `--procs` round-robin over itself and them: the i-th
//! process on the node at `i mod n`, the nodes ordered by id, this one among them. The
//! module travels by its hash (a node compiles it once); the fuel limit, deadline and
//! memory cap travel with each spawn. Each node sends its processes' exits back with
//! their accounting, so the usual summary and JSON cover every process, each with its
//! node; a process whose node goes down before it ends exits `noconnection`.
//!
//! What does not travel: WASI settings (a WASI module is refused), and a deterministic
//! schedule (one cannot span machines; `--deterministic` is refused by the parser).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use shoal::{Exit, NodeId, ProcessHandle, SpawnOptions, guests};
use shoal_cluster::{Node, NodeConfig, RemoteProcess, RemoteSpawnOptions};

use crate::RunArgs;
use crate::run::{self, NodeShare, Outcome, Request, SHUTDOWN_GRACE};

/// A process of the run: here, or on another node.
enum Spawned {
    Here(ProcessHandle),
    There(RemoteProcess),
}

/// Runs `args` spread over the cluster (module docs).
pub(crate) fn run(args: &RunArgs) -> anyhow::Result<Outcome> {
    let Request {
        procs,
        bytes,
        limits,
    } = run::request(args)?;
    let (Some(url), Some(cluster)) = (&args.nats, &args.cluster) else {
        bail!("--spread needs --nats URL and --cluster NAME");
    };
    let io = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the node's I/O thread")?;
    let mut config = NodeConfig::new(
        url.clone(),
        cluster.clone(),
        format!("run-{}", std::process::id()),
    );
    args.nats_auth.apply(&mut config);
    let builder = run::runtime_builder(args, &limits)?;
    let node = io
        .block_on(Node::start(config, builder))
        .with_context(|| format!("cannot join cluster `{cluster}` on {url}"))?;
    let runtime = node.runtime().clone();
    let (module, source) = run::compile(&runtime, args, bytes.as_deref())?;
    if module.uses_wasi() {
        bail!("--spread runs modules without WASI: WASI settings do not travel to other nodes yet");
    }
    let export = run::entry_export(&module, args.invoke.as_deref())?;
    let module_bytes: &[u8] = bytes.as_deref().unwrap_or(guests::MIXED.as_bytes());

    // This node and the others that accept spawns, by id.
    let mut nodes: Vec<NodeShare> = node
        .nodes()
        .into_iter()
        .filter(|n| n.accepts_spawn)
        .map(|n| NodeShare {
            node: n.id.get(),
            name: n.name,
            procs: 0,
        })
        .chain(std::iter::once(NodeShare {
            node: node.id().get(),
            name: node.name().to_owned(),
            procs: 0,
        }))
        .collect();
    nodes.sort_by_key(|n| n.node);
    let options = RemoteSpawnOptions {
        fuel_limit: args.fuel_limit,
        deadline: args.deadline_ms.map(Duration::from_millis),
        max_memory: Some(limits.max_memory),
    };

    let started = Instant::now();
    let mut spawned = Vec::with_capacity(procs);
    for index in 0..procs {
        let arg = args.arg.unwrap_or(index as i64);
        let count = nodes.len();
        let share = &mut nodes[index % count];
        share.procs += 1;
        let target = NodeId::new(share.node).expect("an id of a node up");
        let failed = || {
            format!(
                "cannot spawn process {} of {procs} on node {target}",
                index + 1
            )
        };
        spawned.push(if target == node.id() {
            let handle = runtime
                .spawn_with(&module, &export, arg, SpawnOptions::new())
                .with_context(failed)?;
            Spawned::Here(handle)
        } else {
            let process = io
                .block_on(node.spawn_on_joinable(target, module_bytes, &export, arg, options))
                .with_context(failed)?;
            Spawned::There(process)
        });
    }
    let exits: Vec<Exit> = spawned
        .into_iter()
        .map(|s| match s {
            Spawned::Here(handle) => handle.wait(),
            Spawned::There(process) => io.block_on(process.join()),
        })
        .collect();
    let elapsed = started.elapsed();
    // Read before the node stops, which shuts its runtime down.
    let mut outcome = Outcome::of(&runtime, source, export, exits, elapsed, limits);
    io.block_on(node.stop(SHUTDOWN_GRACE));
    outcome.nodes = nodes;
    Ok(outcome)
}
