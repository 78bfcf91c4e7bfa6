//! Supervisors: native processes that start children, watch them, and restart them by
//! Erlang/OTP's rules (the `supervisor` behaviour of OTP's stdlib).
//!
//! A supervisor is a native process that traps exits and is linked to each of its
//! children. When a child ends, the `EXIT` message says which one and why; the child's
//! [`Restart`] type decides whether it is restarted, the [`Strategy`] decides which
//! siblings go with it, and the restart intensity decides when restarting has failed and
//! the supervisor gives up.
//!
//! # Lifecycle
//! 1. **Spawn** ([`SupervisorBuilder::start`] from the host,
//!    [`SupervisorBuilder::start_link`] from a native process, for nested supervisors).
//!    Before the process is first polled it sets its trap-exits flag and registers its
//!    name, so a taken name is refused synchronously and no child ever starts under a
//!    supervisor that could not be named.
//! 2. **Init.** The children start one by one in spec order. Each start function gets the
//!    supervisor's [`NativeContext`] and must start the child *linked* to it
//!    (`ctx.spawn_link` or `ctx.spawn_native_link`). The supervisor links again after every
//!    start (a no-op when linked; links are idempotent), so a forgotten link can leave no
//!    child unsupervised: at worst a child that ended before that second link is reported
//!    as ending `noproc`, and restarted by its rules. If a start fails, the children
//!    already started are stopped and the supervisor exits `shutdown` (OTP exits with
//!    `{shutdown, {failed_to_start_child, ..}}`; Shoal has no tuples).
//! 3. **Supervise.** One receive loop, over every message in arrival order:
//!    - `EXIT` from the host (`from == None`) or the parent: stop (below), then exit with
//!      that signal's reason, as OTP's `gen_server` does (normally `shutdown`);
//!    - `EXIT` from a current child: apply its restart type, strategy and intensity;
//!    - `EXIT` from any other pid: ignored (OTP logs it; a stale `EXIT` of a child that
//!      was stopped or replaced lands here too);
//!    - a data message tagged [`WHICH_CHILDREN_TAG`]: answered (the children, below);
//!      other data messages are ignored.
//! 4. **Stop.** Children are stopped one at a time in reverse start order, then the
//!    supervisor exits.
//!
//! # Restarting
//! A restart first records itself against the intensity: more than `max_restarts`
//! restarts within `period` ([`DEFAULT_MAX_RESTARTS`] in [`DEFAULT_PERIOD`], OTP's
//! defaults) stop the supervisor with `shutdown`. Then, by strategy:
//! - [`Strategy::OneForOne`]: only the child that ended starts again;
//! - [`Strategy::OneForAll`]: every other child is stopped (reverse start order), then all
//!   start again in spec order;
//! - [`Strategy::RestForOne`]: the children started after it are stopped (reverse start
//!   order), then it and they start again in spec order.
//!
//! A [`Restart::Temporary`] child stopped as part of a group is not restarted: it leaves
//! the child list, as one that ends does. A start function that fails during a restart
//! leaves that child not running and schedules another attempt behind the messages
//! already queued (OTP's `try_again_restart`); every attempt counts against the
//! intensity, so a start that keeps failing ends in a `shutdown` rather than a loop. The
//! supervisor yields between attempts, so it never holds a worker while it retries.
//!
//! # Stopping one child
//! OTP's `shutdown/2`: monitor it, unlink it, send it `exit(child, shutdown)`, and wait for
//! the monitor's `DOWN` at most its [`Shutdown`] timeout; after the timeout, `exit(child,
//! kill)` and wait for the `DOWN`, which a kill always brings. [`Shutdown::BrutalKill`] (or a
//! zero timeout) kills at once; [`Shutdown::Infinity`] waits as long as it takes (OTP's
//! default for a child that is itself a supervisor). Waiting for the `DOWN` by its tag
//! leaves every other message queued, in order, for the loop.
//!
//! # Invariants
//! - `children` is in spec order, which is start order.
//! - A child's recorded pid is `Some` exactly while the supervisor holds it running and
//!   linked; it is cleared before a restart or a stop begins.
//! - Pids are never reused (they are generational), so an `EXIT` or `DOWN` that names a
//!   pid no longer recorded can only be stale, and is ignored.
//! - The restart log holds only restarts within the period: at most `max_restarts + 1`.
//!
//! # Asking for the children
//! A request made with [`NativeContext::request`] (or the guest SDK's `request`) tagged
//! [`WHICH_CHILDREN_TAG`] is answered with the children in start order, encoded as
//! [`ChildInfo`]s: a `u32` count, little-endian, then per child a `u8` id length, the id's
//! UTF-8 bytes, and the pid as an `i64`, little-endian (`-1`: not running). Use
//! [`Supervisor::which_children`] from a native process and
//! [`Supervisor::which_children_wait`] from the host.
//!
//! | file | holds |
//! |---|---|
//! | `spec` | children's specs, restart and shutdown types, OTP's defaults, the errors |
//! | `builder` | [`SupervisorBuilder`]: settings checked, the process spawned |
//! | `run` | the supervisor process: init, the loop, restarts, stops, its exit |
//! | `wire` | the child list on the wire |
//!
//! Starting a supervisor from the host (`SupervisorBuilder::start`) and asking for its
//! children from the host (`Supervisor::which_children_wait`) take a `Runtime`, so they
//! are the runtime layer's (`runtime/supervisor.rs`).

