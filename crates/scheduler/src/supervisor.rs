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

use std::collections::VecDeque;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use shoal_proc::{ExitReason, Message, MessageKind, Pid, RegisterError, SignalReason};

use crate::config::SpawnOptions;
use crate::error::SpawnError;
use crate::handle::ProcessHandle;
use crate::native::{NativeContext, RequestError, split_request};
use crate::runtime::Runtime;

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

/// How long [`Supervisor::which_children_wait`] waits beyond the request's own timeout
/// for its requester process to report. The requester needs a few quanta of a
/// millisecond or so; a second is far beyond that even on a loaded pool, and bounds the
/// host's wait on a runtime whose workers are not running.
const HOST_REQUEST_SLACK: Duration = Duration::from_secs(1);

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
    id: String,
    /// Starts it, linked to the supervisor.
    start: StartFn,
    /// When it is restarted.
    restart: Restart,
    /// How it is stopped.
    shutdown: Shutdown,
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

/// The namespace of supervisors: [`builder`](Self::builder) and the child-list requests.
#[derive(Debug)]
pub struct Supervisor(());

impl Supervisor {
    /// A supervisor with `strategy`, OTP's default intensity and no children yet.
    pub fn builder(strategy: Strategy) -> SupervisorBuilder {
        SupervisorBuilder {
            strategy,
            max_restarts: DEFAULT_MAX_RESTARTS,
            period: DEFAULT_PERIOD,
            children: Vec::new(),
            name: None,
        }
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
        decode_children(&reply.data)
    }

    /// [`which_children`](Self::which_children) from the host: a native process makes the
    /// request and the calling thread blocks until it reports. Do not call it from a worker
    /// or an async task; a runtime built paused must have been started.
    pub fn which_children_wait(
        runtime: &Runtime,
        supervisor: Pid,
        timeout: Duration,
    ) -> Result<Vec<ChildInfo>, SupervisorError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn_native(SpawnOptions::new(), move |ctx| async move {
            let _ = tx.send(Supervisor::which_children(&ctx, supervisor, timeout).await);
            0
        })?;
        // A requester that was killed drops its sender: no reply, as after a timeout.
        rx.recv_timeout(timeout + HOST_REQUEST_SLACK)
            .unwrap_or(Err(SupervisorError::Request(RequestError::Timeout)))
    }
}

/// A supervisor's settings and children, to start it from. Cloning is cheap (start
/// functions are shared), so one builder can start many supervisors, or the same nested
/// supervisor again after each restart.
#[derive(Clone, Debug)]
pub struct SupervisorBuilder {
    /// Which children restart together.
    strategy: Strategy,
    /// Restarts allowed within `period`.
    max_restarts: u32,
    /// The window the restarts are counted in.
    period: Duration,
    /// In spec order, which is start order.
    children: Vec<ChildSpec>,
    /// Registered before any child starts, if set.
    name: Option<String>,
}

impl SupervisorBuilder {
    /// At most `max_restarts` restarts within `period`; one more stops the supervisor
    /// with `shutdown`. `period` must be longer than zero (checked at start).
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.max_restarts = max_restarts;
        self.period = period;
        self
    }

    /// Adds a child, after those added before (children start in this order).
    pub fn child(mut self, spec: ChildSpec) -> Self {
        self.children.push(spec);
        self
    }

    /// Registers the supervisor as `name` before any child starts.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Spawns the supervisor from the host, with the host as its parent: an exit signal
    /// from the host (`Runtime::exit`) stops it. Returns once the process exists; its
    /// children start in the process. A failing child start shows as the supervisor's
    /// exit, `shutdown`.
    pub fn start(&self, runtime: &Runtime) -> Result<ProcessHandle, SupervisorError> {
        let plan = self.plan()?;
        let mut prepared = Ok(());
        let handle = runtime.spawn_native(SpawnOptions::new(), |ctx| {
            prepared = plan.prepare(&ctx);
            supervise(ctx, plan, None, prepared.is_ok())
        })?;
        prepared.map(|()| handle)
    }

    /// Spawns the supervisor linked to the native process `ctx` is of, its parent: an
    /// exit signal from the parent (or its end, through the link) stops it. For nested
    /// supervisors; see also [`ChildSpec::supervisor`].
    pub fn start_link(&self, ctx: &NativeContext) -> Result<ProcessHandle, SupervisorError> {
        let plan = self.plan()?;
        let parent = ctx.pid();
        let mut prepared = Ok(());
        let handle = ctx.spawn_native_link(SpawnOptions::new(), |ctx| {
            prepared = plan.prepare(&ctx);
            supervise(ctx, plan, Some(parent), prepared.is_ok())
        })?;
        prepared.map(|()| handle)
    }

    /// Checks the settings.
    fn plan(&self) -> Result<Plan, SupervisorError> {
        if self.period.is_zero() {
            return Err(SupervisorError::ZeroPeriod);
        }
        for (i, spec) in self.children.iter().enumerate() {
            if spec.id.is_empty() || spec.id.len() > MAX_CHILD_ID_BYTES {
                return Err(SupervisorError::BadId { len: spec.id.len() });
            }
            if self.children[..i]
                .iter()
                .any(|earlier| earlier.id == spec.id)
            {
                return Err(SupervisorError::DuplicateId {
                    id: spec.id.clone(),
                });
            }
        }
        Ok(Plan {
            strategy: self.strategy,
            intensity: Intensity {
                max_restarts: self.max_restarts,
                period: self.period,
                restarts: VecDeque::new(),
            },
            children: self.children.clone(),
            name: self.name.clone(),
        })
    }
}

