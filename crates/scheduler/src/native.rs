//! Native processes: Rust futures scheduled as processes, beside the guests.
//!
//! [`Runtime::spawn_native`](crate::Runtime::spawn_native) gives a future a pid, a mailbox
//! and an exit, and runs it on the workers like a guest: one poll is one quantum, and the
//! future's waits through [`NativeContext`] (`receive`, `sleep`, `yield_now`) move it to
//! `Waiting` and free the worker, as a guest's host calls do. Guests cannot tell a native
//! process from another guest: they send to its pid and receive from it.
//!
//! # Lifecycle
//! The future's output `i32` becomes `normal(code)`; a panic becomes `host_error` with the
//! panic message; `kill` and a deadline end it at its next poll (and wake it if it waits),
//! dropping the future. A native process has no fuel and no memory of its own, so fuel
//! budgets and memory caps do not apply to it; its CPU time is accounted like a guest's.
//!
//! A future that awaits something other than its context (a channel, a tokio timer) is
//! polled again when that wakes it; while it waits, it is in state `Waiting(HostCall)`.
//! It must not block the thread: a worker that blocks is a worker lost to every process.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use shoal_proc::{Message, Pid, Reference, RegisterError, SignalReason};

use crate::actor::Bind;
use crate::config::SpawnOptions;
use crate::error::{NoProc, SendError, SpawnError};
use crate::handle::ProcessHandle;
use crate::module::Module;
use crate::process::{GuestRun, Process, YieldCause};
use crate::shared::Shared;
use crate::wait::{YieldNow, sleep_until, wait_for_message};

/// What a native process uses to take part: its pid, its mailbox, the clock, spawn and
/// send, links, monitors, exit signals and names. Cheap to clone.
///
/// The actor operations are those of the guest ABI (docs/ABI.md), with the same rules.
/// An exit signal that kills this process (an untrapped one from a linked process, or
/// [`exit`](Self::exit) to itself) ends it at its next await, where it is dropped.
#[derive(Clone)]
pub struct NativeContext {
    process: Arc<Process>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for NativeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeContext")
            .field("pid", &self.process.pid())
            .finish()
    }
}

impl NativeContext {
    /// This process's pid.
    pub fn pid(&self) -> Pid {
        self.process.pid()
    }

    /// Takes the oldest message (with tag `tag`, if given), waiting at most `timeout`
    /// (`None`: forever). `None` when the wait timed out.
    pub async fn receive(&self, tag: Option<u64>, timeout: Option<Duration>) -> Option<Message> {
        let timeout_ns = timeout.map(crate::clock::duration_ns);
        wait_for_message(&self.process, &self.shared, tag, timeout_ns)
            .await
            .0
    }

    /// Takes the oldest message (with tag `tag`, if given) without waiting.
    pub fn try_receive(&self, tag: Option<u64>) -> Option<Message> {
        self.process.core.mailbox.try_receive(tag)
    }

    /// Sends `data` with `tag` to `to`, from this process. FIFO per sender.
    pub fn send(&self, to: Pid, tag: u64, data: impl Into<Vec<u8>>) -> Result<(), SendError> {
        self.shared
            .send(to, Message::data(Some(self.pid()), tag, data))
    }

    /// Sends to the process registered as `name`.
    pub fn send_name(
        &self,
        name: &str,
        tag: u64,
        data: impl Into<Vec<u8>>,
    ) -> Result<(), SendError> {
        self.shared
            .send_name(name, Message::data(Some(self.pid()), tag, data))
    }

    fn spawn_bound(
        &self,
        module: &Module,
        export: &str,
        arg: i64,
        bind: Bind<'_>,
    ) -> Result<ProcessHandle, SpawnError> {
        let limits = crate::config::Limits::default();
        let process =
            self.shared
                .spawn_process(module, export, arg, &limits, Some(&self.process), bind)?;
        Ok(ProcessHandle { process })
    }

    /// Spawns a guest process running `export` of `module` with `arg`, with the
    /// runtime's default limits.
    pub fn spawn(
        &self,
        module: &Module,
        export: &str,
        arg: i64,
    ) -> Result<ProcessHandle, SpawnError> {
        self.spawn_bound(module, export, arg, Bind::None)
    }

