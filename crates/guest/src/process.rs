//! This process and the others: identity, spawning, links, monitors, exit signals, time.
//!
//! # Links and monitors (docs/ABI.md, "Actors")
//! A **link** is two-way and at most one exists between two processes: when either ends,
//! the other gets an exit signal with its reason. A process that does not trap exits
//! dies with any reason but `normal`; one that [`trap_exit`]s gets an `EXIT` message
//! instead (except for [`Signal::Kill`], which cannot be trapped). A **monitor** is
//! one-way and stacks: each [`monitor`] call makes a new [`Reference`], and the monitoring
//! process gets one `DOWN` per reference when the monitored one ends (at once, with
//! `noproc`, if it is already dead).
//!
//! [`spawn_link`] and [`spawn_monitor`] set the link or monitor up before the child runs
//! its first instruction, so a child that crashes at once is still noticed.

use std::time::Duration;

use crate::error::{NoProc, SpawnError};
use crate::pid::{Pid, Reference};
use crate::reason::Signal;
use crate::{status, sys};

/// This process's pid.
pub fn self_pid() -> Pid {
    let raw = sys::self_pid();
    Pid::from_raw(raw).unwrap_or_else(|| status::unexpected("self", raw))
}

/// The process that spawned this one, or `None` if host code did. It may have exited
/// since.
pub fn parent() -> Option<Pid> {
    match sys::parent() {
        -1 => None,
        raw => Some(Pid::from_raw(raw).unwrap_or_else(|| status::unexpected("parent", raw))),
    }
}

/// Spawns a process running this module's export `export` with `arg`.
pub fn spawn(export: &str, arg: i64) -> Result<Pid, SpawnError> {
    SpawnError::check("spawn", sys::spawn(export, arg))
}

/// Spawns `export` of this module on the node `node` of a cluster (which must accept
/// spawns), waiting like a receive for its pid. The module travels only if that node
/// has not compiled it before.
pub fn spawn_on(node: u16, export: &str, arg: i64) -> Result<Pid, SpawnError> {
    SpawnError::check("spawn_on", sys::spawn_on(node, export, arg))
}

/// [`spawn`], linked to the caller before the child runs.
pub fn spawn_link(export: &str, arg: i64) -> Result<Pid, SpawnError> {
    SpawnError::check("spawn_link", sys::spawn_link(export, arg))
}

/// [`spawn`], monitored by the caller before the child runs: the `DOWN` for the child
/// will carry the returned reference.
pub fn spawn_monitor(export: &str, arg: i64) -> Result<(Pid, Reference), SpawnError> {
    let (result, reference) = sys::spawn_monitor(export, arg);
    let pid = SpawnError::check("spawn_monitor", result)?;
    Ok((pid, Reference::from_host("spawn_monitor", reference)))
}

/// Links the caller and `pid`. If `pid` is not alive, the caller gets an exit signal
/// with reason `noproc` at once (it dies, or gets an `EXIT` if it traps exits).
pub fn link(pid: Pid) {
    match sys::link(pid.to_raw()) {
        status::OK => {}
        other => status::unexpected("link", other.into()),
    }
}

/// Removes the link to `pid`, if any. An `EXIT` already queued stays queued.
pub fn unlink(pid: Pid) {
    match sys::unlink(pid.to_raw()) {
        status::OK => {}
        other => status::unexpected("unlink", other.into()),
    }
}

/// Starts monitoring `pid`: a `DOWN` with the returned reference comes when it ends.
///
/// # Panics
/// If the runtime's memory budget cannot take the monitor (`OVER_BUDGET`): possible only
/// for a process that already holds more monitors than its free allowance (docs/ABI.md).
pub fn monitor(pid: Pid) -> Reference {
    Reference::from_host("monitor", sys::monitor(pid.to_raw()))
}

/// Starts monitoring the node `node` of a cluster (a pid's [`Pid::node`]): a `DOWN`
/// with the returned reference, no sender and reason `noconnection` comes when the node
/// goes down, at once if it is not up. [`demonitor`] removes it.
///
/// # Panics
/// If the runtime's memory budget cannot take the monitor (`OVER_BUDGET`): possible only
/// for a process that already holds more monitors than its free allowance (docs/ABI.md).
pub fn monitor_node(node: u16) -> Reference {
    Reference::from_host("monitor_node", sys::monitor_node(node))
}

/// The other nodes of the cluster that are up, by id (none outside a cluster).
pub fn nodes() -> Vec<u16> {
    let mut buf = vec![0u8; 64];
    loop {
        let count = usize::try_from(sys::nodes(&mut buf)).unwrap_or(0);
        if count * 2 <= buf.len() {
            return buf[..count * 2]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
        }
        // More nodes came up than fit: try again with room for them all.
        buf.resize(count * 2 + 64, 0);
    }
}

/// Removes the monitor `reference`: no `DOWN` for it arrives after this returns; with
/// `flush`, one already queued is removed too. True if the monitor was still active.
pub fn demonitor(reference: Reference, flush: bool) -> bool {
    match sys::demonitor(reference.to_raw(), flush) {
        0 => false,
        1 => true,
        other => status::unexpected("demonitor", other.into()),
    }
}

/// Sets whether exit signals become `EXIT` messages instead of ending this process;
/// returns the previous setting.
pub fn trap_exit(on: bool) -> bool {
    match sys::trap_exit(on) {
        0 => false,
        1 => true,
        other => status::unexpected("trap_exit", other.into()),
    }
}

/// Sends an exit signal with `signal` to `pid` (which may be the caller: see docs/ABI.md
/// "Exit signals" for what the receiver does).
pub fn exit(pid: Pid, signal: Signal) -> Result<(), NoProc> {
    let (kind, code, payload) = signal.to_call();
    match sys::exit_signal(pid.to_raw(), kind, code, payload) {
        status::OK => Ok(()),
        status::NOPROC => Err(NoProc),
        other => status::unexpected("exit_signal", other.into()),
    }
}

/// Ends this process at once with `normal(code)`. Destructors do not run.
pub fn exit_self(code: i32) -> ! {
    sys::exit(code)
}

/// Waits at least `duration` (rounded up to whole milliseconds), holding no worker.
pub fn sleep(duration: Duration) {
    sys::sleep(crate::mailbox::timeout_ms(Some(duration)))
}

/// Gives up the rest of this quantum: the process goes behind the other runnable ones.
pub fn yield_now() {
    sys::yield_now()
}

/// Time since the runtime started, on its clock (virtual in deterministic mode).
pub fn now() -> Duration {
    let ns = sys::now();
    Duration::from_nanos(u64::try_from(ns).unwrap_or_else(|_| status::unexpected("now", ns)))
}
