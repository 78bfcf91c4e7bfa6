//! Remote spawn: a process started on another node from a module that node may not have.
//!
//! # Protocol (docs/CLUSTER.md, "Remote spawn")
//! A module is named by the SHA-256 of its bytes. The spawner sends `Spawn` (the hash,
//! the export, the argument and the spawn options). A node that has compiled that module
//! before spawns at once; one that has not answers `NeedModule`, and the spawner sends
//! the bytes in `ModuleChunk`s of [`MODULE_CHUNK_BYTES`](crate::transport::MODULE_CHUNK_BYTES),
//! in order on the pair; the node checks the hash, compiles once (on a blocking thread,
//! never on the inbox's), caches the module for later spawns, spawns, and answers
//! `Spawned` with the pid or a [`SpawnRefusal`].
//!
//! # What it owns
//! The spawn task's state on the receiving side ([`SpawnTask`]): the modules compiled
//! for other nodes, the modules still arriving, and the requests waiting for them. It
//! holds the node's runtime, and is aborted with the node, so no cycle keeps the runtime
//! alive.
//!
//! # Bounds
//! A module larger than [`MAX_MODULE_BYTES`] is refused before a byte of it is kept; a
//! node that is not started with `accept_spawn` refuses every spawn.

use std::collections::HashMap;
use std::time::Duration;

use shoal_scheduler::{Module, NodeId, Runtime, SpawnOptions};

pub use crate::config::{MAX_MODULE_BYTES, RemoteSpawnOptions};
use crate::transport::Outbound;
pub use crate::wire::module_hash;
use crate::wire::{ExitReport, Signal, SpawnRefusal};

/// How long [`Node::spawn_on`](crate::Node::spawn_on) waits for the answer by default:
/// a first spawn of a large module compiles it there.
pub const DEFAULT_SPAWN_TIMEOUT: Duration = Duration::from_secs(120);

/// A spawn request waiting for its module.
struct Waiting {
    node: NodeId,
    request: u64,
    export: String,
    arg: i64,
    options: SpawnOptions,
    report_exit: bool,
}

/// A module arriving in chunks.
struct Arriving {
    total: u64,
    bytes: Vec<u8>,
}

/// The receiving side of remote spawns (module docs).
pub(crate) struct SpawnTask {
    pub runtime: Runtime,
    pub accept: bool,
    pub out: Outbound,
    modules: HashMap<[u8; 32], Module>,
    arriving: HashMap<[u8; 32], Arriving>,
    waiting: HashMap<[u8; 32], Vec<Waiting>>,
}

impl SpawnTask {
    pub fn new(runtime: Runtime, accept: bool, out: Outbound) -> SpawnTask {
        SpawnTask {
            runtime,
            accept,
            out,
            modules: HashMap::new(),
            arriving: HashMap::new(),
            waiting: HashMap::new(),
        }
    }

    fn answer(&self, node: NodeId, request: u64, result: Result<u64, SpawnRefusal>) {
        self.out.queue(node, Signal::Spawned { request, result });
    }

    fn spawn(&self, module: &Module, w: Waiting) {
        let spawned = self.runtime.spawn_with(module, &w.export, w.arg, w.options);
        let result = spawned
            .as_ref()
            .map(|handle| handle.pid().to_bits())
            .map_err(|e| SpawnRefusal::Spawn(e.to_string()));
        self.answer(w.node, w.request, result);
        if let (Ok(handle), true) = (spawned, w.report_exit) {
            // The handle keeps the exit however soon it comes; it is sent after the
            // answer, on the same ordered way.
            let (out, node, request) = (self.out.clone(), w.node, w.request);
            tokio::spawn(async move {
                let exit = ExitReport::of(&handle.join().await);
                out.queue(node, Signal::Exited { request, exit });
            });
        }
    }

