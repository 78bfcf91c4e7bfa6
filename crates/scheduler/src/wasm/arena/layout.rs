//! How linear memories are laid out: dense slots that compiled code bounds-checks, or
//! guarded slots whose reservation and guard let it drop the checks (module docs,
//! "Layouts"). `MappingBudget::choose` picks one for a runtime.

/// Memory mappings one live guest costs with dense memories: its stack slot's guard page
/// and the stack above it (its memory slot costs none, see the module docs).
pub const MAPPINGS_PER_GUEST: usize = 2;

/// Address space each guarded memory reserves: a 32-bit memory's whole index space, so
/// that no address compiled code forms from a 32-bit index leaves the reservation.
pub const GUARDED_RESERVATION: usize = 4 << 30;

/// Inaccessible bytes after each guarded reservation: wasmtime's own default on 64-bit
/// hosts. An access whose constant offset is below it needs no check either.
pub const GUARDED_GUARD: usize = 32 << 20;

/// Address space one runtime's guarded memories may reserve: 16 TiB, an eighth of
/// x86-64's 128 TiB of user address space (the share `shoal run` gives a dense arena),
/// leaving the rest to the fiber stacks, the heap, other runtimes and the host.
pub const GUARDED_ADDRESS_SPACE: usize = 16 << 40;

/// The most live processes a runtime with guarded memories may have: as many
/// reservations and guards as [`GUARDED_ADDRESS_SPACE`] holds (4,064).
pub const MAX_GUARDED_PROCESSES: usize =
    GUARDED_ADDRESS_SPACE / (GUARDED_RESERVATION + GUARDED_GUARD);

/// How a runtime lays out its processes' linear memories
/// ([`RuntimeBuilder::memory_layout`](crate::RuntimeBuilder::memory_layout)).
///
/// Left unset, the runtime chooses [`Guarded`](Self::Guarded) when its capacity is at
/// most [`MAX_GUARDED_PROCESSES`] and the kernel's mapping limit admits that many guarded
/// processes, and [`Dense`](Self::Dense) otherwise; [`Runtime::memory_layout`](crate::Runtime::memory_layout)
/// says which it chose.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MemoryLayout {
    /// Each memory is a read-write slot of `max_memory` bytes in one mapping. A memory
    /// costs the kernel no mapping, so a million processes can live, but compiled code
    /// checks every access against the memory's current length (about a third slower on
    /// memory-heavy code).
    Dense,
    /// Each memory is a [`GUARDED_RESERVATION`] of address space followed by
    /// [`GUARDED_GUARD`], inaccessible except the pages the memory has: an access past
    /// its end faults and traps, so compiled code checks nothing, as wasmtime's default
    /// engine does. Costs two more mappings per live process and 4 GiB of address space
    /// each, so at most [`MAX_GUARDED_PROCESSES`] may live.
    Guarded,
}

impl MemoryLayout {
    /// Memory mappings one live guest costs: its stack's two, and under `Guarded` the
    /// two that its memory's open pages split off the reservation.
    pub fn mappings_per_guest(self) -> usize {
        match self {
            MemoryLayout::Dense => MAPPINGS_PER_GUEST,
            MemoryLayout::Guarded => MAPPINGS_PER_GUEST + 2,
        }
    }

    /// The name `shoal run --memories` takes and reports.
    pub fn name(self) -> &'static str {
        match self {
            MemoryLayout::Dense => "dense",
            MemoryLayout::Guarded => "guarded",
        }
    }
}
