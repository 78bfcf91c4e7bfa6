//! The executor's integration tests, against its public API alone: processes here are
//! plain Rust futures, so every rule is checked without a wasm engine (as wasmtime's
//! fiber crate tests its API without wasmtime).

mod exit;
mod preempt;
mod schedule;
mod waits;

use std::sync::Arc;
use std::time::Duration;

use shoal_executor::{Config, Executor, Hooks, Preemption, ProcessOptions};

/// How long a test waits for something that should take milliseconds before calling it
/// a hang. Generous: CI machines are shared and slow.
pub const HANG: Duration = Duration::from_secs(60);

/// A config with `workers` workers and fuel quanta, started paused so that a test spawns
/// everything before anything runs.
pub fn config(workers: usize) -> Config {
    Config {
        workers,
        capacity: 64,
        preemption: Preemption::Fuel { quantum: 1_000 },
        fuel_metering: true,
        deterministic: false,
        paused: true,
        trace_events: None,
        defaults: ProcessOptions::default(),
        memory_budget: None,
        node: shoal_proc::NodeId::LOCAL,
    }
}

/// An executor launched with `config` and no hooks.
pub fn launch(config: Config) -> Arc<Executor> {
    launch_with(config, Hooks::default())
}

/// An executor launched with `config` and `hooks`.
pub fn launch_with(config: Config, hooks: Hooks) -> Arc<Executor> {
    Executor::launch(config, hooks).expect("threads start")
}

/// Stops `executor` once its processes have ended (they must end on their own).
pub fn stop(executor: &Executor) {
    executor.begin_shutdown();
    let deadline = std::time::Instant::now() + HANG;
    while executor.live() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "processes did not end"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    executor.stop();
}
