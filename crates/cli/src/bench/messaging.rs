//! Message passing: `ring` (N processes pass a token M times around) and `pingpong` (two
//! processes exchange K round trips). Both run guests only in the measured part; a native
//! coordinator sets the ring up, starts the clock once every node has said it is ready
//! (so the nodes' instantiation is not measured), and is told when the token has made
//! every hop.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use shoal::{ExitReason, SpawnOptions};

use super::guests::{self, ring_tag};
use super::{Bench, Report};

/// Ring size by default.
const DEFAULT_RING: usize = 1_000;
/// Times round the ring by default: 100,000 messages at the default size.
const DEFAULT_LAPS: u64 = 100;
/// Round trips of pingpong by default.
const DEFAULT_ROUND_TRIPS: u64 = 100_000;
/// How long the coordinator waits for the token before calling the ring stuck.
const STUCK: Duration = Duration::from_secs(300);

pub(crate) fn ring(bench: &Bench<'_>) -> anyhow::Result<Report> {
    let procs = bench.procs(DEFAULT_RING)?;
    let laps = bench.args.rounds.unwrap_or(DEFAULT_LAPS);
    ensure!(laps > 0, "--rounds must be at least 1");
    let hops = procs as u64 * laps;
    let runtime = bench.runtime(|b| b.capacity(procs + 1))?;
    let module = runtime.compile_wat(guests::RING_NODE)?;

    let coordinator = runtime.spawn_native(SpawnOptions::new(), move |cx| async move {
        let mut nodes = Vec::with_capacity(procs);
        for _ in 0..procs {
            match cx.spawn(&module, "main", 0) {
                Ok(node) => nodes.push(node),
                Err(_) => return -1,
            }
        }
        for (i, node) in nodes.iter().enumerate() {
            let next = nodes[(i + 1) % procs].pid().to_bits();
            if cx
                .send(node.pid(), ring_tag::NEXT, next.to_le_bytes())
                .is_err()
            {
                return -2;
            }
        }
        // Every node has run its first quantum (instantiated, read its next node) and
        // waits: the clock measures messages, not the ring's start-up.
        for _ in 0..procs {
            if cx
                .receive(Some(ring_tag::READY), Some(STUCK))
                .await
                .is_none()
            {
                return -5;
            }
        }
        // The token starts at node 0 with every hop still to go; `hops` sends in all.
        let start = cx.now();
        if cx
            .send(nodes[0].pid(), ring_tag::TOKEN, (hops - 1).to_le_bytes())
            .is_err()
        {
            return -3;
        }
        if cx
            .receive(Some(ring_tag::DONE), Some(STUCK))
            .await
            .is_none()
        {
            return -4;
        }
        let elapsed = cx.now() - start;
        for node in &nodes {
            node.join().await;
        }
        // Microseconds fit an i32 for 35 minutes: ample for a benchmark.
        i32::try_from(elapsed.as_micros()).unwrap_or(i32::MAX)
    })?;
    let bar = bench.progress(1, "ring");
    let exit = coordinator.wait();
    bar.finish_and_clear();
    runtime.shutdown(Duration::ZERO);
    bench.keep_trace(&runtime);
    let micros = match exit.reason {
        ExitReason::Normal { code } if code > 0 => code as f64,
        other => bail!("the ring coordinator ended {other}"),
    };
    let mut report = Report::of(&runtime, procs);
    report.figure(
        "steals",
        runtime.stats().steals,
        "processes a worker took from another's deque",
    );
    report.figure(
        "msgs_per_s",
        hops as f64 / (micros / 1e6),
        "token passes per second",
    );
    report.figure("ns_per_msg", micros * 1e3 / hops as f64, "ns per pass");
    report.figure("messages", hops, "token passes");
    report.figure(
        "elapsed_s",
        micros / 1e6,
        "from the first pass to the last (s)",
    );
    Ok(report)
}

pub(crate) fn pingpong(bench: &Bench<'_>) -> anyhow::Result<Report> {
    let trips = bench.args.rounds.unwrap_or(DEFAULT_ROUND_TRIPS);
    ensure!(trips > 0, "--rounds must be at least 1");
    let runtime = bench.runtime(|b| b)?;
    let module = runtime.compile_wat(shoal::guests::PINGPONG)?;
    let bar = bench.progress(1, "pingpong");
    let start = Instant::now();
    let exit = runtime.spawn(&module, "main", trips as i64)?.wait();
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    runtime.shutdown(Duration::from_secs(1));
    bench.keep_trace(&runtime);
    ensure!(
        exit.reason == ExitReason::Normal { code: 0 },
        "the pingpong guest ended {} (see shoal::guests::PINGPONG for its codes)",
        exit.reason
    );
    let mut report = Report::of(&runtime, 2);
    report.figure(
        "steals",
        runtime.stats().steals,
        "processes a worker took from another's deque",
    );
    report.figure(
        "roundtrip_ns",
        elapsed.as_nanos() as f64 / trips as f64,
        "one round trip: send, receive, reply, receive (ns)",
    );
    report.figure("round_trips", trips, "round trips");
    report.figure(
        "elapsed_s",
        elapsed.as_secs_f64(),
        "including spawning the pair (s)",
    );
    Ok(report)
}
