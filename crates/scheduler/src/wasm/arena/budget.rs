//! How many live guests the kernel's mapping limit allows (module docs, "The mapping
//! budget").

use super::layout::{GUARDED_GUARD, GUARDED_RESERVATION, MAX_GUARDED_PROCESSES, MemoryLayout};
use crate::error::ConfigError;

/// Mappings left for the rest of the host: thread stacks, malloc arenas, compiled code,
/// shared libraries and whatever the embedding application maps later. A quiet host
/// process has a few hundred; this leaves room for several thousand more.
pub const MAPPING_HEADROOM: usize = 4_096;

/// Linux's default `vm.max_map_count`, used where it cannot be read.
const DEFAULT_MAX_MAP_COUNT: usize = 65_530;

/// How many mappings the kernel's limit leaves for guests.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MappingBudget {
    /// `vm.max_map_count`.
    pub max_map_count: usize,
    /// Mappings the host had when the runtime was built.
    pub in_use: usize,
    /// Mappings left for guests: `max_map_count - in_use - MAPPING_HEADROOM`.
    pub free: usize,
}

impl MappingBudget {
    /// The budget on this host now.
    pub fn of_host() -> MappingBudget {
        let max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(DEFAULT_MAX_MAP_COUNT);
        let in_use = std::fs::read("/proc/self/maps")
            .map(|maps| maps.iter().filter(|&&b| b == b'\n').count())
            .unwrap_or(0);
        Self::from_counts(max_map_count, in_use)
    }

    pub(crate) fn from_counts(max_map_count: usize, in_use: usize) -> MappingBudget {
        MappingBudget {
            max_map_count,
            in_use,
            free: max_map_count.saturating_sub(in_use + MAPPING_HEADROOM),
        }
    }

    /// Guests that may be live at once with memories laid out as `layout`.
    pub fn guests(&self, layout: MemoryLayout) -> usize {
        self.free / layout.mappings_per_guest()
    }

    /// The `vm.max_map_count` that would let `guests` be live on this host with memories
    /// laid out as `layout`.
    pub fn max_map_count_for(&self, guests: usize, layout: MemoryLayout) -> usize {
        guests * layout.mappings_per_guest() + self.in_use + MAPPING_HEADROOM
    }

    /// Live guests a runtime of `capacity` processes may have with memories laid out as
    /// `layout`: the capacity, or fewer if the host's budget, or the runtime's own
    /// `mapping_budget` setting (in mappings), admits fewer. A setting above what the
    /// host allows is refused by name.
    pub(crate) fn guest_limit(
        &self,
        setting: Option<usize>,
        capacity: usize,
        layout: MemoryLayout,
    ) -> Result<usize, ConfigError> {
        let per_guest = layout.mappings_per_guest();
        let limit = match setting {
            Some(mappings) if mappings > self.free => {
                return Err(ConfigError::invalid(
                    "mapping_budget",
                    format!(
                        "{mappings} mappings asked for, but vm.max_map_count = {} leaves {} for guests on this host",
                        self.max_map_count, self.free
                    ),
                ));
            }
            Some(mappings) => mappings / per_guest,
            None => self.free / per_guest,
        };
        Ok(limit.min(capacity))
    }

