//! The `shoal:actor` world (wit/actor.wit): the guest ABI for components, beside the
//! core-module ABI of [`super::host`], which stays.
//!
//! # What it owns
//! The component linker's `shoal:actor/*@0.1.0` instances: one file per interface, each
//! function a thin adapter that lifts the component model's values, calls the operation
//! the core ABI's function of the same name calls (the actor layer's, the executor's, or
//! a helper [`super::host`] shares, such as its receive, spawn and sleep), and lowers the
//! answer. So the two ABIs cannot drift apart in meaning: only their encodings differ
//! (a `result<_, error>` here, a status code there; a `message` record here, a current
//! message and `message_*` calls there). docs/ABI.md maps each function to its core twin.
//!
//! | file | interface |
//! |---|---|
//! | `types` | `types`: `error`, `message-kind`, `message`, `signal` as Rust types |
//! | `process` | `process`: `self`, `parent`, `spawn`, `spawn-link`, `spawn-monitor`, `exit`, `panic` |
//! | `messages` | `messages`: `send`, `receive`, `receive-tag` |
//! | `actors` | `links`, `monitors` and `names` |
//! | `time` | `time`: `now`, `sleep`, `yield` |
//!
//! # Imports
//! The store's [`HostState`], the actor layer and the executor, and the helpers of
//! [`super::host`] and [`super::preempt`]; nothing of the core ABI's memory access: the
//! component model copies arguments and results itself, bounds checked, so a component's
//! bad pointer is refused before any function here runs (and ends that process as
//! `trap(bad_pointer)`, `super::trap`), never a host read outside its memory.
//!
//! # Invariants
//! - The Rust types and function signatures here are the WIT's: a component generated
//!   from wit/actor.wit links against this linker (a test checks it with
//!   `wit-component`'s dummy of the world), so a WIT edit that the host does not follow
//!   fails that test, not a user.
//! - Waits (`receive`, `receive-tag`, `sleep`, `yield`) are async host functions: the
//!   component's fiber suspends and its worker runs other processes, and a wait ends
//!   with a fresh quantum, as in the core ABI.

mod actors;
mod messages;
mod process;
mod time;
mod types;

use wasmtime::component::Linker;

use super::host::HostState;

/// The WIT package, as its interfaces' import names carry it.
pub(crate) const PACKAGE: &str = "shoal:actor";

/// The package's version: an import of another version is refused at compile.
const VERSION: &str = "0.1.0";

/// The import name of the package's interface `name`: `shoal:actor/<name>@<version>`.
fn interface(name: &str) -> String {
    format!("{PACKAGE}/{name}@{VERSION}")
}

/// Installs every interface of the world into `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    // `types` holds types only; a component imports it as an instance all the same.
    linker.instance(&interface("types"))?;
    process::add(linker.instance(&interface("process"))?)?;
    messages::add(linker.instance(&interface("messages"))?)?;
    actors::add_links(linker.instance(&interface("links"))?)?;
    actors::add_monitors(linker.instance(&interface("monitors"))?)?;
    actors::add_names(linker.instance(&interface("names"))?)?;
    time::add(linker.instance(&interface("time"))?)?;
    Ok(())
}