    /// [`spawn`](Self::spawn), linked: the link exists before the child runs.
    pub fn spawn_link(
        &self,
        module: &Module,
        export: &str,
        arg: i64,
    ) -> Result<ProcessHandle, SpawnError> {
        self.spawn_bound(module, export, arg, Bind::Link(&self.process))
    }

    /// [`spawn`](Self::spawn), monitored: the monitor exists before the child runs.
    pub fn spawn_monitor(
        &self,
        module: &Module,
        export: &str,
        arg: i64,
    ) -> Result<(ProcessHandle, Reference), SpawnError> {
        let reference = self.shared.make_ref();
        let handle =
            self.spawn_bound(module, export, arg, Bind::Monitor(&self.process, reference))?;
        Ok((handle, reference))
    }

    /// Spawns a native process, as `Runtime::spawn_native` does, with this one as its
    /// parent.
    pub fn spawn_native<F, Fut>(
        &self,
        options: SpawnOptions,
        f: F,
    ) -> Result<ProcessHandle, SpawnError>
    where
        F: FnOnce(NativeContext) -> Fut,
        Fut: Future<Output = i32> + Send + 'static,
    {
        let process = spawn(&self.shared, &options, Some(&self.process), Bind::None, f)?;
        Ok(ProcessHandle { process })
    }

    /// [`spawn_native`](Self::spawn_native), linked before the child is first polled.
    pub fn spawn_native_link<F, Fut>(
        &self,
        options: SpawnOptions,
        f: F,
    ) -> Result<ProcessHandle, SpawnError>
    where
        F: FnOnce(NativeContext) -> Fut,
        Fut: Future<Output = i32> + Send + 'static,
    {
        let bind = Bind::Link(&self.process);
        let process = spawn(&self.shared, &options, Some(&self.process), bind, f)?;
        Ok(ProcessHandle { process })
    }

    /// Links this process and `pid`, both ways (idempotent). If `pid` is not alive, this
    /// process gets a `noproc` exit signal.
    pub fn link(&self, pid: Pid) {
        self.shared.link(&self.process, pid);
    }

    /// Removes the link with `pid`, if any: no exit signal through it arrives after this.
    pub fn unlink(&self, pid: Pid) {
        self.shared.unlink(&self.process, pid);
    }

    /// Monitors `pid`: a `DOWN` message with the returned reference arrives when it ends
    /// (at once, with `noproc`, if it is not alive). Monitors stack.
    pub fn monitor(&self, pid: Pid) -> Reference {
        self.shared.monitor(&self.process, pid)
    }

    /// Removes a monitor; with `flush`, also its `DOWN` if already queued. Whether it was
    /// active.
    pub fn demonitor(&self, reference: Reference, flush: bool) -> bool {
        self.shared.demonitor(&self.process, reference, flush)
    }

    /// Sets whether exit signals arrive as `EXIT` messages; returns the previous value.
    pub fn trap_exit(&self, on: bool) -> bool {
        self.process.core.set_trap_exit(on)
    }

    /// Sends an exit signal to `pid` (possibly this process) from this process.
    pub fn exit(&self, pid: Pid, reason: SignalReason) -> Result<(), NoProc> {
        self.shared.exit_signal(Some(self.pid()), pid, reason)
    }

    /// Registers this process as `name`.
    pub fn register(&self, name: &str) -> Result<(), RegisterError> {
        self.shared.register(name, self.pid())
    }

    /// Registers `pid` as `name`.
    pub fn register_pid(&self, name: &str, pid: Pid) -> Result<(), RegisterError> {
        self.shared.register(name, pid)
    }

    /// Removes a name; the pid it named.
    pub fn unregister(&self, name: &str) -> Option<Pid> {
        self.shared.unregister(name)
    }

