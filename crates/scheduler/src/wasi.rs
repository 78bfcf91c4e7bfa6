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

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use wasmtime_wasi::cli::AsyncStdoutStream;
use wasmtime_wasi::filesystem::WasiFilesystemCtx;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder, WasiView};

use crate::error::SpawnError;

/// The import module of WASI preview 1.
pub(crate) const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// Most bytes captured of one process's stdout or stderr: 16 MiB, the same bound as a
/// message. Writes past it fail in the guest, as a full pipe would.
pub const MAX_CAPTURE_BYTES: usize = 16 << 20;

/// Bytes an output file's writer takes before a write waits for it: 64 KiB, one pipe's
/// worth, enough for a program's line-at-a-time output never to wait.
const FILE_WRITE_BUDGET: usize = 64 << 10;

/// Where a WASI process's stdin comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Stdin {
    /// Nothing: the first read is end of file.
    #[default]
    Empty,
    /// These bytes.
    Bytes(Arc<[u8]>),
    /// This file, read at spawn (a missing file is a spawn error).
    File(PathBuf),
}

/// Where a WASI process's stdout or stderr goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Output {
    /// Nowhere.
    #[default]
    Discard,
    /// The host process's own stream, as wasmtime's CLI does.
    Inherit,
    /// Kept in memory (at most [`MAX_CAPTURE_BYTES`]) and handed over with the exit
    /// ([`Exit::output`](crate::Exit)).
    Capture,
    /// This file, created or truncated at spawn.
    File(PathBuf),
}

/// A preopened directory: opened once, shared by every process of the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preopen {
    /// The directory on the host.
    pub host: PathBuf,
    /// Its name in the guest.
    pub guest: String,
    /// Whether the guest may only read.
    pub read_only: bool,
}

/// What a WASI process sees (module docs). Cheap to clone: clones share the opened
/// directories.
#[derive(Clone, Default)]
pub struct WasiConfig {
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Stdin,
    stdout: Output,
    stderr: Output,
    preopens: Vec<Preopen>,
    /// The opened directories, shared.
    filesystem: Option<Arc<WasiFilesystemCtx>>,
}

impl fmt::Debug for WasiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WasiConfig")
            .field("args", &self.args)
            .field("env", &self.env)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("preopens", &self.preopens)
            .finish()
    }
}

/// Two configs are equal when they give a process the same arguments, environment, stdio
/// and directories (the opened directory handles themselves are not compared).
impl PartialEq for WasiConfig {
    fn eq(&self, other: &Self) -> bool {
        self.args == other.args
            && self.env == other.env
            && self.stdin == other.stdin
            && self.stdout == other.stdout
            && self.stderr == other.stderr
            && self.preopens == other.preopens
    }
}

impl Eq for WasiConfig {}

/// A directory could not be preopened.
#[derive(Debug, thiserror::Error)]
#[error("cannot preopen {}: {message}", path.display())]
pub struct PreopenError {
    /// The directory.
    pub path: PathBuf,
    /// Why.
    pub message: String,
}

impl WasiConfig {
    /// No arguments, no environment, empty stdin, output discarded, no directories.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an argument; the first is the guest's `argv[0]`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets stdin.
    pub fn stdin(mut self, stdin: Stdin) -> Self {
        self.stdin = stdin;
        self
    }

    /// Sets stdout.
    pub fn stdout(mut self, output: Output) -> Self {
        self.stdout = output;
        self
    }

    /// Sets stderr.
    pub fn stderr(mut self, output: Output) -> Self {
        self.stderr = output;
        self
    }

    /// Opens `host` now and makes it the guest's directory `guest`, for every process
    /// spawned with this config (module docs: opened once).
    pub fn preopen_dir(
        mut self,
        host: impl AsRef<Path>,
        guest: impl Into<String>,
        read_only: bool,
    ) -> Result<Self, PreopenError> {
        self.preopens.push(Preopen {
            host: host.as_ref().to_owned(),
            guest: guest.into(),
            read_only,
        });
        let mut builder = WasiCtxBuilder::new();
        for p in &self.preopens {
            let perms = if p.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            builder
                .preopened_dir(&p.host, &p.guest, perms)
                .map_err(|e| PreopenError {
                    path: p.host.clone(),
                    message: format!("{e:#}"),
                })?;
        }
        let mut ctx = builder.build();
        self.filesystem = Some(Arc::new(ctx.filesystem().clone()));
        Ok(self)
    }

    /// The arguments, `argv[0]` first.
    pub fn get_args(&self) -> &[String] {
        &self.args
    }

    /// The preopened directories.
    pub fn preopens(&self) -> &[Preopen] {
        &self.preopens
    }

