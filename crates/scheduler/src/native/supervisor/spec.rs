//! What a supervisor is made of: its children's specs, their restart and shutdown
//! types, the strategy, OTP's defaults, and the errors.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use shoal_proc::{ExitReason, Pid, RegisterError};

use super::SupervisorBuilder;
use crate::error::SpawnError;
use crate::native::{NativeContext, RequestError};

/// OTP's default restart intensity: one restart within [`DEFAULT_PERIOD`] (`intensity => 1`
/// in OTP's supervisor flags).
pub const DEFAULT_MAX_RESTARTS: u32 = 1;

/// OTP's default restart period: five seconds (`period => 5`).
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(5);

/// How long a stopped child has to end after its `shutdown` exit signal before it is
/// killed: OTP's default for a worker child, 5,000 ms.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The tag of a request for a supervisor's children. The ASCII bytes `supv`: below the
/// reference range (`2^62` and up), so a plain data tag.
pub const WHICH_CHILDREN_TAG: u64 = u32::from_be_bytes(*b"supv") as u64;

/// The longest child id, in bytes: a registered name's limit, so an id fits the child
/// list's one-byte length.
pub const MAX_CHILD_ID_BYTES: usize = shoal_proc::MAX_NAME_BYTES;

/// Which children restart when one ends and is to be restarted.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Only the child that ended.
    OneForOne,
    /// Every child: the others are stopped in reverse start order, then all start again.
    OneForAll,
    /// The child that ended and every child started after it.
    RestForOne,
}

/// When a child that ended is restarted.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Always, whatever its reason.
    Permanent,
    /// Only after an abnormal exit: any reason but `normal` and `shutdown`.
    Transient,
    /// Never; it leaves the child list when it ends.
    Temporary,
}

impl Restart {
    /// Whether a child of this type that ended with `reason` is restarted.
    pub fn restarts_after(self, reason: &ExitReason) -> bool {
        match self {
            Restart::Permanent => true,
            Restart::Transient => {
                !matches!(reason, ExitReason::Normal { .. } | ExitReason::Shutdown)
            }
            Restart::Temporary => false,
        }
    }
}

/// How a child is stopped.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// `exit(child, kill)` at once (OTP's `brutal_kill`).
    BrutalKill,
    /// `exit(child, shutdown)`, then `kill` if it has not ended after this long. A zero
    /// timeout is [`BrutalKill`](Self::BrutalKill).
    Timeout(Duration),
    /// `exit(child, shutdown)`, and wait as long as it takes: for a child that is itself a
    /// supervisor, which needs the time to stop its own children.
    Infinity,
}

impl Default for Shutdown {
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`].
    fn default() -> Self {
        Shutdown::Timeout(DEFAULT_SHUTDOWN_TIMEOUT)
    }
}

/// A child's start function: given the supervisor's context, it starts the child linked
/// to the supervisor and returns its pid.
pub type StartFn = Arc<dyn Fn(&NativeContext) -> Result<Pid, SupervisorError> + Send + Sync>;

/// One child: its id, how to start it, when to restart it, how to stop it.
#[derive(Clone)]
pub struct ChildSpec {
    /// Names the child within its supervisor (unique there) and in the child list.
    pub(super) id: String,
    /// Starts it, linked to the supervisor.
    pub(super) start: StartFn,
    /// When it is restarted.
    pub(super) restart: Restart,
    /// How it is stopped.
    pub(super) shutdown: Shutdown,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// A child with the [default](Shutdown::default) shutdown timeout. `start` gets the
    /// supervisor's context and must start the child **linked** to it, with
    /// `ctx.spawn_link(..)` or `ctx.spawn_native_link(..)`, returning its pid:
    ///
    /// ```ignore
    /// ChildSpec::new("worker-1", Restart::Permanent, move |ctx: &NativeContext| {
    ///     Ok(ctx.spawn_link(&module, "worker", 1)?.pid())
    /// })
    /// ```
    ///
    /// The supervisor links to the returned pid again, so a child spawned unlinked is
    /// still supervised, but one that ends before that link is seen ending `noproc`.
    pub fn new<F>(id: impl Into<String>, restart: Restart, start: F) -> ChildSpec
    where
        F: Fn(&NativeContext) -> Result<Pid, SupervisorError> + Send + Sync + 'static,
    {
        ChildSpec {
            id: id.into(),
            start: Arc::new(start),
            restart,
            shutdown: Shutdown::default(),
        }
    }

    /// A child that is itself a supervisor, started with
    /// [`start_link`](SupervisorBuilder::start_link) and stopped with
    /// [`Shutdown::Infinity`], as OTP does for supervisor children.
    pub fn supervisor(
        id: impl Into<String>,
        restart: Restart,
        supervisor: SupervisorBuilder,
    ) -> ChildSpec {
        ChildSpec::new(id, restart, move |ctx: &NativeContext| {
            Ok(supervisor.start_link(ctx)?.pid())
        })
        .shutdown(Shutdown::Infinity)
    }

    /// How the child is stopped.
    pub fn shutdown(mut self, shutdown: Shutdown) -> ChildSpec {
        self.shutdown = shutdown;
        self
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its restart type.
    pub fn restart(&self) -> Restart {
        self.restart
    }
}

/// One entry of a supervisor's child list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildInfo {
    /// The child's id.
    pub id: String,
    /// Its pid while it runs; `None` when it is not running (a transient child that ended
    /// normally, or a child whose restart is still to be attempted).
    pub pid: Option<Pid>,
}

/// Why a supervisor could not be started, a child could not be started, or a request to
/// a supervisor failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    /// `intensity(max_restarts, period)` was given a zero period.
    #[error("the restart period of `intensity(max_restarts, period)` must be longer than zero")]
    ZeroPeriod,
    /// Two children have the same id.
    #[error("two children have the id `{id}`; ids are unique within a supervisor")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// A child id is empty or longer than [`MAX_CHILD_ID_BYTES`].
    #[error("a child id has 1 to {MAX_CHILD_ID_BYTES} bytes, got {len}")]
    BadId {
        /// Its length in bytes.
        len: usize,
    },
    /// A process (the supervisor, or a child) could not be spawned.
    #[error("spawn refused: {0}")]
    Spawn(#[from] SpawnError),
    /// The supervisor's name could not be registered.
    #[error("cannot register the supervisor as `{name}`: {error}")]
    Name {
        /// The name asked for.
        name: String,
        /// Why it was refused.
        error: RegisterError,
    },
    /// A request for the children got no reply.
    #[error("no child list: {0}")]
    Request(RequestError),
    /// The reply to a request for the children could not be decoded.
    #[error("the reply of {len} bytes is not a child list")]
    BadReply {
        /// Its length.
        len: usize,
    },
}
