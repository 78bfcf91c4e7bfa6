//! `wasi`: N copies of a real WASI command (`--module`, with `--stdin` and arguments after
//! `--`), all spawned at once under Shoal, against the same N copies in bare wasmtime
//! stores on as many threads as Shoal has workers, in the same run.
//!
//! The baselines are what a user without a scheduler does: the synchronous WASI
//! preview-1 linker, one `Store` per copy, the module compiled once, each thread taking
//! the next copy when it finishes one. They run twice: with wasmtime's default engine
//! (guard pages, no fuel, no epochs), and compiling the code Shoal's engine compiles
//! (explicit bounds checks, and fuel and epoch checks where Shoal has them), so that the
//! second ratio is the scheduler's own cost and the first the whole cost. Both sides get
//! the same stdin and arguments and discard their output, and both report CPU per copy
//! (the copy's running time on its thread), which does not depend on how many threads
//! there are. The Shoal side also reports how evenly the
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
    // Limits sized to the copies and to what the module declares, as `shoal run` sizes
    // them for a module that cannot spawn: so the memories are guarded where the copies
    // are few enough (`--memories` chooses).
    let declared = crate::declared::Declared::of(&bytes);
    let runtime = bench.runtime(|b| {
        b.capacity(procs)
            .max_memory(usize::try_from(declared.max_memory(procs)).unwrap_or(usize::MAX))
            .max_table_elements(declared.max_table_elements())
    })?;
    let module = runtime.compile(&bytes)?;
    // A command component runs whether or not it imports WASI (its WASI settings are then
    // unused); a core module must import preview 1.
    ensure!(
        module.uses_wasi() || (module.is_component() && module.check_entry("_start").is_ok()),
        "{} is neither a module that imports wasi_snapshot_preview1 nor a wasi:cli/command \
         component",
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

    // Bare wasmtime on as many threads, with the default engine and with Shoal's code.
    let threads = runtime.workers();
    let raw = raw_copies(&bytes, &argv, &stdin, procs, threads, None)?;
    let same = SameCode {
        epochs: runtime.preemption().epoch().is_some(),
        fuel: runtime.fuel_metering(),
        layout: runtime.memory_layout(),
    };
    let same = raw_copies(&bytes, &argv, &stdin, procs, threads, Some(same))?;
    let cpu_per_copy = running.iter().sum::<f64>() / procs as f64;

    let mut report = Report::of(&runtime, procs);
    report.figure(
        "memories",
        runtime.memory_layout().name(),
        "how Shoal laid out memories (guarded: no bounds checks), and the same-code baseline too",
    );
    report.figure(
        "copies_per_s",
        procs as f64 / shoal_s,
        "copies finished per second under Shoal",
    );
    report.figure(
        "raw_copies_per_s",
        procs as f64 / raw.elapsed_s,
        "copies per second in bare wasmtime stores (default engine) on as many threads",
    );
    report.figure(
        "ratio_vs_raw",
        raw.elapsed_s / shoal_s,
        "Shoal throughput / that baseline's (below 1: Shoal is slower)",
    );
    report.figure(
        "raw_same_code_copies_per_s",
        procs as f64 / same.elapsed_s,
        "copies per second on as many threads, bare wasmtime compiling Shoal's code (bounds checks, instrumentation)",
    );
    report.figure(
        "ratio_vs_raw_same_code",
        same.elapsed_s / shoal_s,
        "Shoal throughput / that baseline's: the scheduler's own cost",
    );
    report.figure(
        "cpu_per_copy_s",
        cpu_per_copy,
        "Shoal: mean running time of a copy on its worker (s)",
    );
    report.figure(
        "raw_cpu_per_copy_s",
        raw.cpu_per_copy_s,
        "bare wasmtime, default engine: mean time of a copy on its thread (s)",
    );
    report.figure(
        "cpu_ratio_vs_raw",
        cpu_per_copy / raw.cpu_per_copy_s,
        "Shoal's CPU per copy / the default engine's (above 1: Shoal costs more)",
    );
    report.figure(
        "cpu_ratio_vs_raw_same_code",
        cpu_per_copy / same.cpu_per_copy_s,
        "Shoal's CPU per copy / the same code's in bare wasmtime",
    );
    report.figure(
        "elapsed_s",
        shoal_s,
        "Shoal: all copies, first spawn to last exit (s)",
    );
    report.figure(
        "raw_elapsed_s",
        raw.elapsed_s,
        "bare wasmtime, default engine: all copies (s)",
    );
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
    layout: shoal::MemoryLayout,
}

