//! `wasi`: N copies of a real WASI command (`--module`, with `--stdin` and arguments after
//! `--`), all spawned at once under Shoal, against the same N copies run one after
//! another in a bare wasmtime store on one thread, in the same run.
//!
//! The baseline is what a user without a scheduler does: wasmtime's default engine (no
//! fuel, no epochs, on-demand allocation), the synchronous WASI preview-1 linker, one
//! `Store` per copy, the module compiled once. Both sides get the same stdin and
//! arguments and discard their output. The Shoal side also reports how evenly the
//! copies shared the workers, as `shoal run` does: Jain's index over each copy's running
//! time.

use std::time::Instant;

use anyhow::{Context, bail, ensure};
use shoal::{ExitReason, Output, SpawnOptions, Stdin, WasiConfig};
use wasmtime_wasi::p2::pipe::MemoryInputPipe;

use super::{Bench, Report};
use crate::report::Share;

/// Copies by default: enough to keep every worker busy for a while.
const DEFAULT_PROCS: usize = 50;

pub(crate) fn run(bench: &Bench<'_>) -> anyhow::Result<Report> {
    let args = bench.args;
    let Some(path) = &args.module else {
        bail!(
            "the wasi workload needs --module FILE, a WASI command (README.md says how to build one)"
        );
    };
    let procs = bench.procs(DEFAULT_PROCS)?;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let stdin: Vec<u8> = match &args.stdin {
        Some(file) => {
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
        }
        None => Vec::new(),
    };
    let argv0 = path
        .file_name()
        .map_or_else(|| "main".to_owned(), |n| n.to_string_lossy().into_owned());
    let mut argv = vec![argv0];
    argv.extend(args.guest_args.iter().cloned());

    // Shoal: every copy at once.
    let runtime = bench.runtime(|b| b)?;
    let module = runtime.compile(&bytes)?;
    ensure!(
        module.uses_wasi(),
        "{} does not import wasi_snapshot_preview1",
        path.display()
    );
    let stdin_shared: std::sync::Arc<[u8]> = stdin.clone().into();
    let config = WasiConfig::new()
        .args(argv.iter().cloned())
        .stdin(Stdin::Bytes(stdin_shared))
        .stdout(Output::Discard)
        .stderr(Output::Discard);
    let bar = bench.progress(procs as u64, "copies");
    let start = Instant::now();
    let handles = (0..procs)
        .map(|_| {
            runtime.spawn_with(
                &module,
                "_start",
                0,
                SpawnOptions::new().wasi(config.clone()),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut running = Vec::with_capacity(procs);
    let mut failed = 0;
    for handle in &handles {
        let exit = handle.wait();
        if exit.reason != (ExitReason::Normal { code: 0 }) {
            failed += 1;
        }
        running.push(exit.accounting.running.as_secs_f64());
        bar.inc(1);
    }
    let shoal_s = start.elapsed().as_secs_f64();
    bar.finish_and_clear();
    bench.keep_trace(&runtime);

    // Bare wasmtime: one after another, with the default engine and with Shoal's code.
    let raw_s = raw_sequential(&bytes, &argv, &stdin, procs, None)?;
    let same = SameCode {
        epochs: runtime.preemption().epoch().is_some(),
        fuel: runtime.fuel_metering(),
    };
    let same_s = raw_sequential(&bytes, &argv, &stdin, procs, Some(same))?;

    let mut report = Report::of(&runtime, procs);
    report.figure(
        "copies_per_s",
        procs as f64 / shoal_s,
        "copies finished per second under Shoal",
    );
    report.figure(
        "raw_copies_per_s",
        procs as f64 / raw_s,
        "copies per second, one after another in a bare wasmtime store",
    );
    report.figure(
        "ratio_vs_raw",
        raw_s / shoal_s,
        "Shoal throughput / bare wasmtime throughput",
    );
    report.figure(
        "raw_same_code_copies_per_s",
        procs as f64 / same_s,
        "one after another, bare wasmtime compiling Shoal's code (bounds checks, instrumentation)",
    );
    report.figure(
        "ratio_vs_raw_same_code",
        same_s / shoal_s,
        "Shoal throughput / that baseline's: the scheduler's own cost, and its parallelism",
    );
    report.figure(
        "elapsed_s",
        shoal_s,
        "Shoal: all copies, first spawn to last exit (s)",
    );
    report.figure("raw_elapsed_s", raw_s, "bare wasmtime: all copies (s)");
    let share = Share::of(&running);
    report.figure(
        "jain_running",
        share.jain,
        "Jain's index over each copy's running time",
    );
    report.figure(
        "min_share",
        share.min_over_mean,
        "least running time of a copy / the mean",
    );
    report.figure(
        "max_share",
        share.max_over_mean,
        "most running time of a copy / the mean",
    );
    report.figure("failed", failed, "copies that did not exit normal(0)");
    Ok(report)
}

/// Room a memory may grow into in place before it moves, in the same-code baseline: 1 MiB,
/// a few of szip's buffers.
const GROWTH_RESERVATION: u64 = 1 << 20;

/// The code Shoal compiles, for the same-code baseline.
#[derive(Copy, Clone, Debug)]
struct SameCode {
    epochs: bool,
    fuel: bool,
}

/// Runs `procs` copies one after another in a bare wasmtime store; the seconds it took.
/// With `same_code`, the engine compiles what Shoal's does (bounds checks, instrumentation)
/// and only the scheduler is missing; without, it is wasmtime's default engine.
fn raw_sequential(
    bytes: &[u8],
    argv: &[String],
    stdin: &[u8],
    procs: usize,
    same_code: Option<SameCode>,
) -> anyhow::Result<f64> {
    use wasmtime::{Engine, Linker, Module, Store};
    use wasmtime_wasi::p1::{self, WasiP1Ctx};
    let mut config = wasmtime::Config::new();
    if let Some(code) = same_code {
        // Shoal's memories: explicit bounds checks against the current length, no
        // reservation or guard region per memory (`arena` in shoal-scheduler).
        config.memory_reservation(0);
        config.memory_guard_size(0);
        config.memory_reservation_for_growth(GROWTH_RESERVATION);
        config.epoch_interruption(code.epochs);
        config.consume_fuel(code.fuel);
    }
    let engine = Engine::new(&config)?;
    let module = Module::new(&engine, bytes)?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    p1::add_to_linker_sync(&mut linker, |ctx| ctx)?;
    let pre = linker.instantiate_pre(&module)?;
    let start = Instant::now();
    for _ in 0..procs {
        let ctx = wasmtime_wasi::WasiCtxBuilder::new()
            .args(argv)
            .stdin(MemoryInputPipe::new(stdin.to_vec()))
            .build_p1();
        let mut store = Store::new(&engine, ctx);
        // Instrumented but never interrupted: the checks run, nothing fires.
        store.set_epoch_deadline(u64::MAX);
        if same_code.is_some_and(|c| c.fuel) {
            store.set_fuel(u64::MAX)?;
        }
        let instance = pre.instantiate(&mut store)?;
        let entry = instance.get_typed_func::<(), ()>(&mut store, "_start")?;
        match entry.call(&mut store, ()) {
            Ok(()) => {}
            Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(wasmtime_wasi::I32Exit(0)) => {}
                _ => bail!("the baseline copy failed: {e:#}"),
            },
        }
    }
    Ok(start.elapsed().as_secs_f64())
}
