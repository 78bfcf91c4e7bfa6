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
//! as trusted as the `shoal` binary itself (wasmtime's own cache has the same rule).
//! wasmtime still checks the file's header and its engine compatibility and refuses a
//! file that does not match; such a file is recompiled and replaced.
//!
//! # Writes
//! A new entry is written to a temporary file in the directory and renamed into place,
//! so a reader never sees a half-written entry and two processes filling the cache at
//! once both end with a whole one.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

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

/// Loads the compiled form of `bytes` from `dir`, or compiles and stores it.
pub(crate) fn load_or_compile(
    engine: &Engine,
    dir: &Path,
    bytes: &[u8],
) -> Result<(wasmtime::Module, CacheOutcome), CompileError> {
    let io = |error| CompileError::Io {
        path: dir.to_owned(),
        error,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = entry(dir, engine, bytes);
    // Read into memory rather than mapped: a mapped entry that another process
    // truncated would take this one down with SIGBUS.
    if let Ok(serialized) = std::fs::read(&path) {
        // SAFETY: the bytes are an entry this cache wrote (module docs: the directory is
        // as trusted as the binary), under a key that includes the engine's
        // compatibility hash; wasmtime checks their header and compatibility first.
        #[allow(unsafe_code)]
        let loaded = unsafe { wasmtime::Module::deserialize(engine, &serialized) };
        match loaded {
            Ok(module) => return Ok((module, CacheOutcome::Hit)),
            Err(e) => {
                tracing::warn!(path = %path.display(), "cache entry refused, recompiling: {e:#}")
            }
        }
    }
    let module = wasmtime::Module::new(engine, bytes).map_err(|e| CompileError::Invalid {
        message: format!("{e:#}"),
    })?;
    let serialized = module.serialize().map_err(|e| CompileError::Invalid {
        message: format!("cannot serialize for the cache: {e:#}"),
    })?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &serialized)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(io)?;
    Ok((module, CacheOutcome::Stored))
}
