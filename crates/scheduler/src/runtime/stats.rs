//! Runtime-wide counters: the executor's and the wasm layer's, in one report; and what
//! the live processes hold, counted by visiting them, for leak checks.

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

/// What the runtime's live processes hold now, counted by visiting each of them and the
/// timer heap and the wasm layer's arenas ([`Runtime::held`](crate::Runtime::held)). A
/// runtime with no live process holds nothing, once the stores of the last ones are
/// dropped (just after their exits are published): every field is 0 but
/// `timer_entries`, which may keep cancelled entries until they are due or compacted. While processes live, every monitor of a process of
/// this node is counted once in `monitors` and once in `watchers`, and every link
/// between two of them twice in `links`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Live processes visited.
    pub processes: usize,
    /// Link entries, one per side.
    pub links: usize,
    /// Monitors held on processes (by their watchers).
    pub monitors: usize,
    /// Monitors held on nodes.
    pub node_monitors: usize,
    /// Monitors held on processes, counted on the watched side.
    pub watchers: usize,
    /// Open aliases.
    pub aliases: usize,
    /// Registered names.
    pub names: usize,
    /// Timers whose waiter still waits: sleeps, receive timeouts, deadlines.
    pub timers: usize,
    /// Entries in the timer heap, cancelled ones included.
    pub timer_entries: usize,
    /// Guests holding a slot of the runtime's guest limit.
    pub guests: usize,
    /// Linear-memory slots of the arena held by stores.
    pub memory_slots: usize,
    /// Fiber-stack slots of the arena held by stores.
    pub stack_slots: usize,
}
