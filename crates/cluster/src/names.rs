//! Cluster-wide names: one JetStream key-value bucket per cluster, written only with
//! compare-and-set.
//!
//! # What it owns
//! The bucket (`shoal_names_<cluster>`, history 1, file storage), the names this node's
//! processes hold with the revision that wrote each, and the task that carries out
//! requests ([`Job`]): from processes (through the runtime's `Remote`), from the host
//! (`Node::register_global` and the like), and the releases owed when a process of this
//! node ends or another node goes down.
//!
//! # The entry
//! A key is the name itself when it is made of letters, digits, `-` and `_`, and
//! `x.` then the name's bytes in hex otherwise (a plain name has no `.`, so the two never
//! meet). The value is the holder's pid and its node's creation, 8 bytes each,
//! little-endian: a pid of a node that has since restarted is recognised as stale even if
//! the new incarnation drew the same id.
//!
//! # Invariants
//! - Every write names the revision it replaces (0 for a key never written), so two
//!   nodes registering one name at once cannot both win: one write fails, and that node
//!   reads the entry again.
//! - A holder is live if it is a live process of this node's creation, or a pid of a node
//!   up here under the creation the entry names. An entry of any other holder is stale:
//!   a registration may overwrite it, a look-up deletes it (at its revision) and answers
//!   no one.
//! - A name is released when its holder ends (this node deletes it at the revision that
//!   registered it, so a newer holder's entry is never touched) or when its node goes
//!   down (every node that sees it go scans the bucket and deletes that node's entries,
//!   each at its revision).
//! - A node younger than the liveness window (`down_after`) may not have heard every
//!   node up yet: until then, a holder on a node it has not heard from (and that no one
//!   declared down to it) counts as live, so a new node never overwrites or deletes a
//!   live registration. After the window, a node that is not up is down.

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::jetstream::kv::{Operation, Store, UpdateError, UpdateErrorKind};
use futures::StreamExt;
use parking_lot::Mutex;
use shoal_scheduler::{GlobalAnswer, GlobalName, GlobalNameError, NodeId, Pid, RemotePort};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::transport::{NamesJob as Job, Shared};

/// Values of an entry kept: the latest is the only one the names use.
const HISTORY: i64 = 1;

/// Times a registration or release reads and writes again after losing a race for the
/// same key to another node: more than two nodes writing one name at once is already
/// contention worth reporting.
const RACE_RETRIES: usize = 3;

/// The bucket of cluster `cluster`.
pub(crate) fn bucket(cluster: &str) -> String {
    format!("shoal_names_{cluster}")
}

/// The key of `name` (module docs).
fn key(name: &str) -> String {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        name.to_owned()
    } else {
        let mut key = String::with_capacity(2 + 2 * name.len());
        key.push_str("x.");
        for b in name.bytes() {
            key.push_str(&format!("{b:02x}"));
        }
        key
    }
}

/// An entry's value: the holder and its node's creation.
fn value(holder: Pid, creation: u64) -> Vec<u8> {
    let mut v = holder.to_bits().to_le_bytes().to_vec();
    v.extend_from_slice(&creation.to_le_bytes());
    v
}

/// The inverse of [`value`]; `None` for bytes that are no entry of ours.
fn holder(value: &[u8]) -> Option<(Pid, u64)> {
    let (pid, creation) = (value.get(..8)?, value.get(8..16)?);
    if value.len() != 16 {
        return None;
    }
    let pid = Pid::from_bits(u64::from_le_bytes(pid.try_into().ok()?))?;
    Some((pid, u64::from_le_bytes(creation.try_into().ok()?)))
}

/// The names of one node (module docs).
pub(crate) struct Names {
    /// The bucket, or why there is none (a server without JetStream, an account without
    /// it, a bucket that could not be made).
    store: Result<Store, String>,
    shared: Arc<Shared>,
    /// Names held by this node's processes: name → (holder, the revision that wrote it).
    held: Mutex<HashMap<String, (Pid, u64)>>,
    /// Where jobs go.
    jobs: UnboundedSender<Job>,
    /// The liveness window: a node this old has heard every node that is up.
    down_after: std::time::Duration,
}

impl Names {
    /// Opens (or makes) the bucket of `cluster` on `client`'s server; `jobs` is the
    /// sending end of the names task's channel. Never fails: without JetStream, every request is answered
    /// `Unavailable` with the reason.
    pub async fn open(
        client: &async_nats::Client,
        cluster: &str,
        shared: Arc<Shared>,
        jobs: UnboundedSender<Job>,
        down_after: std::time::Duration,
    ) -> Arc<Names> {
        let js = async_nats::jetstream::new(client.clone());
        let store = open_store(&js, &bucket(cluster)).await;
        if let Err(reason) = &store {
            tracing::warn!(%reason, "cluster-wide names are unavailable on this node");
        }
        Arc::new(Names {
            store,
            shared,
            held: Mutex::new(HashMap::new()),
            jobs,
            down_after,
        })
    }

