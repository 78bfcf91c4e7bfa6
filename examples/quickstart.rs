//! Quickstart: 1,000 processes of four kinds share a small pool of workers, and the
//! CPU-bound ones cannot starve the rest.
//!
//! Run it with `cargo run --example quickstart` (add `--release` for real numbers).
//!
//! - 250 **spinners** ([`guests::SPINNER`]) loop forever and never call the host. Only
//!   preemption interrupts them: here fuel quanta, with epoch slices as a wall-clock
//!   backstop (`Preemption::Hybrid`).
//! - 250 **yielders** ([`guests::YIELDER`]) give up the worker after every step.
//! - 250 **sleepers** ([`guests::SLEEPER`]) nap a few times.
//! - 250 **senders** ([`guests::PINGPONG`]) spawn a child each and exchange messages with it.
//!
//! The yielders, sleepers and senders all finish while every spinner is still running;
//! then the spinners are killed, and each process's accounting (time on a worker and fuel)
//! shows how the CPU was shared: evenly among the spinners (Jain's index near 1), and
//! without the spinners getting in the way of anyone who waited.

use std::time::{Duration, Instant};

use shoal::{Exit, ExitReason, Module, Preemption, ProcessHandle, Runtime, guests};
use tokio::task::JoinSet;

/// Processes of each kind.
const PER_KIND: usize = 250;
/// Yields each yielder makes: each one waits for a full round of the run queue, so this is
/// also how many times a yielder sees every spinner take its quantum.
const YIELDS: i64 = 100;
/// Total sleep of each sleeper, in milliseconds ([`guests::SLEEPER_ROUNDS`] naps).
const SLEEP_MS: i64 = 400;
/// Round trips of each sender with its child.
const ROUNDS: i64 = 100;
/// Fuel per quantum: shoal's default (about 30–100 µs of guest work).
const QUANTUM: u64 = shoal::DEFAULT_FUEL_QUANTUM;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    Spinner,
    Yielder,
    Sleeper,
    Sender,
}

const KINDS: [Kind; 4] = [Kind::Spinner, Kind::Yielder, Kind::Sleeper, Kind::Sender];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Spinner => "spinner",
            Kind::Yielder => "yielder",
            Kind::Sleeper => "sleeper",
            Kind::Sender => "sender",
        }
    }
}

/// One finished process: its kind, its exit, and when it ended (since the first spawn).
struct Finished {
    kind: Kind,
    exit: Exit,
    at: Duration,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = Runtime::builder()
        .preemption(Preemption::Hybrid {
            quantum: QUANTUM,
            tick: shoal::DEFAULT_EPOCH_TICK,
            slice_ticks: shoal::DEFAULT_SLICE_TICKS,
        })
        .build()?;
    let modules: Vec<(Kind, Module, i64)> = vec![
        (Kind::Spinner, runtime.compile_wat(guests::SPINNER)?, 0),
        (Kind::Yielder, runtime.compile_wat(guests::YIELDER)?, YIELDS),
        (
            Kind::Sleeper,
            runtime.compile_wat(guests::SLEEPER)?,
            SLEEP_MS,
        ),
        (Kind::Sender, runtime.compile_wat(guests::PINGPONG)?, ROUNDS),
    ];
    println!(
        "{} processes ({PER_KIND} of each kind) on {} workers, {} preemption",
        PER_KIND * KINDS.len(),
        runtime.workers(),
        runtime.preemption().name()
    );

    // Spawn the kinds interleaved, so that no kind gets a head start.
    let started = Instant::now();
    let mut spinners: Vec<ProcessHandle> = Vec::with_capacity(PER_KIND);
    let mut others = JoinSet::new();
    for _ in 0..PER_KIND {
        for (kind, module, arg) in &modules {
            let handle = runtime.spawn(module, "main", *arg)?;
            if *kind == Kind::Spinner {
                spinners.push(handle);
            } else {
                let kind = *kind;
                others.spawn(async move {
                    let exit = handle.join().await;
                    Finished {
                        kind,
                        exit,
                        at: started.elapsed(),
                    }
                });
            }
        }
    }

