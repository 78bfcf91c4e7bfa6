//! The schedule hash of deterministic mode: FNV-1a over every scheduling decision,
//! `(pid, quantum number, fuel consumed after it)`, in the order the worker made them.
//! Two runs of the same program with the same inputs give the same hash; any change in
//! which process ran when, or for how much fuel, changes it.

/// FNV-1a 64-bit offset basis (Fowler–Noll–Vo).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A running FNV-1a hash of scheduling decisions.
#[derive(Clone, Debug)]
pub(crate) struct ScheduleHash {
    state: u64,
    decisions: u64,
}

impl Default for ScheduleHash {
    fn default() -> Self {
        ScheduleHash {
            state: FNV_OFFSET,
            decisions: 0,
        }
    }
}

impl ScheduleHash {
    /// Adds one quantum: which process, its how-manyth quantum, and its fuel after it.
    pub(crate) fn record(&mut self, pid: u64, quantum: u64, fuel: u64) {
        for word in [pid, quantum, fuel] {
            for byte in word.to_le_bytes() {
                self.state ^= u64::from(byte);
                self.state = self.state.wrapping_mul(FNV_PRIME);
            }
        }
        self.decisions += 1;
    }

    pub(crate) fn value(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_decisions_give_the_same_hash_and_order_matters() {
        let mut a = ScheduleHash::default();
        let mut b = ScheduleHash::default();
        let mut c = ScheduleHash::default();
        a.record(1, 1, 100);
        a.record(2, 1, 100);
        b.record(1, 1, 100);
        b.record(2, 1, 100);
        c.record(2, 1, 100);
        c.record(1, 1, 100);
        assert_eq!(a.value(), b.value());
        assert_ne!(a.value(), c.value());
        assert_eq!(a.decisions, 2);
    }

    #[test]
    fn fnv1a_of_nothing_is_the_offset_basis() {
        assert_eq!(ScheduleHash::default().value(), 0xcbf29ce484222325);
    }
}