    /// Queues a job; never blocks (called from the runtime's workers).
    pub fn queue(&self, job: Job) {
        // A closed channel means the node is stopping: its names go with it.
        let _ = self.jobs.send(job);
    }

    /// Runs the names task: each job on a task of its own, so that one slow request
    /// does not hold up the others.
    pub async fn run(self: Arc<Names>, mut jobs: UnboundedReceiver<Job>) {
        while let Some(job) = jobs.recv().await {
            let names = self.clone();
            tokio::spawn(async move { names.carry_out(job).await });
        }
    }

    async fn carry_out(&self, job: Job) {
        match job {
            Job::Request {
                request,
                reply_to,
                tag,
            } => {
                let answer = self.request(request).await;
                self.port().answer_global(reply_to, tag, &answer);
            }
            Job::Exited(pid) => self.release_exited(pid).await,
            Job::NodeDown(node) => self.release_node(node).await,
        }
    }

    fn port(&self) -> &RemotePort {
        &self.shared.port
    }

    fn store(&self) -> Result<&Store, GlobalNameError> {
        self.store
            .as_ref()
            .map_err(|reason| GlobalNameError::Unavailable(reason.clone()))
    }

    /// Carries out one request (the actor layer checked the name and, for a
    /// registration, that the pid is a live process of this node).
    pub async fn request(&self, request: GlobalName) -> GlobalAnswer {
        match request {
            GlobalName::Register { name, pid } => self.register(name, pid).await.map(|()| None),
            GlobalName::Unregister { name } => self.unregister(&name).await,
            GlobalName::Whereis { name } => self.whereis(&name).await,
        }
    }

    /// Whether the holder an entry names may be alive (module docs): a live process of
    /// this node's creation; a pid of a node up here under the creation the entry names;
    /// or, while this node is younger than the liveness window, a pid of a node it has
    /// not heard from yet (its beats may be on their way), unless that node was declared
    /// down.
    fn is_live(&self, holder: Pid, creation: u64) -> bool {
        let node = holder.node();
        if node == self.shared.me {
            return creation == self.shared.creation && self.port().is_alive(holder);
        }
        let peers = self.shared.peers.lock();
        if let Some((_, peer)) = peers.up().find(|(n, _)| *n == node) {
            return peer.creation == creation;
        }
        let young = self.shared.started.elapsed() < self.down_after;
        young && !peers.down().any(|n| n == node)
    }

    /// The entry of `key`: its live holder if it has one, and the revision to write over.
    async fn read(&self, store: &Store, key: &str) -> Result<(Option<Pid>, u64), GlobalNameError> {
        let entry = store.entry(key).await.map_err(unavailable)?;
        Ok(match entry {
            None => (None, 0),
            Some(e) if e.operation != Operation::Put => (None, e.revision),
            Some(e) => {
                let live = holder(&e.value).filter(|&(pid, c)| self.is_live(pid, c));
                (live.map(|(pid, _)| pid), e.revision)
            }
        })
    }

