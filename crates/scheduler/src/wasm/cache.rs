//! The on-disk cache of compiled modules.
//!
//! A large module (a language runtime, a compiler) takes seconds to compile, on every run.
//! [`Runtime::compile_cached`](crate::Runtime::compile_cached) keeps wasmtime's serialized
//! form of each module in a directory, under a key made of the module's bytes and the
//! engine's compatibility hash (wasmtime's version, target and every setting that changes
//! compiled code), so a module compiled by a differently configured engine is a miss,
//! never a wrong hit.
//!
//! # Trust
//! Loading a cached module loads native code from the file: the cache directory must be
//! as trusted as the `shoal` binary itself (wasmtime's own cache has the same rule). As
//! ssh does for its keys, the cache refuses
//! ([`CompileError::UntrustedCache`](crate::CompileError::UntrustedCache)) a directory
//! or an entry that another user owns or that group or others may write, before
//! reading anything from it; a directory it creates is the user's alone (mode 0700).
//! wasmtime still checks the file's header and its engine compatibility and refuses a
//! file that does not match; such a file is recompiled and replaced.
//!
//! # Writes
//! A new entry is written to a temporary file in the directory and renamed into place,
//! so a reader never sees a half-written entry and two processes filling the cache at
//! once both end with a whole one.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};

use wasmtime::Engine;

use crate::error::CompileError;

/// What the cache did for one compile.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// The module was loaded from the cache.
    Hit,
    /// The module was compiled and stored.
    Stored,
}

/// The mode of a cache directory this module creates: the user's alone.
const PRIVATE_DIR: u32 = 0o700;

/// The mode of a cache entry this module writes: the user's alone.
const PRIVATE_ENTRY: u32 = 0o600;

/// Permission bits that let group or others write.
const WRITABLE_BY_OTHERS: u32 = 0o022;

/// Refuses `path` if another user owns it or group or others may write it (module docs).
fn trusted(path: &Path) -> Result<(), CompileError> {
    let meta = std::fs::metadata(path).map_err(|error| CompileError::Io {
        path: path.to_owned(),
        error,
    })?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let me = unsafe { libc::geteuid() };
    let refuse = |reason: String| {
        Err(CompileError::UntrustedCache {
            path: path.to_owned(),
            reason,
        })
    };
    if meta.uid() != me {
        return refuse(format!(
            "it is owned by uid {}, not by this user (uid {me})",
            meta.uid()
        ));
    }
    if meta.mode() & WRITABLE_BY_OTHERS != 0 {
        return refuse(format!(
            "group or others may write it (mode {:o}); `chmod go-w` it",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

/// The cache file for `bytes` under `engine`: 128 bits of key, from two differently
/// prefixed SipHash digests of the compatibility hash and the bytes.
fn entry(dir: &Path, engine: &Engine, bytes: &[u8]) -> PathBuf {
    let digest = |prefix: u64| {
        let mut h = std::hash::DefaultHasher::new();
        prefix.hash(&mut h);
        engine.precompile_compatibility_hash().hash(&mut h);
        bytes.hash(&mut h);
        h.finish()
    };
    dir.join(format!("{:016x}{:016x}.cwasm", digest(1), digest(2)))
}

/// What the cache keeps: a compiled core module or component, and its serialized form.
pub(crate) trait Artifact: Sized {
    /// Compiles `bytes`.
    fn compile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self>;
    /// Loads a serialized artifact.
    ///
    /// # Safety
    /// `bytes` must come from [`serialize`](Self::serialize) of a trusted engine: they
    /// are native code (module docs, "Trust").
    #[allow(unsafe_code)]
    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self>;
    /// Its serialized form.
    fn serialize(&self) -> wasmtime::Result<Vec<u8>>;
}

impl Artifact for wasmtime::Module {
    fn compile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        wasmtime::Module::new(engine, bytes)
    }
    #[allow(unsafe_code)]
    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's contract is wasmtime's.
        unsafe { wasmtime::Module::deserialize(engine, bytes) }
    }
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        wasmtime::Module::serialize(self)
    }
}

impl Artifact for wasmtime::component::Component {
    fn compile(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        wasmtime::component::Component::new(engine, bytes)
    }
    #[allow(unsafe_code)]
    unsafe fn deserialize(engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Self> {
        // SAFETY: the caller's contract is wasmtime's.
        unsafe { wasmtime::component::Component::deserialize(engine, bytes) }
    }
    fn serialize(&self) -> wasmtime::Result<Vec<u8>> {
        wasmtime::component::Component::serialize(self)
    }
}

/// Loads the compiled form of `bytes` from `dir`, or compiles and stores it.
pub(crate) fn load_or_compile<A: Artifact>(
    engine: &Engine,
    dir: &Path,
    bytes: &[u8],
) -> Result<(A, CacheOutcome), CompileError> {
    let io = |error| CompileError::Io {
        path: dir.to_owned(),
        error,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(dir)
        .map_err(io)?;
    trusted(dir)?;
    let path = entry(dir, engine, bytes);
    if path.exists() {
        trusted(&path)?;
    }
    // Read into memory rather than mapped: a mapped entry that another process
    // truncated would take this one down with SIGBUS.
    if let Ok(serialized) = std::fs::read(&path) {
        // SAFETY: the bytes are an entry this cache wrote (module docs: the directory is
        // as trusted as the binary), under a key that includes the engine's
        // compatibility hash; wasmtime checks their header and compatibility first.
        #[allow(unsafe_code)]
        let loaded = unsafe { A::deserialize(engine, &serialized) };
        match loaded {
            Ok(module) => return Ok((module, CacheOutcome::Hit)),
            Err(e) => {
                tracing::warn!(path = %path.display(), "cache entry refused, recompiling: {e:#}")
            }
        }
    }
    let module = A::compile(engine, bytes).map_err(|e| CompileError::Invalid {
        message: format!("{e:#}"),
    })?;
    let serialized = module.serialize().map_err(|e| CompileError::Invalid {
        message: format!("cannot serialize for the cache: {e:#}"),
    })?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    // The user's alone, whatever the umask, so that the next load trusts it.
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(PRIVATE_ENTRY)
        .open(&tmp)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &serialized))
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(io)?;
    Ok((module, CacheOutcome::Stored))
}
