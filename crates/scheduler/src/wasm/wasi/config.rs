//! What a WASI process sees, and the wasmtime-wasi context made from it at spawn
//! (module docs: "What a process gets", "Directories are opened once").

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wasmtime_wasi::cli::AsyncStdoutStream;
use wasmtime_wasi::filesystem::WasiFilesystemCtx;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder, WasiView};

use crate::error::SpawnError;

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