    /// A process's WASI context, and the pipes whose contents go into its exit. Called
    /// with the WASI I/O runtime entered: an output file's writer is a task on it.
    pub(crate) fn context(&self) -> Result<WasiState, SpawnError> {
        let io = |what: &str, path: &Path, e: std::io::Error| SpawnError::Wasi {
            message: format!("cannot open {what} {}: {e}", path.display()),
        };
        let mut builder = WasiCtxBuilder::new();
        builder.args(&self.args).envs(&self.env);
        match &self.stdin {
            Stdin::Empty => {}
            Stdin::Bytes(bytes) => {
                builder.stdin(MemoryInputPipe::new(bytes.to_vec()));
            }
            Stdin::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| io("stdin", path, e))?;
                builder.stdin(MemoryInputPipe::new(bytes));
            }
        }
        let mut captured = Captured::default();
        for (output, stderr) in [(&self.stdout, false), (&self.stderr, true)] {
            let slot = if stderr {
                &mut captured.stderr
            } else {
                &mut captured.stdout
            };
            match output {
                Output::Discard => {}
                Output::Inherit if stderr => {
                    builder.inherit_stderr();
                }
                Output::Inherit => {
                    builder.inherit_stdout();
                }
                Output::Capture => {
                    let pipe = MemoryOutputPipe::new(MAX_CAPTURE_BYTES);
                    *slot = Some(pipe.clone());
                    if stderr {
                        builder.stderr(pipe);
                    } else {
                        builder.stdout(pipe);
                    }
                }
                Output::File(path) => {
                    let what = if stderr { "stderr" } else { "stdout" };
                    let file = std::fs::File::create(path).map_err(|e| io(what, path, e))?;
                    // Written by tokio's blocking pool, never by the worker: each
                    // `fd_write` waits (as `Waiting(HostCall)`) until its bytes are written.
                    let stream =
                        AsyncStdoutStream::new(FILE_WRITE_BUDGET, tokio::fs::File::from_std(file));
                    if stderr {
                        builder.stderr(stream);
                    } else {
                        builder.stdout(stream);
                    }
                }
            }
        }
        let mut ctx = builder.build_p1();
        if let Some(filesystem) = &self.filesystem {
            // Before the guest runs: preview 1's descriptor table is made from the
            // preopens on the first WASI call.
            *ctx.ctx().ctx.filesystem() = (**filesystem).clone();
        }
        Ok(WasiState { ctx, captured })
    }
}

/// A WASI process's context and its captured output, in its store.
pub(crate) struct WasiState {
    /// What the preview-1 functions work on.
    pub ctx: WasiP1Ctx,
    /// The pipes whose contents go into the exit.
    pub captured: Captured,
}

/// The pipes of a process's captured output.
#[derive(Default)]
pub(crate) struct Captured {
    stdout: Option<MemoryOutputPipe>,
    stderr: Option<MemoryOutputPipe>,
}

impl Captured {
    /// What was captured, if anything was to be.
    pub(crate) fn take(&mut self) -> Option<shoal_proc::CapturedOutput> {
        if self.stdout.is_none() && self.stderr.is_none() {
            return None;
        }
        let bytes =
            |p: Option<MemoryOutputPipe>| p.map(|p| p.contents().to_vec()).unwrap_or_default();
        Some(shoal_proc::CapturedOutput {
            stdout: bytes(self.stdout.take()),
            stderr: bytes(self.stderr.take()),
        })
    }
}

/// The tokio runtime WASI I/O and timers run on, started on first use. Shut down in the
/// background when the Shoal runtime goes, so dropping a Shoal runtime inside someone
/// else's async context does not panic.
#[derive(Default)]
pub(crate) struct WasiIo {
    runtime: OnceLock<tokio::runtime::Runtime>,
}

/// Threads of the WASI I/O runtime: one, for timers and for handing file I/O to tokio's
/// blocking pool, which grows as needed. Shoal's workers do the computing.
const WASI_IO_THREADS: usize = 1;

impl WasiIo {
    /// The runtime's handle, starting it if needed.
    pub(crate) fn handle(&self) -> std::io::Result<tokio::runtime::Handle> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt.handle().clone());
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WASI_IO_THREADS)
            .thread_name("shoal-wasi-io")
            .enable_time()
            .enable_io()
            .build()?;
        // A racing first use builds a second runtime, which is shut down here unused.
        if let Err(spare) = self.runtime.set(rt) {
            spare.shutdown_background();
        }
        Ok(self.runtime.get().expect("just set").handle().clone())
    }
}

impl Drop for WasiIo {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A waker that notes whether it was woken during the poll it was made for.
struct NotingWaker {
    woken: std::sync::atomic::AtomicBool,
    inner: std::task::Waker,
}

impl std::task::Wake for NotingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, std::sync::atomic::Ordering::Release);
        self.inner.wake_by_ref();
    }
}

/// Wraps a WASI guest's run: every poll enters the WASI I/O runtime, and a poll that is
/// pending without having woken itself (not a fuel or epoch yield, which wake the task
/// before returning) is a WASI call waiting for I/O or a timer, so the process is marked
/// `Waiting(HostCall)` (`process::note_pending`).
pub(crate) fn run_wasi(
    mut run: crate::process::GuestRun,
    process: Arc<crate::process::Process>,
    shared: Arc<crate::shared::Shared>,
    io: tokio::runtime::Handle,
) -> crate::process::GuestRun {
    use std::task::{Context, Poll};
    Box::pin(std::future::poll_fn(move |cx: &mut Context<'_>| {
        let _entered = io.enter();
        let noting = Arc::new(NotingWaker {
            woken: std::sync::atomic::AtomicBool::new(false),
            inner: cx.waker().clone(),
        });
        let waker = std::task::Waker::from(noting.clone());
        match run.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(reason) => Poll::Ready(reason),
            Poll::Pending => {
                if !noting.woken.load(std::sync::atomic::Ordering::Acquire) {
                    crate::process::note_pending(&process, &shared);
                }
                Poll::Pending
            }
        }
    }))
}