    /// One `Spawn` or `ModuleChunk` from `node`.
    pub async fn handle(&mut self, node: NodeId, signal: Signal) {
        match signal {
            Signal::Spawn {
                request,
                hash,
                export,
                arg,
                fuel_limit,
                deadline_ms,
                max_memory,
                report_exit,
            } => {
                if !self.accept {
                    return self.answer(node, request, Err(SpawnRefusal::NotAccepted));
                }
                let mut options = SpawnOptions::new();
                if let Some(fuel) = fuel_limit {
                    options = options.fuel_limit(fuel);
                }
                if let Some(ms) = deadline_ms {
                    options = options.deadline(Duration::from_millis(ms));
                }
                if let Some(bytes) = max_memory {
                    options = options.max_memory(usize::try_from(bytes).unwrap_or(usize::MAX));
                }
                let waiting = Waiting {
                    node,
                    request,
                    export,
                    arg,
                    options,
                    report_exit,
                };
                if let Some(module) = self.modules.get(&hash) {
                    return self.spawn(module, waiting);
                }
                let queue = self.waiting.entry(hash).or_default();
                queue.push(waiting);
                if queue.len() == 1 && !self.arriving.contains_key(&hash) {
                    self.out.queue(node, Signal::NeedModule { hash });
                }
            }
            Signal::ModuleChunk {
                hash,
                offset,
                total,
                bytes,
            } => {
                if let Some(module) = self.take_chunk(hash, offset, total, bytes) {
                    self.module_arrived(hash, module).await;
                }
            }
            _ => {}
        }
    }

    /// Adds a chunk; the whole module once its last chunk is in, or its refusal.
    fn take_chunk(
        &mut self,
        hash: [u8; 32],
        offset: u64,
        total: u64,
        bytes: Vec<u8>,
    ) -> Option<Result<Vec<u8>, SpawnRefusal>> {
        if total > MAX_MODULE_BYTES {
            self.arriving.remove(&hash);
            return Some(Err(SpawnRefusal::BadModule(format!(
                "{total} bytes is more than a node takes ({MAX_MODULE_BYTES})"
            ))));
        }
        let arriving = self.arriving.entry(hash).or_insert_with(|| Arriving {
            total,
            bytes: Vec::new(),
        });
        if arriving.total != total || arriving.bytes.len() as u64 != offset {
            self.arriving.remove(&hash);
            return Some(Err(SpawnRefusal::BadModule(
                "its chunks do not follow each other".into(),
            )));
        }
        arriving.bytes.extend_from_slice(&bytes);
        if (arriving.bytes.len() as u64) < total {
            return None;
        }
        let whole = self.arriving.remove(&hash).expect("just added").bytes;
        if whole.len() as u64 != total || module_hash(&whole) != hash {
            return Some(Err(SpawnRefusal::BadModule(
                "its bytes do not match its hash".into(),
            )));
        }
        Some(Ok(whole))
    }

    /// Compiles an arrived module off this task and serves the requests waiting for it.
    async fn module_arrived(&mut self, hash: [u8; 32], bytes: Result<Vec<u8>, SpawnRefusal>) {
        let waiting = self.waiting.remove(&hash).unwrap_or_default();
        let compiled = match bytes {
            Ok(bytes) => {
                let runtime = self.runtime.clone();
                tokio::task::spawn_blocking(move || runtime.compile(&bytes))
                    .await
                    .map_err(|e| SpawnRefusal::Compile(e.to_string()))
                    .and_then(|r| r.map_err(|e| SpawnRefusal::Compile(e.to_string())))
            }
            Err(refusal) => Err(refusal),
        };
        match compiled {
            Ok(module) => {
                for w in waiting {
                    self.spawn(&module, w);
                }
                self.modules.insert(hash, module);
            }
            Err(refusal) => {
                for w in waiting {
                    self.answer(w.node, w.request, Err(refusal.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_is_named_by_its_sha256() {
        // SHA-256 of the empty string.
        assert_eq!(
            module_hash(b"")[..4],
            [0xe3, 0xb0, 0xc4, 0x42],
            "the standard digest"
        );
        assert_ne!(module_hash(b"a"), module_hash(b"b"));
    }
}
