//! Raw wasmtime, the baseline of `yield`, `overhead`, `spawn` and `skynet`: the same
//! guests in bare `Store`s on the calling thread (or, for the spawn and instantiation
//! rates, on threads of their own), with the engine settings Shoal uses (pooling
//! allocator, copy-on-write memory images) and the instrumentation each figure names. No
//! scheduler, no run queue, no accounting: what is left is wasmtime's own cost.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Linker, Module, PoolingAllocationConfig, Store,
};

/// Instances the baseline's pool holds: each of its threads runs one at a time, so a few
/// suffice.
const POOL_SLOTS: u32 = 16;

/// The instrumentation a baseline engine compiles in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Instrumentation {
    /// Neither fuel nor epochs.
    None,
    /// Fuel metering, yielding every `quantum`.
    Fuel { quantum: u64 },
    /// Epoch checks, yielding every `slice_ticks` ticks of `tick`.
    Epoch { tick: Duration, slice_ticks: u64 },
    /// Both.
    Hybrid {
        quantum: u64,
        tick: Duration,
        slice_ticks: u64,
    },
}

impl Instrumentation {
    fn quantum(self) -> Option<u64> {
        match self {
            Instrumentation::Fuel { quantum } | Instrumentation::Hybrid { quantum, .. } => {
                Some(quantum)
            }
            _ => None,
        }
    }

    fn epoch(self) -> Option<(Duration, u64)> {
        match self {
            Instrumentation::Epoch { tick, slice_ticks }
            | Instrumentation::Hybrid {
                tick, slice_ticks, ..
            } => Some((tick, slice_ticks)),
            _ => None,
        }
    }
}

/// A bare engine with Shoal's allocator settings and `instrumentation`.
pub(crate) fn engine(instrumentation: Instrumentation) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.consume_fuel(instrumentation.quantum().is_some());
    config.epoch_interruption(instrumentation.epoch().is_some());
    config.memory_init_cow(true);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(POOL_SLOTS)
        .total_memories(POOL_SLOTS)
        .total_stacks(POOL_SLOTS)
        .total_tables(POOL_SLOTS)
        .max_memory_size(shoal::DEFAULT_MAX_MEMORY);
    config.memory_reservation(shoal::DEFAULT_MAX_MEMORY as u64);
    config.memory_reservation_for_growth(0);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| anyhow::anyhow!("the baseline engine: {e:#}"))
}

/// Polls a future to completion on this thread, re-polling at once after each yield:
/// the cheapest executor there is, so the baseline has no scheduler cost at all.
pub(crate) fn block_on<F: Future>(future: F) -> (F::Output, u64) {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    let mut pendings = 0;
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return (value, pendings);
        }
        pendings += 1;
    }
}

/// A thread that advances `engine`'s epoch every `tick` until dropped, as Shoal's ticker
/// does.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: &Engine, tick: Duration) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (engine.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                engine.increment_epoch();
            }
        });
        Ticker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `main(arg)` of `wat` once under `instrumentation`, yielding as Shoal would, and
/// returns the time the call took and how many times it yielded.
pub(crate) fn run_loop(
    wat: &str,
    arg: i64,
    instrumentation: Instrumentation,
) -> anyhow::Result<(Duration, u64)> {
    let engine = engine(instrumentation)?;
    let module = Module::new(&engine, wat)?;
    let mut store = Store::new(&engine, ());
    if let Some(quantum) = instrumentation.quantum() {
        store.set_fuel(u64::MAX)?;
        store.fuel_async_yield_interval(Some(quantum))?;
    }
    let _ticker = instrumentation.epoch().map(|(tick, slice_ticks)| {
        store.set_epoch_deadline(slice_ticks);
        store.epoch_deadline_async_yield_and_update(slice_ticks);
        Ticker::start(&engine, tick)
    });
    let linker = Linker::new(&engine);
    let (instance, _) = block_on(linker.instantiate_async(&mut store, &module));
    let main = instance?.get_typed_func::<i64, ()>(&mut store, "main")?;
    let start = Instant::now();
    let (result, yields) = block_on(main.call_async(&mut store, arg));
    let elapsed = start.elapsed();
    result?;
    Ok((elapsed, yields))
}

/// Spawn-and-exit of `n` trivial instances, one after another on each of `threads`
/// threads (`n / threads` each): pooled `instantiate_async` from a shared `InstancePre`,
/// then a call of `main`. Per second, from the first thread's start to the last one's
/// end. More than one thread shows how far the machine itself lets instantiation scale:
/// the ceiling for any runtime's parallel spawns.
pub(crate) fn spawn_rate(wat: &str, n: usize, threads: usize) -> anyhow::Result<f64> {
    instantiation_rate(wat, n, threads, Some("main"))
}

/// Instantiations of `wat` per second, as [`spawn_rate`] but calling nothing: its imports
/// are defined as functions that would trap, and are never called. A lower bound on the
/// time any runtime needs to give each of that many processes an instance of its own.
pub(crate) fn instantiate_rate(wat: &str, n: usize, threads: usize) -> anyhow::Result<f64> {
    instantiation_rate(wat, n, threads, None)
}

fn instantiation_rate(
    wat: &str,
    n: usize,
    threads: usize,
    call: Option<&str>,
) -> anyhow::Result<f64> {
    let engine = engine(Instrumentation::None)?;
    let module = Module::new(&engine, wat)?;
    let mut linker = Linker::<()>::new(&engine);
    linker.define_unknown_imports_as_traps(&module)?;
    let pre = linker.instantiate_pre(&module)?;
    let threads = threads.max(1);
    let each = (n / threads).max(1);
    let start = Instant::now();
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    block_on(async {
                        for _ in 0..each {
                            let mut store = Store::new(&engine, ());
                            let instance = pre.instantiate_async(&mut store).await?;
                            if let Some(export) = call {
                                let main = instance.get_typed_func::<(), ()>(&mut store, export)?;
                                main.call_async(&mut store, ()).await?;
                            }
                        }
                        anyhow::Ok(())
                    })
                    .0
                })
            })
            .collect();
        runs.into_iter()
            .try_for_each(|run| run.join().expect("a baseline thread panicked"))
    })?;
    Ok((each * threads) as f64 / start.elapsed().as_secs_f64())
}
