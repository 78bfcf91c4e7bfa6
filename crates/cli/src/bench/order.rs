//! `order`: S senders each send M messages to one receiver, whose mailbox is kept small
//! so that the senders meet `MAILBOX_FULL` and must retry. The receiver checks every
//! sender's messages arrive in the order sent, none lost and none twice: Erlang's
//! per-pair ordering, under back-pressure, at scale.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};
use shoal::{ExitReason, SpawnOptions};

use super::guests;
use super::{Bench, Report};

/// Senders by default.
const DEFAULT_SENDERS: usize = 8;
/// Messages per sender by default: 10,000,000 in all with the default senders.
const DEFAULT_MESSAGES: u64 = 1_250_000;
/// Senders at most: the receiver keeps each one's next expected count in its first page.
const MAX_SENDERS: usize = 100;
/// The receiver's mailbox bound: 64 KiB, some 800 messages, so that the senders are held
/// back by `MAILBOX_FULL` and the run checks order under back-pressure rather than in an
/// unbounded queue.
const RECEIVER_MAILBOX_BYTES: usize = 64 << 10;

pub(crate) fn run(bench: &Bench<'_>) -> anyhow::Result<Report> {
    let senders = bench.procs(DEFAULT_SENDERS)?;
    ensure!(
        senders <= MAX_SENDERS,
        "--procs (senders) must be at most {MAX_SENDERS}"
    );
    let count = bench.args.rounds.unwrap_or(DEFAULT_MESSAGES);
    ensure!(count > 0, "--rounds must be at least 1");
    let runtime = bench.runtime(|b| b.capacity(senders + 1))?;
    let module = runtime.compile_wat(guests::ORDER)?;
    let receiver = runtime.spawn_with(
        &module,
        "receiver",
        0,
        SpawnOptions::new().mailbox_bytes(RECEIVER_MAILBOX_BYTES),
    )?;
    let handles = (0..senders)
        .map(|_| runtime.spawn(&module, "sender", 0))
        .collect::<Result<Vec<_>, _>>()?;
    let setup =
        |values: &[u64]| -> Vec<u8> { values.iter().flat_map(|v| v.to_le_bytes()).collect() };
    let start = Instant::now();
    runtime.send(receiver.pid(), 0, setup(&[senders as u64, count]))?;
    for (index, sender) in handles.iter().enumerate() {
        runtime.send(
            sender.pid(),
            0,
            setup(&[receiver.pid().to_bits(), index as u64, count]),
        )?;
    }
    let bar = bench.progress(1, "order");
    let verdict = receiver.wait();
    let elapsed = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let mut retried = 0u64;
    for sender in &handles {
        match sender.wait().reason {
            ExitReason::Normal { code } if code >= 0 => retried += code as u64,
            other => bail!("a sender ended {other}"),
        }
    }
    runtime.shutdown(Duration::ZERO);
    let total = senders as u64 * count;
    let (out_of_order, missing) = match verdict.reason {
        ExitReason::Normal { code } if code >= 0 => (code as u64, 0),
        ExitReason::Normal { code } => (0, code.unsigned_abs() as u64),
        other => bail!("the receiver ended {other}"),
    };
    let mut report = Report::of(&runtime, senders);
    report.figure("messages", total, "messages sent and received");
    report.figure("msgs_per_s", total as f64 / elapsed, "messages per second");
    report.figure(
        "out_of_order",
        out_of_order,
        "messages not in their sender's order: a loss or a duplicate counts here",
    );
    report.figure("missing", missing, "messages that never arrived");
    report.figure(
        "retried",
        retried,
        "sends refused with MAILBOX_FULL and retried after a yield",
    );
    report.figure(
        "elapsed_s",
        elapsed,
        "first setup message to the last receive (s)",
    );
    Ok(report)
}