/// Checked settings, moved into the supervisor process.
struct Plan {
    strategy: Strategy,
    intensity: Intensity,
    children: Vec<ChildSpec>,
    name: Option<String>,
}

impl Plan {
    /// Runs synchronously in the spawn, before the process is first polled: trap exits,
    /// take the name.
    fn prepare(&self, ctx: &NativeContext) -> Result<(), SupervisorError> {
        ctx.trap_exit(true);
        match &self.name {
            Some(name) => ctx.register(name).map_err(|error| SupervisorError::Name {
                name: name.clone(),
                error,
            }),
            None => Ok(()),
        }
    }
}

/// The restart log against the intensity.
struct Intensity {
    /// Restarts allowed within `period`.
    max_restarts: u32,
    /// The window.
    period: Duration,
    /// Clock readings of the restarts within the window, oldest first.
    restarts: VecDeque<Duration>,
}

/// Whether a restart is within the intensity.
#[must_use = "a restart past the intensity must stop the supervisor"]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Admit {
    /// Go ahead.
    Within,
    /// More than `max_restarts` within the period: give up.
    Exceeded,
}

impl Intensity {
    /// Records a restart at `now` (OTP's `add_restart`: restarts more than `period` ago are
    /// forgotten, the rest, with this one, are counted).
    fn record(&mut self, now: Duration) -> Admit {
        while let Some(&then) = self.restarts.front() {
            if now.saturating_sub(then) > self.period {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        self.restarts.push_back(now);
        if self.restarts.len() > self.max_restarts as usize {
            Admit::Exceeded
        } else {
            Admit::Within
        }
    }
}

/// What the loop does after a message.
#[must_use = "a stop verdict must end the supervisor"]
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    /// Go on supervising.
    Continue,
    /// Stop the children and exit with this reason.
    Stop(ExitReason),
}

/// How starting a run of children went.
#[must_use = "a failed start must be retried or end the supervisor"]
#[derive(Clone, Debug, PartialEq, Eq)]
enum Started {
    /// Every child of the run is running.
    All,
    /// This child's start failed; those after it were not started.
    Failed {
        /// Its id.
        id: String,
    },
}

/// A child as the supervisor holds it.
struct Child {
    /// Its spec.
    spec: ChildSpec,
    /// Its pid while running and linked (module invariants).
    pid: Option<Pid>,
}

/// The supervisor process's state; owned by its future, never shared.
struct Supervision {
    /// The supervisor's own context.
    ctx: NativeContext,
    /// The process whose exit signal stops it; `None`: the host.
    parent: Option<Pid>,
    /// Which children restart together.
    strategy: Strategy,
    /// The restart log.
    intensity: Intensity,
    /// In start order.
    children: Vec<Child>,
    /// Ids whose restart failed, to be tried again behind the queued messages.
    retries: VecDeque<String>,
}

/// The supervisor process: init, the loop, the stop, the exit (module docs).
async fn supervise(ctx: NativeContext, plan: Plan, parent: Option<Pid>, prepared: bool) -> i32 {
    if !prepared {
        // Its name was refused; the caller has the error. No child was started.
        return 0;
    }
    let mut supervision = Supervision {
        ctx,
        parent,
        strategy: plan.strategy,
        intensity: plan.intensity,
        children: plan
            .children
            .into_iter()
            .map(|spec| Child { spec, pid: None })
            .collect(),
        retries: VecDeque::new(),
    };
    let reason = supervision.run().await;
    supervision.stop_from(0).await;
    exit_with(&supervision.ctx, reason).await
}

impl Supervision {
    /// Init, then the loop until a verdict stops it; the reason to exit with.
    async fn run(&mut self) -> ExitReason {
        if let Started::Failed { id } = self.start_run(0..self.children.len()) {
            tracing::warn!(supervisor = %self.ctx.pid(), child = %id, "child failed to start; shutting down");
            return ExitReason::Shutdown;
        }
        loop {
            let verdict = if self.retries.is_empty() {
                let message = self
                    .ctx
                    .receive(None, None)
                    .await
                    .expect("a receive without a timeout returns a message");
                self.handle(message).await
            } else {
                // Behind the queued messages, as OTP's `try_again_restart` message is.
                self.ctx.yield_now().await;
                match self.ctx.try_receive(None) {
                    Some(message) => self.handle(message).await,
                    None => {
                        let id = self.retries.pop_front().expect("retries is not empty");
                        self.try_again(&id).await
                    }
                }
            };
            if let Verdict::Stop(reason) = verdict {
                return reason;
            }
        }
    }

