//! Supervised pool: workers that crash at random, restarted by a `shoal::Supervisor`, and
//! a client that gets every job done anyway. The workers and the client are a Rust guest
//! (examples/guests/pool, written with the `shoal-guest` SDK) compiled to wasm by this
//! package's build script; the supervisor is the host's.
//!
//! Run it with `cargo run --example supervised_pool` (4 workers, 300 jobs), or choose:
//! `cargo run --example supervised_pool -- 8 1000`.
//!
//! - The supervisor is `one_for_one`: a worker that crashes is restarted alone, under the
//!   same registered name (`worker.<i>`), while the others go on.
//! - Each worker crashes on about one job in ten: a panic, a division by zero, or a wasm
//!   `unreachable`. Its exit reasons are printed at the end, grouped.
//! - The client finds workers by name and sends each job as a request with a timeout; a
//!   job whose worker crashed goes to the next worker. It reports to the native process
//!   that spawned it, and its checksum is checked against the host's own.

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use shoal::{
    ChildSpec, ExitReason, MessageKind, NativeContext, ProcessHandle, Restart, Runtime,
    SignalReason, SpawnOptions, Strategy, Supervisor, SupervisorError,
};

// Shared with the guest, which uses the parts this program does not.
#[allow(dead_code)]
#[path = "guests/pool/src/protocol.rs"]
mod protocol;

/// Workers, unless the first argument says otherwise.
const WORKERS: u32 = 4;
/// Jobs, unless the second argument says otherwise.
const JOBS: u32 = 300;

/// Restarts the supervisor allows within [`PERIOD`] before it gives up. A crash costs
/// the client nothing (its request sees the worker's `DOWN` at once), so a whole run's
/// crashes, about one job in ten (some 30 of 300), can fall within one second; 100
/// leaves three times that as margin. OTP's default (1 in 5 s,
/// `shoal::DEFAULT_MAX_RESTARTS`) is for servers that should not crash at all.
const MAX_RESTARTS: u32 = 100;
/// The window [`MAX_RESTARTS`] counts in.
const PERIOD: Duration = Duration::from_secs(1);

/// Every worker process that ever ran, by slot: the supervisor's start functions add
/// each new one, so the host can read their exits afterwards.
type Started = Arc<Mutex<Vec<(u32, ProcessHandle)>>>;

