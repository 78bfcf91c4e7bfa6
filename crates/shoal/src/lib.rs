//! Shoal runs many WebAssembly processes fairly on a fixed pool of worker threads.
//!
//! A *process* is one instance of a core wasm module running one of its exports, with
//! its own memory, mailbox and limits, and a pid in Erlang's style (`<0.3.1>`). Processes
//! talk to each other and to the host only by messages, through the `shoal` host module
//! (the guest ABI, `docs/ABI.md`). The runtime preempts them by fuel quanta, by epoch
//! slices, or both ([`Preemption`]), so a guest that loops forever without yielding
//! cannot starve the others: it shares the workers round-robin, while processes woken
//! from a sleep or a receive run ahead of the CPU-bound ones.
//!
//! Processes are actors with Erlang's semantics: links and exit signals, monitors, trap
//! exits, registered names, request/reply ([`NativeContext`] for native processes,
//! docs/ABI.md for guests).
//!
//! Every process ends with a structured [`Exit`]: a reason ([`ExitReason`]: normal with
//! a code, trap, out of fuel, deadline, killed, host error, noproc, shutdown, or a custom
//! reason with a code and bytes) and its accounting
//! ([`AccountingSnapshot`]: fuel, quanta, yields, preemptions and time per state).
//!
//! This crate is the facade to embed: it re-exports the scheduler's API
//! (`shoal-scheduler`, which re-exports the process model of `shoal-proc`) and adds
//! [`guests`], built-in guest programs for examples and tests.
//!
//! # Embedding
//!
//! Compile a module once, spawn as many processes from it as you like, wait for them:
//!
//! ```
//! use shoal::{ExitReason, Runtime, guests};
//!
//! let runtime = Runtime::builder().workers(2).build()?;
//! let module = runtime.compile_wat(guests::COUNTER)?;
//! let handles = (0..100)
//!     .map(|i| runtime.spawn(&module, "main", 1_000 * i))
//!     .collect::<Result<Vec<_>, _>>()?;
//! for handle in handles {
//!     let exit = handle.wait(); // or `handle.join().await` inside an async runtime
//!     assert!(matches!(exit.reason, ExitReason::Normal { code: 0 }), "{}", exit.reason);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Dropping the last clone of a [`Runtime`] shuts it down and kills what still runs; call
//! [`Runtime::shutdown`] to give processes a grace period and collect their exits.
//!
//! # The command line
//!
//! The `shoal` binary (package `shoal-cli`) runs a `.wasm` or `.wat` file, or the
//! built-in [`guests::MIXED`] workload, many times over and reports exits, fuel and
//! fairness: `cargo run --release -p shoal-cli -- run --procs 100`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod guests;

pub use shoal_scheduler::*;