    /// One message of the loop.
    async fn handle(&mut self, message: Message) -> Verdict {
        match message.kind {
            MessageKind::Exit { reason } => match message.from {
                None => Verdict::Stop(reason),
                Some(from) if Some(from) == self.parent => Verdict::Stop(reason),
                Some(from) => match self.children.iter().position(|c| c.pid == Some(from)) {
                    Some(index) => self.on_child_exit(index, reason).await,
                    None => Verdict::Continue,
                },
            },
            // Every DOWN of a monitor the supervisor made is taken by its tag when it is
            // made; any other is not ours to act on.
            MessageKind::Down { .. } => Verdict::Continue,
            MessageKind::Data => {
                if message.tag == WHICH_CHILDREN_TAG {
                    self.reply_children(&message);
                }
                Verdict::Continue
            }
        }
    }

    /// A child ended with `reason`.
    async fn on_child_exit(&mut self, index: usize, reason: ExitReason) -> Verdict {
        let child = &mut self.children[index];
        child.pid = None;
        let restart = child.spec.restart;
        tracing::debug!(supervisor = %self.ctx.pid(), child = %child.spec.id, %reason, "child ended");
        if restart == Restart::Temporary {
            self.children.remove(index);
            return Verdict::Continue;
        }
        if !restart.restarts_after(&reason) {
            return Verdict::Continue;
        }
        let id = child.spec.id.clone();
        self.restart(&id).await
    }

    /// Another attempt at a restart that failed, if the child is still not running.
    async fn try_again(&mut self, id: &str) -> Verdict {
        match self.children.iter().find(|c| c.spec.id == id) {
            Some(child) if child.pid.is_none() => self.restart(id).await,
            _ => Verdict::Continue,
        }
    }

    /// Restarts the child `id` (not running) and the siblings its strategy takes along.
    async fn restart(&mut self, id: &str) -> Verdict {
        if self.intensity.record(self.ctx.now()) == Admit::Exceeded {
            tracing::warn!(supervisor = %self.ctx.pid(), child = %id, "restart intensity reached; shutting down");
            return Verdict::Stop(ExitReason::Shutdown);
        }
        let Some(index) = self.position(id) else {
            return Verdict::Continue;
        };
        match self.strategy {
            Strategy::OneForOne => {}
            Strategy::OneForAll => self.stop_from(0).await,
            Strategy::RestForOne => self.stop_from(index).await,
        }
        // Stopping may have removed temporary children: find the run again.
        let index = self
            .position(id)
            .expect("a restarting child is not temporary");
        let run = match self.strategy {
            Strategy::OneForOne => index..index + 1,
            Strategy::OneForAll => 0..self.children.len(),
            Strategy::RestForOne => index..self.children.len(),
        };
        if let Started::Failed { id } = self.start_run(run) {
            tracing::warn!(supervisor = %self.ctx.pid(), child = %id, "child failed to restart; will try again");
            self.retries.push_back(id);
        }
        Verdict::Continue
    }

    /// Starts, in order, the children of `run` that are not running.
    fn start_run(&mut self, run: Range<usize>) -> Started {
        for child in &mut self.children[run] {
            if child.pid.is_some() {
                continue;
            }
            match (child.spec.start)(&self.ctx) {
                Ok(pid) => {
                    // Idempotent if the start function linked, as it should (module docs).
                    self.ctx.link(pid);
                    child.pid = Some(pid);
                }
                Err(error) => {
                    tracing::warn!(supervisor = %self.ctx.pid(), child = %child.spec.id, %error, "start failed");
                    return Started::Failed {
                        id: child.spec.id.clone(),
                    };
                }
            }
        }
        Started::All
    }

