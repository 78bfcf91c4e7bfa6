//! Linux's memory-mapping limit for workloads that keep many guests live at once.
//!
//! Every live guest costs [`shoal::MAPPINGS_PER_GUEST`] mappings, so a run of more guests
//! than `vm.max_map_count` admits (about 30,000 at the default 65,530) is refused by the
//! runtime with a typed error. Run as root, a workload that needs more raises the limit
//! for its own run, says so on stderr and in its report, and puts the old value back
//! when it ends (also on error).

use shoal::{MappingBudget, MemoryLayout};

const SYSCTL: &str = "/proc/sys/vm/max_map_count";

/// A raised limit, restored on drop.
pub(crate) struct RaisedMapCount {
    /// The limit before.
    pub from: usize,
    /// The limit during the run.
    pub to: usize,
}

impl Drop for RaisedMapCount {
    fn drop(&mut self) {
        match std::fs::write(SYSCTL, self.from.to_string()) {
            Ok(()) => eprintln!("shoal: restored vm.max_map_count to {}", self.from),
            Err(e) => eprintln!(
                "shoal: could not restore vm.max_map_count to {} ({e}); it is still {}",
                self.from, self.to
            ),
        }
    }
}

/// Makes room for `guests` live guests with dense memories (what a runtime of that many
/// processes has): `None` if the limit already admits them or cannot be raised (not
/// root: the runtime's own error then says what to run), else the raised limit,
/// restored when the result is dropped.
pub(crate) fn ensure_room_for(guests: usize) -> Option<RaisedMapCount> {
    let budget = MappingBudget::of_host();
    let layout = MemoryLayout::Dense;
    if budget.guests(layout) >= guests {
        return None;
    }
    let to = budget.max_map_count_for(guests, layout);
    match std::fs::write(SYSCTL, to.to_string()) {
        Ok(()) => {
            eprintln!(
                "shoal: raised vm.max_map_count from {} to {to} for {guests} live processes \
                 ({} mappings each); it is restored when the run ends",
                budget.max_map_count,
                layout.mappings_per_guest()
            );
            Some(RaisedMapCount {
                from: budget.max_map_count,
                to,
            })
        }
        Err(_) => None,
    }
}