fn main() -> Result<(), Box<dyn Error>> {
    let wasm = shoal_examples::module_or_exit(shoal_examples::POOL);
    let workers = shoal_examples::count_arg(1, WORKERS)?;
    let jobs = shoal_examples::count_arg(2, JOBS)?;

    let runtime = Runtime::builder().build()?;
    let module = runtime.compile(wasm)?;
    let started: Started = Arc::default();

    let mut builder = Supervisor::builder(Strategy::OneForOne).intensity(MAX_RESTARTS, PERIOD);
    for slot in 0..workers {
        let (module, started) = (module.clone(), started.clone());
        let start = move |ctx: &NativeContext| -> Result<shoal::Pid, SupervisorError> {
            let worker = ctx.spawn_link(&module, "worker", i64::from(slot))?;
            let pid = worker.pid();
            started
                .lock()
                .expect("no start panics")
                .push((slot, worker));
            Ok(pid)
        };
        builder = builder.child(ChildSpec::new(
            protocol::worker_name(slot),
            Restart::Permanent,
            start,
        ));
    }
    let supervisor = builder.start(&runtime)?;
    println!(
        "pool: {workers} workers under a one_for_one supervisor {}, {jobs} jobs",
        supervisor.pid()
    );

    // The client runs under a native process, its parent, which gets its summary (or
    // its DOWN, if it crashed) and hands it to this thread.
    let (summary_tx, summary_rx) = mpsc::channel::<Result<protocol::Summary, String>>();
    let clock = Instant::now();
    let client_module = module.clone();
    runtime.spawn_native(SpawnOptions::default(), move |cx| async move {
        let outcome = run_client(&cx, &client_module, jobs, workers).await;
        let code = i32::from(outcome.is_err());
        let _ = summary_tx.send(outcome);
        code
    })?;
    let summary = summary_rx.recv()?.map_err(|e| format!("client: {e}"))?;
    let elapsed = clock.elapsed();

    let children =
        Supervisor::which_children_wait(&runtime, supervisor.pid(), Duration::from_secs(1))?;
    runtime.exit(supervisor.pid(), SignalReason::Reason(ExitReason::Shutdown))?;
    let supervisor_exit = supervisor.wait();

    let expected: u64 = (0..jobs)
        .map(|id| protocol::collatz_sum(protocol::job(id).n))
        .sum();
    println!(
        "client: {}/{} jobs done in {elapsed:.1?}; {} met a worker that crashed on them, {} \
         timed out, {} found no worker (restarting)",
        summary.completed, summary.jobs, summary.crashed, summary.timeouts, summary.no_worker
    );
    println!(
        "  jobs per worker slot: {:?}; checksum {} ({})",
        summary.per_worker,
        summary.checksum,
        if summary.checksum == expected {
            "matches the host's"
        } else {
            "WRONG"
        }
    );

    let started = std::mem::take(&mut *started.lock().expect("no start panics"));
    let mut reasons: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (slot, handle) in &started {
        let exit = handle.wait();
        let entry = reasons.entry(kind_of(&exit.reason)).or_default();
        entry.0 += 1;
        if entry.1.is_empty() {
            entry.1 = format!("worker.{slot} {}: {}", handle.pid(), exit.reason);
        }
    }
    println!(
        "supervisor: started {} worker processes for {workers} slots, so {} restarts",
        started.len(),
        started.len().saturating_sub(workers as usize)
    );
    for (kind, (count, example)) in &reasons {
        println!("  {count:>4} ended {kind:<31} e.g. {example}");
    }
    println!(
        "  children at the end: {}",
        children
            .iter()
            .map(|c| format!("{} {}", c.id, c.pid.map_or("-".into(), |p| p.to_string())))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  supervisor exited {}", supervisor_exit.reason);

    if summary.completed != jobs || summary.checksum != expected {
        return Err("the pool lost jobs".into());
    }
    Ok(())
}

/// Spawns the client with `cx` as its parent and monitor, and waits for its summary.
async fn run_client(
    cx: &NativeContext,
    module: &shoal::Module,
    jobs: u32,
    workers: u32,
) -> Result<protocol::Summary, String> {
    let (client, reference) = cx
        .spawn_monitor(module, "client", protocol::pack(jobs, workers))
        .map_err(|e| format!("spawn: {e}"))?;
    let outcome = loop {
        let Some(message) = cx.receive(None, None).await else {
            continue;
        };
        match message.kind {
            MessageKind::Data if message.from == Some(client.pid()) => {
                break postcard::from_bytes(&message.data)
                    .map_err(|e| format!("the summary does not decode: {e}"));
            }
            MessageKind::Down {
                reference: r,
                reason,
            } if r == reference => {
                break Err(format!("ended before reporting: {reason}"));
            }
            _ => {}
        }
    };
    client.join().await;
    outcome
}

/// How an exit is grouped in the report: the reason without its varying details (a
/// panic's message names its job and its worker).
fn kind_of(reason: &ExitReason) -> String {
    match reason {
        ExitReason::Trap { code, message } if *code == shoal::TrapCode::Panic => {
            let what = message.split(" (at ").next().unwrap_or(message);
            if what.contains("divide by zero") {
                "trap(panic: divide by zero)".into()
            } else {
                "trap(panic: gave up on a job)".into()
            }
        }
        ExitReason::Trap { code, .. } => format!("trap({})", code.name()),
        other => other.to_string(),
    }
}
