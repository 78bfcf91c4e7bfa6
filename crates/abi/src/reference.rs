//! The reference range (docs/ABI.md, "References").
//!
//! Monitor references and reply aliases are unique `u64`s in `[2^62, 2^63)`: positive as
//! the ABI's `i64`, so never mistaken for a negative status, and in a range of tags that
//! applications are told not to use for data (a data message with a reference tag is
//! delivered only to an open alias). The host draws them; both sides check the range.

/// The first reference: bit 62. References and reserved tags are `[2^62, 2^63)`.
pub const REFERENCE_BASE: u64 = 1 << 62;

/// Whether a tag lies in the reference range `[2^62, 2^63)`: bit 62 set, bit 63 clear.
#[inline]
pub const fn is_reference(tag: u64) -> bool {
    tag & (REFERENCE_BASE | (1 << 63)) == REFERENCE_BASE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_reference_accepts_exactly_two_to_the_62_up_to_two_to_the_63() {
        let end = 1u64 << 63;
        for tag in [
            REFERENCE_BASE,
            REFERENCE_BASE + 1,
            end - 1,
            REFERENCE_BASE | 12345,
        ] {
            assert!(is_reference(tag), "{tag:#x}");
        }
        for tag in [
            0,
            1,
            REFERENCE_BASE - 1,
            end,
            end + 1,
            end | REFERENCE_BASE,
            u64::MAX,
        ] {
            assert!(!is_reference(tag), "{tag:#x}");
        }
    }

    #[test]
    fn is_reference_agrees_with_the_range_across_every_bit() {
        for bit in 0..64 {
            for tag in [1u64 << bit, (1u64 << bit) | REFERENCE_BASE, !(1u64 << bit)] {
                assert_eq!(
                    is_reference(tag),
                    (REFERENCE_BASE..1 << 63).contains(&tag),
                    "{tag:#x}"
                );
            }
        }
    }

    #[test]
    fn a_reference_is_positive_as_an_i64() {
        assert!(REFERENCE_BASE as i64 > 0);
        assert!(((1u64 << 63) - 1) as i64 > 0);
    }
}
