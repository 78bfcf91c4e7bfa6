//! Runtime-wide counters: the executor's and the wasm layer's, in one report.

/// Runtime-wide counters.
#[derive(Clone, Debug, Default)]
pub struct RuntimeStats {
    /// Worker threads.
    pub workers: usize,
    /// Maximum live processes.
    pub capacity: usize,
    /// Live processes now.
    pub live: usize,
    /// Processes spawned since start.
    pub spawned: u64,
    /// Processes exited since start.
    pub exited: u64,
    /// Quanta run on all workers.
    pub quanta: u64,
    /// Processes a worker took from another worker's deque.
    pub steals: u64,
    /// Processes queued for a worker now.
    pub queued: usize,
    /// Live wasm processes at most: the capacity, or less if the memory-mapping budget
    /// is smaller (see [`SpawnError::MappingBudget`](crate::SpawnError::MappingBudget)).
    pub guest_limit: usize,
    /// Fiber-stack slots ever used; each costs
    /// [`MAPPINGS_PER_GUEST`](crate::MAPPINGS_PER_GUEST) mappings for the runtime's life.
    pub stack_slots: usize,
    /// `vm.max_map_count` when the runtime was built.
    pub max_map_count: usize,
    /// The memory budget, in bytes (`RuntimeBuilder::memory_budget`).
    pub memory_budget: usize,
    /// Bytes charged to it now: process records, linear memory, queued messages.
    pub memory_used: usize,
    /// The most ever charged to it at once.
    pub memory_peak: usize,
}