    /// Stops the running children from `first` on, in reverse start order; temporary
    /// ones leave the list.
    async fn stop_from(&mut self, first: usize) {
        for index in (first..self.children.len()).rev() {
            let child = &mut self.children[index];
            if let Some(pid) = child.pid.take() {
                let reason = stop_child(&self.ctx, pid, child.spec.shutdown).await;
                tracing::debug!(supervisor = %self.ctx.pid(), child = %child.spec.id, %reason, "child stopped");
            }
            if self.children[index].spec.restart == Restart::Temporary {
                self.children.remove(index);
            }
        }
    }

    fn position(&self, id: &str) -> Option<usize> {
        self.children.iter().position(|c| c.spec.id == id)
    }

    /// Answers a child-list request; one that cannot be answered is dropped.
    fn reply_children(&self, request: &Message) {
        let (Some(from), Some((alias, _))) = (request.from, split_request(&request.data)) else {
            return;
        };
        let _ = self
            .ctx
            .send(from, alias.to_bits(), encode_children(&self.children));
    }
}

/// Stops one child the OTP way (module docs); the reason it ended with.
async fn stop_child(ctx: &NativeContext, pid: Pid, shutdown: Shutdown) -> ExitReason {
    let monitor = ctx.monitor(pid).to_bits();
    ctx.unlink(pid);
    let timeout = match shutdown {
        Shutdown::BrutalKill => Some(Duration::ZERO),
        Shutdown::Timeout(timeout) => Some(timeout),
        Shutdown::Infinity => None,
    };
    if timeout != Some(Duration::ZERO) {
        // A child already gone has its DOWN (`noproc`) queued by the monitor.
        let _ = ctx.exit(pid, SignalReason::Reason(ExitReason::Shutdown));
        if let Some(down) = ctx.receive(Some(monitor), timeout).await {
            return down_reason(down);
        }
    }
    let _ = ctx.exit(pid, SignalReason::Kill);
    let down = ctx
        .receive(Some(monitor), None)
        .await
        .expect("a receive without a timeout returns a message");
    down_reason(down)
}

fn down_reason(down: Message) -> ExitReason {
    match down.kind {
        MessageKind::Down { reason, .. } => reason,
        other => unreachable!("a monitor's tag carries only its DOWN, got {other:?}"),
    }
}

/// Ends the supervisor with `reason`: a normal one by returning its code, any other by
/// an exit signal to itself with trapping turned off, which ends it at its next poll.
async fn exit_with(ctx: &NativeContext, reason: ExitReason) -> i32 {
    if let ExitReason::Normal { code } = reason {
        return code;
    }
    ctx.trap_exit(false);
    ctx.exit(ctx.pid(), SignalReason::Reason(reason))
        .expect("a running process is alive");
    loop {
        ctx.yield_now().await;
    }
}

/// The child list on the wire (module docs).
fn encode_children(children: &[Child]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + children.len() * 24);
    let count = u32::try_from(children.len()).expect("fewer than 2^32 children");
    out.extend_from_slice(&count.to_le_bytes());
    for child in children {
        let id = child.spec.id.as_bytes();
        out.push(u8::try_from(id.len()).expect("ids are checked at start"));
        out.extend_from_slice(id);
        let pid = child.pid.map_or(-1, |pid| pid.to_bits() as i64);
        out.extend_from_slice(&pid.to_le_bytes());
    }
    out
}

/// The inverse of [`encode_children`].
fn decode_children(bytes: &[u8]) -> Result<Vec<ChildInfo>, SupervisorError> {
    let bad = || SupervisorError::BadReply { len: bytes.len() };
    let (count, mut rest) = bytes.split_first_chunk::<4>().ok_or_else(bad)?;
    let count = u32::from_le_bytes(*count);
    let mut children = Vec::new();
    for _ in 0..count {
        let (&len, after) = rest.split_first().ok_or_else(bad)?;
        let (id, after) = after.split_at_checked(usize::from(len)).ok_or_else(bad)?;
        let (pid, after) = after.split_first_chunk::<8>().ok_or_else(bad)?;
        let id = std::str::from_utf8(id).map_err(|_| bad())?.to_owned();
        let pid = i64::from_le_bytes(*pid);
        let pid = (pid >= 0).then(|| Pid::from_bits(pid as u64));
        children.push(ChildInfo { id, pid });
        rest = after;
    }
    if rest.is_empty() {
        Ok(children)
    } else {
        Err(bad())
    }
}