mod builder;
mod run;
mod spec;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use shoal_executor::Executor;
use shoal_proc::Pid;

use super::{NativeContext, RequestError};
use crate::actor::{Actors, SpawnRelation};
use crate::wasm::SpawnOptions;

pub use builder::SupervisorBuilder;
pub use spec::{
    ChildInfo, ChildSpec, DEFAULT_MAX_RESTARTS, DEFAULT_PERIOD, DEFAULT_SHUTDOWN_TIMEOUT,
    MAX_CHILD_ID_BYTES, Restart, Shutdown, StartFn, Strategy, SupervisorError, WHICH_CHILDREN_TAG,
};

/// How long [`Supervisor::which_children_wait`](Supervisor) waits beyond the request's
/// own timeout for its requester process to report. The requester needs a few quanta of
/// a millisecond or so; a second is far beyond that even on a loaded pool, and bounds the
/// host's wait on a runtime whose workers are not running.
const HOST_REQUEST_SLACK: Duration = Duration::from_secs(1);

/// The namespace of supervisors: [`builder`](Self::builder) and the child-list requests.
#[derive(Debug)]
pub struct Supervisor(());

impl Supervisor {
    /// A supervisor with `strategy`, OTP's default intensity and no children yet.
    pub fn builder(strategy: Strategy) -> SupervisorBuilder {
        SupervisorBuilder::new(strategy)
    }

    /// Asks the supervisor `supervisor` for its children (id and current pid, in start
    /// order), waiting at most `timeout` for the reply.
    pub async fn which_children(
        ctx: &NativeContext,
        supervisor: Pid,
        timeout: Duration,
    ) -> Result<Vec<ChildInfo>, SupervisorError> {
        let reply = ctx
            .request(supervisor, WHICH_CHILDREN_TAG, &[], timeout)
            .await
            .map_err(SupervisorError::Request)?;
        wire::decode_children(&reply.data)
    }

    /// `which_children_wait` from the host, on the runtime's executor and actor state: a
    /// native process makes the request and the calling thread blocks until it reports.
    pub(crate) fn which_children_from_host(
        executor: &Arc<Executor>,
        actors: &Arc<Actors>,
        supervisor: Pid,
        timeout: Duration,
    ) -> Result<Vec<ChildInfo>, SupervisorError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let options = SpawnOptions::new();
        super::spawn(
            executor,
            actors,
            &options,
            None,
            SpawnRelation::None,
            move |ctx| async move {
                let _ = tx.send(Supervisor::which_children(&ctx, supervisor, timeout).await);
                0
            },
        )?;
        // A requester that was killed drops its sender: no reply, as after a timeout.
        rx.recv_timeout(timeout + HOST_REQUEST_SLACK)
            .unwrap_or(Err(SupervisorError::Request(RequestError::Timeout)))
    }
}