    async fn register(&self, name: String, pid: Pid) -> Result<(), GlobalNameError> {
        let store = self.store()?;
        let key = key(&name);
        for _ in 0..RACE_RETRIES {
            let (live, revision) = self.read(store, &key).await?;
            match live {
                Some(holder) if holder == pid => return Ok(()),
                Some(holder) => return Err(GlobalNameError::Taken { name, holder }),
                None => {}
            }
            let entry = value(pid, self.shared.creation);
            match store.update(&key, entry.into(), revision).await {
                Ok(revision) => {
                    self.held.lock().insert(name, (pid, revision));
                    self.watch(pid);
                    return Ok(());
                }
                // Another node wrote the key since it was read: read it again.
                Err(e) if is_wrong_revision(&e) => continue,
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(contended(&name))
    }

    async fn unregister(&self, name: &str) -> GlobalAnswer {
        let store = self.store()?;
        let key = key(name);
        for _ in 0..RACE_RETRIES {
            let (live, revision) = self.read(store, &key).await?;
            if revision == 0 {
                return Ok(None);
            }
            match store.delete_expect_revision(&key, Some(revision)).await {
                Ok(()) => {
                    self.held.lock().remove(name);
                    return Ok(live);
                }
                Err(e) if is_wrong_revision(&e) => continue,
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(contended(name))
    }

    async fn whereis(&self, name: &str) -> GlobalAnswer {
        let store = self.store()?;
        let key = key(name);
        let entry = store.entry(&key).await.map_err(unavailable)?;
        let Some(e) = entry.filter(|e| e.operation == Operation::Put) else {
            return Ok(None);
        };
        match holder(&e.value) {
            Some((pid, creation)) if self.is_live(pid, creation) => Ok(Some(pid)),
            _ => {
                // Stale: released here, unless it changed meanwhile.
                let _ = store.delete_expect_revision(&key, Some(e.revision)).await;
                Ok(None)
            }
        }
    }

    /// Releases the names of `pid` when it ends.
    fn watch(&self, pid: Pid) {
        let Some(exit) = self.port().exit_of(pid) else {
            // Ended already: release at once.
            return self.queue(Job::Exited(pid));
        };
        let jobs = self.jobs.clone();
        tokio::spawn(async move {
            exit.await;
            let _ = jobs.send(Job::Exited(pid));
        });
    }

    async fn release_exited(&self, pid: Pid) {
        let Ok(store) = self.store() else { return };
        let names: Vec<(String, u64)> = {
            let mut held = self.held.lock();
            let names: Vec<(String, u64)> = held
                .iter()
                .filter(|(_, (holder, _))| *holder == pid)
                .map(|(name, (_, revision))| (name.clone(), *revision))
                .collect();
            for (name, _) in &names {
                held.remove(name);
            }
            names
        };
        for (name, revision) in names {
            // At the revision that registered it: a name taken since is not touched.
            if let Err(e) = store
                .delete_expect_revision(key(&name), Some(revision))
                .await
                && !is_wrong_revision(&e)
            {
                tracing::warn!(name, error = %e, "a cluster-wide name could not be released");
            }
        }
    }

    async fn release_node(&self, node: NodeId) {
        let Ok(store) = self.store() else { return };
        let keys = match store.keys().await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(%node, error = %e, "the names of a node that went down could not be listed");
                return;
            }
        };
        let keys: Vec<String> = keys.filter_map(|k| async { k.ok() }).collect().await;
        let mut released = 0;
        for key in keys {
            let Ok(Some(e)) = store.entry(&key).await else {
                continue;
            };
            let of_node = e.operation == Operation::Put
                && holder(&e.value).is_some_and(|(pid, _)| pid.node() == node);
            if of_node
                && store
                    .delete_expect_revision(&key, Some(e.revision))
                    .await
                    .is_ok()
            {
                released += 1;
            }
        }
        if released > 0 {
            tracing::info!(%node, released, "cluster-wide names of a node that went down released");
        }
    }
}

/// Opens the bucket `bucket`, making its stream if no node has yet.
///
/// async-nats' `create_key_value` first asks for the account's JetStream figures, and
/// the answer of a 2.9 server lacks fields that async-nats 0.52 requires
/// (`reserved_memory`), so it fails there. The stream is made here as that function
/// would make it (its `kv_to_stream_config`), and the store named over it.
async fn open_store(js: &async_nats::jetstream::Context, bucket: &str) -> Result<Store, String> {
    use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};
    let stream_name = format!("KV_{bucket}");
    let config = stream::Config {
        name: stream_name.clone(),
        description: Some("Shoal's cluster-wide names".into()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: HISTORY,
        storage: StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        num_replicas: 1,
        discard: DiscardPolicy::New,
        ..Default::default()
    };
    let stream = js
        .get_or_create_stream(config)
        .await
        .map_err(|e| format!("the names' bucket could not be opened: {e}"))?;
    Ok(Store {
        name: bucket.to_owned(),
        stream_name,
        prefix: format!("$KV.{bucket}."),
        put_prefix: None,
        use_jetstream_prefix: false,
        stream,
    })
}

/// Whether a write (an update or a delete) failed because the key's revision was not
/// the one named.
fn is_wrong_revision(error: &UpdateError) -> bool {
    error.kind() == UpdateErrorKind::WrongLastRevision
}

fn unavailable(error: impl std::fmt::Display) -> GlobalNameError {
    GlobalNameError::Unavailable(error.to_string())
}

fn contended(name: &str) -> GlobalNameError {
    GlobalNameError::Unavailable(format!(
        "the name `{name}` changed {RACE_RETRIES} times while it was being written"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_their_own_keys_and_others_are_hex_behind_a_dot() {
        assert_eq!(key("room_1-a"), "room_1-a");
        assert_eq!(key("chat.room"), "x.636861742e726f6f6d");
        assert_eq!(key("é"), "x.c3a9");
    }

    #[test]
    fn an_entry_round_trips_and_other_bytes_name_no_holder() {
        let pid = Pid::on(NodeId::new(9).unwrap(), 4, 2);
        assert_eq!(holder(&value(pid, 77)), Some((pid, 77)));
        assert_eq!(holder(&[0; 15]), None);
        assert_eq!(holder(&[0; 17]), None);
    }
}
