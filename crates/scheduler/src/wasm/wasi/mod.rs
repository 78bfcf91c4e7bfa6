//! WASI preview 1: command modules (`_start`, importing `wasi_snapshot_preview1`) run as
//! processes under the same scheduler as every guest.
//!
//! # What a process gets
//! A [`WasiConfig`] (per spawn, through [`SpawnOptions::wasi`](crate::SpawnOptions::wasi),
//! or the runtime's default) says what a WASI process sees: its arguments (`argv[0]`
//! first, as wasmtime's CLI passes the module's file name), environment, stdin (empty,
//! bytes, or a file read at spawn), stdout and stderr (inherited, captured into the exit,
//! written to a file, or discarded) and preopened directories. A module that imports WASI
//! and is spawned without a config gets an empty one: no arguments, no environment, no
//! directories, output discarded.
//!
//! # Directories are opened once
//! [`WasiConfig::preopen_dir`] opens the directory when the config is made, and every
//! process spawned with the config shares that one open descriptor (wasmtime-wasi's
//! directory handles are reference-counted and position-free, so sharing is safe). A
//! thousand processes with three preopens hold three descriptors, not three thousand:
//! the failure of lunatic's per-process preopens (its issue #104).
//!
//! # Workers never block
//! wasmtime-wasi's preview-1 functions are async: file I/O runs on a blocking pool and
//! `poll_oneoff` sleeps on a timer, both on a small tokio runtime the Shoal runtime
//! starts on first use ([`WasiIo`]). While a WASI call is pending the process is
//! `Waiting(HostCall)` and holds no worker; the waker that completes the call schedules
//! it like any wake-up. The tokio runtime is entered around every poll of a WASI
//! process, which is what wasmtime-wasi needs of the thread that polls it.
//!
//! # Exits
//! `proc_exit(n)` ends the process as `normal(n)`; a trap (a Rust panic compiles to
//! `unreachable`) is a trap with its message; fuel, deadlines and kills apply as to any
//! guest.
//!
//! | file | holds |
//! |---|---|
//! | `config` | [`WasiConfig`]: what a process sees, and the context made from it |
//! | `io` | the small tokio runtime WASI I/O and timers run on |
//! | `run` | the wrapper around a WASI guest's run: the runtime entered, waits noted |

mod config;
mod io;
mod run;

pub(crate) use config::WasiState;
pub use config::{MAX_CAPTURE_BYTES, Output, Preopen, PreopenError, Stdin, WasiConfig};
pub(crate) use io::WasiIo;
pub(crate) use run::run_wasi;

/// The import module of WASI preview 1.
pub(crate) const WASI_MODULE: &str = "wasi_snapshot_preview1";