    /// The layout and live-guest limit for a runtime of `capacity` processes: `asked`, or
    /// if unset the guarded layout where it admits the whole capacity, else the dense.
    /// An explicit `Guarded` past [`MAX_GUARDED_PROCESSES`] is refused by name.
    pub(crate) fn choose(
        &self,
        asked: Option<MemoryLayout>,
        mapping_setting: Option<usize>,
        capacity: usize,
    ) -> Result<(MemoryLayout, usize), ConfigError> {
        let layout = match asked {
            Some(layout) => layout,
            None if capacity <= MAX_GUARDED_PROCESSES
                && self
                    .guest_limit(mapping_setting, capacity, MemoryLayout::Guarded)
                    .is_ok_and(|limit| limit == capacity) =>
            {
                MemoryLayout::Guarded
            }
            None => MemoryLayout::Dense,
        };
        let limit = self.guest_limit(mapping_setting, capacity, layout)?;
        if layout == MemoryLayout::Guarded && limit > MAX_GUARDED_PROCESSES {
            return Err(ConfigError::invalid(
                "memory_layout",
                format!(
                    "guarded memories reserve {} GiB of address space each, so at most {MAX_GUARDED_PROCESSES} may live, and the capacity is {capacity}: lower the capacity or use MemoryLayout::Dense",
                    (GUARDED_RESERVATION + GUARDED_GUARD) >> 30
                ),
            ));
        }
        if limit < capacity {
            tracing::warn!(
                capacity,
                guest_limit = limit,
                max_map_count = self.max_map_count,
                layout = layout.name(),
                "the memory-mapping budget admits fewer live wasm processes than the capacity"
            );
        }
        Ok((layout, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_leaves_headroom_and_counts_mappings_per_guest_by_layout() {
        let budget = MappingBudget::from_counts(65_530, 400);
        let dense = budget.guests(MemoryLayout::Dense);
        assert_eq!(dense, (65_530 - 400 - MAPPING_HEADROOM) / 2);
        assert_eq!(budget.guests(MemoryLayout::Guarded), dense / 2);
        assert!(budget.max_map_count_for(dense, MemoryLayout::Dense) <= 65_530);
        assert!(budget.max_map_count_for(dense + 1, MemoryLayout::Dense) > 65_530);
        assert_eq!(
            MappingBudget::from_counts(1_000, 400).guests(MemoryLayout::Dense),
            0
        );
    }

    #[test]
    fn a_mapping_setting_lowers_the_limit_and_one_above_the_host_is_refused() {
        let budget = MappingBudget::from_counts(65_530, 400);
        let limit = |setting| budget.guest_limit(setting, 1_000, MemoryLayout::Dense);
        assert_eq!(limit(None).unwrap(), 1_000);
        assert_eq!(limit(Some(200)).unwrap(), 100);
        assert_eq!(
            budget
                .guest_limit(Some(200), 1_000, MemoryLayout::Guarded)
                .unwrap(),
            50
        );
        assert!(matches!(
            limit(Some(65_530)),
            Err(ConfigError::Invalid {
                setting: "mapping_budget",
                ..
            })
        ));
    }

    #[test]
    fn an_unset_layout_is_guarded_up_to_its_process_limit_and_dense_past_it() {
        let host = MappingBudget::from_counts(65_530, 400);
        let choose = |capacity| host.choose(None, None, capacity).unwrap();
        assert_eq!(choose(100), (MemoryLayout::Guarded, 100));
        assert_eq!(
            choose(MAX_GUARDED_PROCESSES),
            (MemoryLayout::Guarded, MAX_GUARDED_PROCESSES)
        );
        assert_eq!(
            choose(MAX_GUARDED_PROCESSES + 1),
            (MemoryLayout::Dense, MAX_GUARDED_PROCESSES + 1)
        );
        assert_eq!(MAX_GUARDED_PROCESSES, 4_064);
    }

    #[test]
    fn an_unset_layout_is_dense_where_the_mappings_admit_too_few_guarded_processes() {
        // Room for 1,000 guests at two mappings each, 500 at four.
        let host = MappingBudget::from_counts(2_000 + 400 + MAPPING_HEADROOM, 400);
        assert_eq!(
            host.choose(None, None, 800).unwrap(),
            (MemoryLayout::Dense, 800)
        );
        assert_eq!(
            host.choose(None, None, 500).unwrap(),
            (MemoryLayout::Guarded, 500)
        );
    }

    #[test]
    fn guarded_memories_past_their_process_limit_are_refused_by_name() {
        let host = MappingBudget::from_counts(65_530, 400);
        assert!(matches!(
            host.choose(Some(MemoryLayout::Guarded), None, 10_000),
            Err(ConfigError::Invalid {
                setting: "memory_layout",
                ..
            })
        ));
        assert_eq!(
            host.choose(Some(MemoryLayout::Dense), None, 100).unwrap(),
            (MemoryLayout::Dense, 100)
        );
    }
}
