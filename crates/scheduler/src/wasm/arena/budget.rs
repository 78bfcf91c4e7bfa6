//! How many live guests the kernel's mapping limit allows (module docs, "The mapping
//! budget").

use crate::error::ConfigError;

/// Memory mappings one live guest can cost: its stack slot's guard page and the stack
/// above it (its memory slot costs none, see the module docs).
pub const MAPPINGS_PER_GUEST: usize = 2;

/// Mappings left for the rest of the host: thread stacks, malloc arenas, compiled code,
/// shared libraries and whatever the embedding application maps later. A quiet host
/// process has a few hundred; this leaves room for several thousand more.
pub const MAPPING_HEADROOM: usize = 4_096;

/// Linux's default `vm.max_map_count`, used where it cannot be read.
const DEFAULT_MAX_MAP_COUNT: usize = 65_530;

/// How many live guests the kernel's mapping limit allows.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MappingBudget {
    /// `vm.max_map_count`.
    pub max_map_count: usize,
    /// Mappings the host had when the runtime was built.
    pub in_use: usize,
    /// Guests that may be live at once.
    pub guests: usize,
}

impl MappingBudget {
    /// The budget on this host now: `(max_map_count - in_use - MAPPING_HEADROOM) / 2`.
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
        let free = max_map_count.saturating_sub(in_use + MAPPING_HEADROOM);
        MappingBudget {
            max_map_count,
            in_use,
            guests: free / MAPPINGS_PER_GUEST,
        }
    }

    /// The `vm.max_map_count` that would let `guests` be live on this host.
    pub fn max_map_count_for(&self, guests: usize) -> usize {
        guests * MAPPINGS_PER_GUEST + self.in_use + MAPPING_HEADROOM
    }

    /// Live guests a runtime of `capacity` processes may have: the capacity, or fewer
    /// if the host's budget, or the runtime's own `mapping_budget` setting (in mappings),
    /// admits fewer. A setting above what the host allows is refused by name.
    pub(crate) fn guest_limit(
        &self,
        setting: Option<usize>,
        capacity: usize,
    ) -> Result<usize, ConfigError> {
        let limit = match setting {
            Some(mappings) if mappings / MAPPINGS_PER_GUEST > self.guests => {
                return Err(ConfigError::invalid(
                    "mapping_budget",
                    format!(
                        "{mappings} mappings asked for, but vm.max_map_count = {} leaves {} for guests on this host",
                        self.max_map_count,
                        self.guests * MAPPINGS_PER_GUEST
                    ),
                ));
            }
            Some(mappings) => mappings / MAPPINGS_PER_GUEST,
            None => self.guests,
        }
        .min(capacity);
        if limit < capacity {
            tracing::warn!(
                capacity,
                guest_limit = limit,
                max_map_count = self.max_map_count,
                "the memory-mapping budget admits fewer live wasm processes than the capacity"
            );
        }
        Ok(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_leaves_headroom_and_counts_two_mappings_per_guest() {
        let budget = MappingBudget::from_counts(65_530, 400);
        assert_eq!(budget.guests, (65_530 - 400 - MAPPING_HEADROOM) / 2);
        assert!(budget.max_map_count_for(budget.guests) <= 65_530);
        assert!(budget.max_map_count_for(budget.guests + 1) > 65_530);
        assert_eq!(MappingBudget::from_counts(1_000, 400).guests, 0);
    }

    #[test]
    fn a_mapping_setting_lowers_the_limit_and_one_above_the_host_is_refused() {
        let budget = MappingBudget::from_counts(65_530, 400);
        assert_eq!(budget.guest_limit(None, 1_000).unwrap(), 1_000);
        assert_eq!(budget.guest_limit(Some(200), 1_000).unwrap(), 100);
        assert!(matches!(
            budget.guest_limit(Some(65_530), 1_000),
            Err(ConfigError::Invalid {
                setting: "mapping_budget",
                ..
            })
        ));
    }
}
