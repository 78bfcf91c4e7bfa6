//! The supervisor process: init, the receive loop, restarts by strategy and intensity,
//! stopping children the OTP way, and its own exit (module docs, "Lifecycle" steps 2–4,
//! "Restarting", "Stopping one child").

use std::collections::VecDeque;
use std::ops::Range;
use std::time::Duration;

use shoal_proc::{ExitReason, Message, MessageKind, Pid, SignalReason};

use super::spec::{ChildSpec, Restart, Shutdown, Strategy, SupervisorError, WHICH_CHILDREN_TAG};
use super::wire::encode_children;
use crate::native::{NativeContext, split_request};

/// Checked settings, moved into the supervisor process.
pub(super) struct Plan {
    pub(super) strategy: Strategy,
    pub(super) intensity: Intensity,
    pub(super) children: Vec<ChildSpec>,
    pub(super) name: Option<String>,
}

impl Plan {
    /// Runs synchronously in the spawn, before the process is first polled: trap exits,
    /// take the name.
    pub(super) fn prepare(&self, ctx: &NativeContext) -> Result<(), SupervisorError> {
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
pub(super) struct Intensity {
    /// Restarts allowed within `period`.
    pub(super) max_restarts: u32,
    /// The window.
    pub(super) period: Duration,
    /// Clock readings of the restarts within the window, oldest first.
    pub(super) restarts: VecDeque<Duration>,
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
pub(super) struct Child {
    /// Its spec.
    pub(super) spec: ChildSpec,
    /// Its pid while running and linked (module invariants).
    pub(super) pid: Option<Pid>,
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
pub(super) async fn supervise(
    ctx: NativeContext,
    plan: Plan,
    parent: Option<Pid>,
    prepared: bool,
) -> i32 {
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