    /// The live process registered as `name`.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.shared.whereis(name)
    }

    /// A fresh reference, open as an alias of this process's mailbox: data messages
    /// tagged with it are delivered until [`unalias`](Self::unalias).
    pub fn alias(&self) -> Reference {
        let reference = self.shared.make_ref();
        self.process.core.mailbox.open_alias(reference);
        reference
    }

    /// Closes an alias; queued and later messages tagged with it are dropped. Whether
    /// it was open.
    pub fn unalias(&self, reference: Reference) -> bool {
        self.process.core.mailbox.close_alias(reference)
    }

    /// Sends `data` with `tag` to `to` with a reply alias, and waits at most `timeout` for
    /// the reply: a message tagged with the alias. The request's payload is the alias
    /// (8 bytes, little-endian) followed by `data`; the server replies by sending to the
    /// sender with the alias as the tag. After a timeout the alias is closed, so a late
    /// reply is dropped and no later receive can take it.
    pub async fn request(
        &self,
        to: Pid,
        tag: u64,
        data: &[u8],
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        let alias = self.alias();
        let mut payload = Vec::with_capacity(8 + data.len());
        payload.extend_from_slice(&alias.to_bits().to_le_bytes());
        payload.extend_from_slice(data);
        if let Err(e) = self.send(to, tag, payload) {
            self.unalias(alias);
            return Err(RequestError::Send(e));
        }
        let reply = self.receive(Some(alias.to_bits()), Some(timeout)).await;
        self.unalias(alias);
        reply.ok_or(RequestError::Timeout)
    }

    /// The runtime's clock: time since it started (virtual in deterministic mode).
    pub fn now(&self) -> Duration {
        Duration::from_nanos(self.shared.clock.now_ns())
    }

    /// Waits at least `duration`, holding no worker.
    pub async fn sleep(&self, duration: Duration) {
        let when = self
            .shared
            .clock
            .now_ns()
            .saturating_add(crate::clock::duration_ns(duration));
        sleep_until(&self.process, &self.shared, when).await;
    }

    /// Ends this quantum: the process goes behind the other runnable ones.
    pub async fn yield_now(&self) {
        self.process.set_yield_cause(YieldCause::Voluntary);
        YieldNow(false).await;
    }
}

/// The run of a native process: polls the user's future, and marks the process
/// `Waiting(HostCall)` when it is pending on something other than its context.
pub(crate) fn run<Fut>(shared: Arc<Shared>, process: Arc<Process>, future: Fut) -> GuestRun
where
    Fut: Future<Output = i32> + Send + 'static,
{
    let mut future = Box::pin(future);
    Box::pin(std::future::poll_fn(
        move |cx: &mut Context<'_>| match future.as_mut().poll(cx) {
            Poll::Ready(code) => Poll::Ready(shoal_proc::ExitReason::Normal { code }),
            Poll::Pending => {
                crate::process::note_pending(&process, &shared);
                Poll::Pending
            }
        },
    ))
}

/// Starts a native process: `f` gets its context and returns the future it runs.
pub(crate) fn spawn<F, Fut>(
    shared: &Arc<Shared>,
    options: &SpawnOptions,
    parent: Option<&Process>,
    bind: Bind<'_>,
    f: F,
) -> Result<Arc<Process>, SpawnError>
where
    F: FnOnce(NativeContext) -> Fut,
    Fut: Future<Output = i32> + Send + 'static,
{
    shared.spawn_native(&options.limits, parent, bind, |process| {
        let context = NativeContext {
            process: process.clone(),
            shared: shared.clone(),
        };
        run(shared.clone(), process, f(context))
    })
}

/// A request got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The request could not be sent.
    #[error("request not sent: {0}")]
    Send(SendError),
    /// No reply came in time; a late one will be dropped.
    #[error("no reply in time")]
    Timeout,
}

/// Splits a request made by [`NativeContext::request`] (or the guest SDK) into the alias
/// to reply to and the payload. `None` if it is too short or the alias is not a reference.
pub fn split_request(data: &[u8]) -> Option<(Reference, &[u8])> {
    let (alias, rest) = data.split_first_chunk::<8>()?;
    Some((Reference::from_bits(u64::from_le_bytes(*alias))?, rest))
}
