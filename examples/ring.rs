//! Ring: N processes in a ring pass a token round M times. The processes are a Rust guest
//! (examples/guests/ring, written with the `shoal-guest` SDK) compiled to wasm by this
//! package's build script.
//!
//! Run it with `cargo run --example ring` (1,000 processes, 100 rounds), or choose:
//! `cargo run --release --example ring -- 10000 10`.
//!
//! A native process spawns the ring's first node and **monitors** it: it then waits for
//! one message, either the first node's report (a data message) or the node's `DOWN` if
//! the ring crashed first. The first node spawns the others with `spawn_link`, so a crash
//! anywhere in the ring takes all of it down, Erlang's classic ring.

use std::error::Error;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shoal::{MessageKind, Runtime, SpawnOptions};

// Shared with the guest, which uses the parts this program does not.
#[allow(dead_code)]
#[path = "guests/ring/src/protocol.rs"]
mod protocol;

/// Processes in the ring, unless the first argument says otherwise.
const NODES: u32 = 1_000;
/// Trips of the token round the ring, unless the second argument says otherwise.
const ROUNDS: u32 = 100;

/// What the watching native process learned: the report, or why the ring ended without
/// one.
type Outcome = Result<protocol::Report, String>;

fn main() -> Result<(), Box<dyn Error>> {
    let wasm = shoal_examples::module_or_exit(shoal_examples::RING);
    let nodes = shoal_examples::count_arg(1, NODES)?;
    let rounds = shoal_examples::count_arg(2, ROUNDS)?;

    let runtime = Runtime::builder().build()?;
    let module = runtime.compile(wasm)?;
    println!(
        "ring: {nodes} processes on {} workers pass a token round {rounds} times",
        runtime.workers()
    );

    let (outcome_tx, outcome_rx) = mpsc::channel::<Outcome>();
    let started = Instant::now();
    let watcher = runtime.spawn_native(SpawnOptions::default(), move |cx| async move {
        let (ring, reference) =
            match cx.spawn_monitor(&module, "ring", protocol::pack(nodes, rounds)) {
                Ok(spawned) => spawned,
                Err(e) => {
                    let _ = outcome_tx.send(Err(format!("spawn the ring: {e}")));
                    return 1;
                }
            };
        let outcome = match cx.receive(None, None).await {
            Some(message) => match message.kind {
                MessageKind::Data => postcard::from_bytes(&message.data)
                    .map_err(|e| format!("the report does not decode: {e}")),
                MessageKind::Down {
                    reference: r,
                    reason,
                } if r == reference => {
                    Err(format!("the ring went down before reporting: {reason}"))
                }
                other => Err(format!("unexpected message: {other:?}")),
            },
            None => Err("no message".to_owned()),
        };
        let exit = ring.join().await;
        let code = i32::from(outcome.is_err());
        let _ = outcome_tx.send(outcome.map_err(|e| format!("{e}; first node: {}", exit.reason)));
        code
    })?;

    let outcome = outcome_rx.recv()?;
    let wall = started.elapsed();
    watcher.wait();
    match outcome {
        Ok(report) => {
            let pass = Duration::from_nanos(report.pass_ns);
            println!(
                "  set-up: spawned and wired {} processes in {:.1?}",
                report.nodes,
                Duration::from_nanos(report.setup_ns)
            );
            println!(
                "  passing: {} hops in {pass:.1?}: {:.0} messages/s",
                report.hops,
                report.hops as f64 / pass.as_secs_f64().max(1e-9)
            );
            println!("  whole run, as the host saw it: {wall:.1?}");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