    let mut finished = Vec::with_capacity(PER_KIND * KINDS.len());
    while let Some(done) = others.join_next().await {
        finished.push(done?);
    }
    let others_done = started.elapsed();
    let spinning = spinners.iter().filter(|h| h.try_exit().is_none()).count();
    println!(
        "all {} yielders, sleepers and senders finished after {:.2} s; \
         {spinning} of {PER_KIND} spinners were still running",
        finished.len(),
        others_done.as_secs_f64()
    );

    for spinner in &spinners {
        spinner.kill();
    }
    for spinner in &spinners {
        let exit = spinner.join().await;
        finished.push(Finished {
            kind: Kind::Spinner,
            exit,
            at: started.elapsed(),
        });
    }
    // The senders' children have all been told to stop; give them a moment.
    runtime.shutdown_async(Duration::from_millis(100)).await;

    report(&finished, others_done);
    Ok(())
}

/// Time on a worker: the "CPU" a process got.
fn running_secs(exit: &Exit) -> f64 {
    exit.accounting.running.as_secs_f64()
}

/// Prints, per kind: exits, completion times, CPU share per process, and Jain's index.
fn report(finished: &[Finished], others_done: Duration) {
    let total_cpu: f64 = finished.iter().map(|f| running_secs(&f.exit)).sum();
    println!();
    println!(
        "{:<8} {:>6} {:>10} {:>17} {:>23} {:>11} {:>10} {:>10}",
        "kind",
        "normal",
        "other",
        "finished (median",
        "CPU share per process",
        "fuel per",
        "Jain",
        "Jain"
    );
    println!(
        "{:<8} {:>6} {:>10} {:>17} {:>23} {:>11} {:>10} {:>10}",
        "", "exits", "exits", "/ last), s", "mean (min-max)", "process", "(CPU)", "(fuel)"
    );
    for kind in KINDS {
        let of_kind: Vec<&Finished> = finished.iter().filter(|f| f.kind == kind).collect();
        let normal = of_kind
            .iter()
            .filter(|f| matches!(f.exit.reason, ExitReason::Normal { code: 0 }))
            .count();
        let mut times: Vec<f64> = of_kind.iter().map(|f| f.at.as_secs_f64()).collect();
        times.sort_by(f64::total_cmp);
        let finished_at = if kind == Kind::Spinner {
            format!("killed at {:.2}", times[0])
        } else {
            format!(
                "{:.2} / {:.2}",
                times[times.len() / 2],
                times[times.len() - 1]
            )
        };
        let shares: Vec<f64> = of_kind
            .iter()
            .map(|f| running_secs(&f.exit) / total_cpu)
            .collect();
        let fuel: Vec<f64> = of_kind
            .iter()
            .map(|f| f.exit.accounting.fuel as f64)
            .collect();
        let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
        let min = shares.iter().copied().fold(f64::INFINITY, f64::min);
        let max = shares.iter().copied().fold(0.0, f64::max);
        println!(
            "{:<8} {:>6} {:>10} {:>17} {:>23} {:>11.0} {:>10.3} {:>10.3}",
            kind.name(),
            normal,
            of_kind.len() - normal,
            finished_at,
            format!(
                "{:.3}% ({:.3}-{:.3})",
                100.0 * mean(&shares),
                100.0 * min,
                100.0 * max
            ),
            mean(&fuel),
            jain_index(&shares),
            jain_index(&fuel),
        );
    }
    let spinner_cpu: f64 = finished
        .iter()
        .filter(|f| f.kind == Kind::Spinner)
        .map(|f| running_secs(&f.exit))
        .sum();
    println!();
    println!(
        "The spinners got {:.1}% of all CPU time, as CPU-bound work should, yet everything \
         else finished within {:.2} s alongside them.",
        100.0 * spinner_cpu / total_cpu,
        others_done.as_secs_f64()
    );
    println!(
        "Jain's index is (Σx)²/(n·Σx²): 1.000 when every process of a kind got the same share. \
         The kinds that barely run spend most of their CPU time being instantiated and woken, \
         so their CPU index measures that overhead more than the scheduler."
    );
}

/// Jain's fairness index `(Σx)² / (n·Σx²)`: 1 when all are equal, `1/n` when one got all.
fn jain_index(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    if squares == 0.0 {
        1.0
    } else {
        sum * sum / (xs.len() as f64 * squares)
    }
}
