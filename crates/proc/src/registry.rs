//! The name registry: `register`, `whereis`, `unregister`, as in Erlang.
//!
//! A name names at most one live process and a process has at most one name. The name is
//! kept in two places: the registry's map (name → pid) and the process's relations (its
//! name), changed together under the registry's lock and then the process's relations
//! lock (`relations` has the lock order). A process that ends takes its name out of its
//! relations while marking itself closed, and then [`release`](Registry::release)s it:
//! - a `register` that took the registry lock first finds the process not yet closed and
//!   records the name in both places, so the ending process sees and releases it;
//! - one that came after finds the process closed and answers `NoProc`.
//!
//! So a name never outlives its process: the registry that leaked a dead process's name
//! (lunatic's) is the failure this order rules out.

use std::collections::HashMap;
use std::sync::Arc;

pub use shoal_abi::MAX_NAME_BYTES;

use crate::sync::Mutex;
use crate::{Pid, ProcessCore};

/// Why a `register` was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The process is not alive.
    #[error("{0} is not alive")]
    NoProc(Pid),
    /// The name is taken by a live process.
    #[error("the name `{name}` is registered to {holder}")]
    NameTaken {
        /// The name.
        name: String,
        /// Its holder.
        holder: Pid,
    },
    /// The process has a name already.
    #[error("{pid} is registered as `{name}` already")]
    AlreadyNamed {
        /// The process.
        pid: Pid,
        /// Its name.
        name: String,
    },
    /// The name is empty or too long.
    #[error("a name has 1 to {MAX_NAME_BYTES} bytes, got {0}")]
    BadName(usize),
}

/// Names of live processes.
#[derive(Debug, Default)]
pub struct Registry {
    names: Mutex<HashMap<Arc<str>, Pid>>,
}

/// Checks a name's length.
pub fn check_name(name: &str) -> Result<(), RegisterError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        Err(RegisterError::BadName(name.len()))
    } else {
        Ok(())
    }
}

impl Registry {
    /// Registers `process` (alive, or `None` if the pid `pid` is not) under `name`.
    pub fn register(
        &self,
        name: &str,
        pid: Pid,
        process: Option<&ProcessCore>,
    ) -> Result<(), RegisterError> {
        check_name(name)?;
        let process = process
            .filter(|p| p.pid == pid)
            .ok_or(RegisterError::NoProc(pid))?;
        let mut names = self.names.lock();
        let mut relations = process.relations.lock();
        if relations.closed {
            return Err(RegisterError::NoProc(pid));
        }
        if let Some(own) = relations.name() {
            return Err(RegisterError::AlreadyNamed {
                pid,
                name: own.to_string(),
            });
        }
        if let Some(holder) = names.get(name) {
            return Err(RegisterError::NameTaken {
                name: name.to_owned(),
                holder: *holder,
            });
        }
        let name: Arc<str> = name.into();
        names.insert(name.clone(), pid);
        relations.set_name(Some(name));
        Ok(())
    }

    /// Removes `name`; `lookup` finds its process so its relations forget the name too.
    /// The pid it named, or `None` if no process had it.
    pub fn unregister<R, T>(&self, name: &str, lookup: impl FnOnce(Pid) -> Option<R>) -> Option<Pid>
    where
        R: std::ops::Deref<Target = T>,
        T: AsRef<ProcessCore>,
    {
        let mut names = self.names.lock();
        let pid = names.remove(name)?;
        if let Some(process) = lookup(pid) {
            let process = (*process).as_ref();
            let mut relations = process.relations.lock();
            if relations.name().is_some_and(|n| &**n == name) {
                relations.set_name(None);
            }
        }
        Some(pid)
    }

    /// The live process registered as `name`.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.names.lock().get(name).copied()
    }

    /// Releases the name of a process that ended (its `Severed::name`).
    pub fn release(&self, name: &str, pid: Pid) {
        let mut names = self.names.lock();
        if names.get(name) == Some(&pid) {
            names.remove(name);
        }
    }

    /// How many names are registered.
    pub fn len(&self) -> usize {
        self.names.lock().len()
    }

    /// No names are registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(all(test, not(shoal_loom)))]
mod tests {
    use super::*;
    use std::time::Instant;

    fn core(index: u32) -> Arc<ProcessCore> {
        Arc::new(ProcessCore::new(
            Pid::new(index, 1),
            crate::Bound::NONE,
            0,
            Instant::now(),
        ))
    }

    #[test]
    fn a_name_is_released_when_its_process_ends() {
        let registry = Registry::default();
        let p = core(1);
        registry.register("db", p.pid, Some(&p)).unwrap();
        assert_eq!(registry.whereis("db"), Some(p.pid));
        let severed = p.close_relations().unwrap();
        registry.release(severed.name.as_deref().unwrap(), p.pid);
        assert_eq!(registry.whereis("db"), None);
        assert!(registry.is_empty());
        let q = core(2);
        registry.register("db", q.pid, Some(&q)).unwrap();
    }

    #[test]
    fn an_ended_process_cannot_be_registered() {
        let registry = Registry::default();
        let p = core(1);
        let _ = p.close_relations();
        assert_eq!(
            registry.register("x", p.pid, Some(&p)),
            Err(RegisterError::NoProc(p.pid))
        );
        assert!(registry.is_empty());
    }

    #[test]
    fn a_live_name_cannot_be_registered_twice_nor_a_process_named_twice() {
        let registry = Registry::default();
        let (p, q) = (core(1), core(2));
        registry.register("a", p.pid, Some(&p)).unwrap();
        assert_eq!(
            registry.register("a", q.pid, Some(&q)),
            Err(RegisterError::NameTaken {
                name: "a".into(),
                holder: p.pid
            })
        );
        assert!(matches!(
            registry.register("b", p.pid, Some(&p)),
            Err(RegisterError::AlreadyNamed { .. })
        ));
        assert_eq!(
            registry.register("", q.pid, Some(&q)),
            Err(RegisterError::BadName(0))
        );
    }

    #[test]
    fn unregister_frees_both_the_name_and_the_process() {
        let registry = Registry::default();
        let p = core(1);
        registry.register("a", p.pid, Some(&p)).unwrap();
        assert_eq!(registry.unregister("a", |_| Some(p.clone())), Some(p.pid));
        assert_eq!(registry.unregister("a", |_| Some(p.clone())), None);
        registry.register("b", p.pid, Some(&p)).unwrap();
        let severed = p.close_relations().unwrap();
        assert_eq!(severed.name.as_deref(), Some("b"));
    }
}
