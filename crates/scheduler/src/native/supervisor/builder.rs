//! [`SupervisorBuilder`]: a supervisor's settings, checked into a plan, and the
//! supervisor process spawned from it (module docs, "Lifecycle", steps 1 and 2).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use shoal_executor::{Executor, ProcessHandle};

use super::run::{Intensity, Plan, supervise};
use super::spec::{
    ChildSpec, DEFAULT_MAX_RESTARTS, DEFAULT_PERIOD, MAX_CHILD_ID_BYTES, Strategy, SupervisorError,
};
use crate::actor::{Actors, SpawnRelation};
use crate::native::NativeContext;
use crate::wasm::SpawnOptions;

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
    /// `strategy`, OTP's default intensity, no children, no name.
    pub(super) fn new(strategy: Strategy) -> Self {
        SupervisorBuilder {
            strategy,
            max_restarts: DEFAULT_MAX_RESTARTS,
            period: DEFAULT_PERIOD,
            children: Vec::new(),
            name: None,
        }
    }

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

    /// `start` from the host, on the runtime's executor and actor state, with the host
    /// as the supervisor's parent.
    pub(crate) fn start_from_host(
        &self,
        executor: &Arc<Executor>,
        actors: &Arc<Actors>,
    ) -> Result<ProcessHandle, SupervisorError> {
        let plan = self.plan()?;
        let mut prepared = Ok(());
        let options = SpawnOptions::new();
        let process = crate::native::spawn(
            executor,
            actors,
            &options,
            None,
            SpawnRelation::None,
            |ctx| {
                prepared = plan.prepare(&ctx);
                supervise(ctx, plan, None, prepared.is_ok())
            },
        )?;
        prepared.map(|()| ProcessHandle::new(process))
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