/// What a baseline measured.
struct RawRun {
    /// First copy's start to last copy's end.
    elapsed_s: f64,
    /// Mean time of one copy on its thread.
    cpu_per_copy_s: f64,
}

/// Runs `procs` copies in bare wasmtime stores on `threads` threads, each taking the next
/// copy when it finishes one. With `same_code`, the engine compiles what Shoal's does
/// (bounds checks, instrumentation) and only the scheduler is missing; without, it is
/// wasmtime's default engine.
fn raw_copies(
    bytes: &[u8],
    argv: &[String],
    stdin: &[u8],
    procs: usize,
    threads: usize,
    same_code: Option<SameCode>,
) -> anyhow::Result<RawRun> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use wasmtime::{Engine, Linker, Module, Store};
    use wasmtime_wasi::p1::{self, WasiP1Ctx};
    use wasmtime_wasi::p2::bindings::sync::CommandPre;
    /// What a baseline copy instantiates.
    enum Pre {
        Core(wasmtime::InstancePre<WasiP1Ctx>),
        Component(CommandPre<WasiP1Ctx>),
    }
    let mut config = wasmtime::Config::new();
    if let Some(code) = same_code {
        match code.layout {
            // Shoal's dense memories: explicit bounds checks against the current length,
            // no reservation or guard region per memory (`arena` in shoal-scheduler).
            shoal::MemoryLayout::Dense => {
                config.memory_reservation(0);
                config.memory_guard_size(0);
                config.memory_reservation_for_growth(GROWTH_RESERVATION);
            }
            // Its guarded ones: the reservation and guard it tells its engine of.
            shoal::MemoryLayout::Guarded => {
                config.memory_reservation(shoal::GUARDED_RESERVATION as u64);
                config.memory_guard_size(shoal::GUARDED_GUARD as u64);
                config.guard_before_linear_memory(false);
                config.memory_may_move(false);
            }
        }
        config.epoch_interruption(code.epochs);
        config.consume_fuel(code.fuel);
    }
    let engine = Engine::new(&config)?;
    // A preview 1 module, or a preview 2 command component: the same context serves both
    // (wasmtime-wasi's preview 1 sits on preview 2), as it does in Shoal.
    let binary = wat::parse_bytes(bytes)?;
    let pre = if wasmparser::Parser::is_component(&binary) {
        let component = wasmtime::component::Component::new(&engine, &binary)?;
        let mut linker = wasmtime::component::Linker::<WasiP1Ctx>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Pre::Component(CommandPre::new(linker.instantiate_pre(&component)?)?)
    } else {
        let module = Module::new(&engine, &binary)?;
        let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
        p1::add_to_linker_sync(&mut linker, |ctx| ctx)?;
        Pre::Core(linker.instantiate_pre(&module)?)
    };
    let next = AtomicUsize::new(0);
    let one_copy = || -> anyhow::Result<f64> {
        let started = Instant::now();
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
        let ran = match &pre {
            Pre::Core(pre) => pre.instantiate(&mut store).and_then(|instance| {
                instance
                    .get_typed_func::<(), ()>(&mut store, "_start")?
                    .call(&mut store, ())
            }),
            Pre::Component(pre) => pre.instantiate(&mut store).and_then(|command| {
                match command.wasi_cli_run().call_run(&mut store)? {
                    Ok(()) => Ok(()),
                    Err(()) => Err(wasmtime::Error::msg(
                        "the baseline copy's run returned an error",
                    )),
                }
            }),
        };
        match ran {
            Ok(()) => {}
            Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(wasmtime_wasi::I32Exit(0)) => {}
                _ => bail!("the baseline copy failed: {e:#}"),
            },
        }
        Ok(started.elapsed().as_secs_f64())
    };
    let start = Instant::now();
    let per_thread: Vec<anyhow::Result<f64>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut busy = 0.0;
                    while next.fetch_add(1, Ordering::Relaxed) < procs {
                        busy += one_copy()?;
                    }
                    Ok(busy)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a baseline thread does not panic"))
            .collect()
    });
    let elapsed_s = start.elapsed().as_secs_f64();
    let mut busy = 0.0;
    for result in per_thread {
        busy += result?;
    }
    Ok(RawRun {
        elapsed_s,
        cpu_per_copy_s: busy / procs.max(1) as f64,
    })
}
