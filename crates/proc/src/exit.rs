//! Exits: a process's end, with why it ended and what it used.
//!
//! Why a process ended is an [`ExitReason`], structured all the way out: a caller matches
//! on it, never on a string. The reason, its [`ExitKind`], the [`TrapCode`]s and the
//! reason's wire encoding belong to the guest ABI, so they are defined once in
//! `shoal-abi` (guests decode the same bytes with the same code) and re-exported here.
//! What is the host's own is here: the [`Exit`] record joiners receive and the output a
//! WASI process may have captured.

use std::sync::Arc;

pub use shoal_abi::{ExitKind, ExitReason, TrapCode, WIRE_HEADER, WireError};

use crate::{AccountingSnapshot, Pid};

/// A process's end: who, why, and what it used.
#[derive(Clone, Debug, PartialEq)]
pub struct Exit {
    /// The process.
    pub pid: Pid,
    /// Why it ended.
    pub reason: ExitReason,
    /// Its accounting at the end.
    pub accounting: AccountingSnapshot,
    /// What it wrote to stdout and stderr, if they were captured (a WASI process
    /// spawned to capture them).
    pub output: Option<Arc<CapturedOutput>>,
}

/// A process's captured stdout and stderr.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapturedOutput {
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
}
