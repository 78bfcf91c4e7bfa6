//! The ABI's status codes (docs/ABI.md, "Status codes"), as `shoal-abi` defines them for
//! the host and this SDK alike.
//!
//! Host functions that can fail return one of these negative values; pids, lengths and
//! references are never negative, so a negative result is always a status. The values
//! are stable. The rest of the crate maps them to typed errors at each call; a status a
//! function is not documented to return means the SDK and the host disagree about the
//! ABI, a broken invariant, and panics through `unexpected`.

pub use shoal_abi::status::*;

/// A status `function` is not documented to return: the SDK and the host disagree.
#[cold]
#[track_caller]
pub(crate) fn unexpected(function: &str, status: i64) -> ! {
    panic!("shoal.{function} returned {status}, which docs/ABI.md does not allow it")
}

/// `function` was refused by the runtime's memory budget where the SDK has no error to
/// return it as.
#[cold]
#[track_caller]
pub(crate) fn over_budget(function: &str) -> ! {
    panic!(
        "shoal.{function}: the runtime's memory budget cannot take another monitor or alias of this process"
    )
}
