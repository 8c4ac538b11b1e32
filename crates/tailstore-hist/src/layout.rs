//! HDR log-linear bucket layout: value (nanoseconds) <-> bucket index.
//!
//! The layout is the one `HdrHistogram` uses, with one difference in how the
//! lowest value is interpreted: here `lowest_ns` is the smallest value that is
//! tracked at the full relative precision, so the unit (the width of the
//! narrowest bucket) is chosen *below* it. With the defaults (3 significant
//! digits, lowest 1 µs) the unit is 1 ns: every value under 2 048 ns is exact,
//! and every larger value lands in a bucket whose width is at most 1/1024 of
//! its lower bound.

use crate::error::Error;

/// Bucket layout of every histogram in a store: significant digits and range.
///
/// Two histograms can be merged only when their layouts are equal; a store
/// uses one layout for every series and level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    digits: u8,
    lowest_ns: u64,
    highest_ns: u64,
    /// log2 of the unit: bucket 0 has width `1 << unit_mag`.
    unit_mag: u8,
    /// log2 of half the sub-buckets per bucket; `half = 1 << half_mag`.
    half_mag: u8,
    /// Number of HDR buckets (each a power-of-two range).
    bucket_count: u8,
    /// Number of counts slots (`(bucket_count + 1) << half_mag`).
    len: u32,
    /// Precomputed for `index`: `(2 << half_mag) - 1) << unit_mag`.
    sub_mask: u64,
    /// Precomputed for `index`: `64 - unit_mag - half_mag - 1`.
    lz_base: u32,
}

impl Default for Layout {
    /// 3 significant digits, 1 µs ..= 1 h.
    fn default() -> Self {
        // The bounds are valid constants, so construction cannot fail.
        Layout::new(3, 1_000, 3_600_000_000_000).expect("default layout bounds are valid")
    }
}

impl Layout {
    /// A layout with `digits` significant decimal digits (1 ..= 5) and the
    /// value range `lowest_ns ..= highest_ns`.
    ///
    /// `lowest_ns` must be at least 1 and `highest_ns` at least twice
    /// `lowest_ns`. Values above `highest_ns` count in its bucket (and as
    /// clamped; min, max and sum keep the raw values);
    /// values below `lowest_ns` are still recorded, at the unit resolution.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLayout`] when `digits` is not in `1 ..= 5`, `lowest_ns`
    /// is 0, or `highest_ns` is less than twice `lowest_ns`.
    pub fn new(digits: u8, lowest_ns: u64, highest_ns: u64) -> Result<Layout, Error> {
        if !(1..=5).contains(&digits) {
            return Err(Error::InvalidLayout { reason: "significant digits must be 1 ..= 5" });
        }
        if lowest_ns == 0 {
            return Err(Error::InvalidLayout { reason: "lowest value must be at least 1 ns" });
        }
        if highest_ns / 2 < lowest_ns {
            return Err(Error::InvalidLayout {
                reason: "highest value must be at least twice the lowest",
            });
        }
        let largest_single_unit = 2 * 10u64.pow(u32::from(digits));
        // ceil(log2(2 * 10^digits)): 5, 8, 11, 15, 18 for digits 1..=5.
        let sub_mag = 64 - (largest_single_unit - 1).leading_zeros();
        let half_mag = sub_mag - 1;
        // lowest_ns >= 1 (checked above), so ilog2 cannot panic.
        let lowest_mag = lowest_ns.ilog2();
        let unit_mag = lowest_mag.saturating_sub(half_mag);
        // Smallest b such that the top bucket reaches past highest_ns.
        let mut smallest_untrackable: u64 = 1u64 << (sub_mag + unit_mag);
        let mut bucket_count: u32 = 1;
        while smallest_untrackable <= highest_ns {
            if smallest_untrackable > u64::MAX / 2 {
                bucket_count += 1;
                break;
            }
            smallest_untrackable <<= 1;
            bucket_count += 1;
        }
        let len = (bucket_count + 1) << half_mag;
        #[expect(
            clippy::cast_possible_truncation,
            reason = "unit_mag and half_mag are bit positions of a u64 (< 64) and \
                      bucket_count is at most 65, so each fits u8"
        )]
        let layout = Layout {
            digits,
            lowest_ns,
            highest_ns,
            unit_mag: unit_mag as u8,
            half_mag: half_mag as u8,
            bucket_count: bucket_count as u8,
            len,
            sub_mask: ((1u64 << (half_mag + 1)) - 1) << unit_mag,
            lz_base: 64 - unit_mag - (half_mag + 1),
        };
        Ok(layout)
    }

    /// Significant decimal digits.
    #[must_use]
    pub fn digits(&self) -> u8 {
        self.digits
    }

    /// Smallest value tracked at full relative precision, in ns.
    #[must_use]
    pub fn lowest_ns(&self) -> u64 {
        self.lowest_ns
    }

    /// Largest value tracked; larger values are clamped to it.
    #[must_use]
    pub fn highest_ns(&self) -> u64 {
        self.highest_ns
    }

    /// Number of bucket slots; every index returned by [`Layout::index`] is below it.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Always false: a layout has at least one bucket. Present for API symmetry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// log2 of half the sub-bucket count (10 for 3 digits).
    #[must_use]
    pub fn half_mag(&self) -> u32 {
        u32::from(self.half_mag)
    }

    /// The bucket index of `value_ns`, after clamping it to `highest_ns`.
    ///
    /// Branch-free: a `min`, a `leading_zeros` and shifts.
    #[must_use]
    #[inline]
    pub fn index(&self, value_ns: u64) -> u32 {
        self.index_within(value_ns.min(self.highest_ns))
    }

    /// [`Layout::index`] of a value known to be at most the highest (no
    /// clamp); for a larger one the result is past the layout's buckets.
    #[expect(
        clippy::inline_always,
        reason = "computed once per recorded sample when the recorder folds it into its \
                  second (SecondAcc::add_latencies); forced inlining is part of the benchmarked \
                  record() cost"
    )]
    #[inline(always)]
    #[must_use]
    pub(crate) fn index_within(&self, v: u64) -> u32 {
        let unit_mag = u32::from(self.unit_mag);
        let half_mag = u32::from(self.half_mag);
        // bucket = position of the highest set bit above the sub-bucket range.
        let bucket = self.lz_base - (v | self.sub_mask).leading_zeros();
        #[expect(
            clippy::cast_possible_truncation,
            reason = "v >> (bucket + unit_mag) is below 2 << half_mag <= 2^18 (the sub-bucket range)"
        )]
        let sub = (v >> (bucket + unit_mag)) as u32;
        // For bucket 0, sub is in 0..2*half; for higher buckets in half..2*half,
        // so the sum never collides and stays below (bucket_count + 1) << half_mag.
        (bucket << half_mag) + sub
    }

    /// Lowest value that maps to `index` (`index < len`).
    #[must_use]
    #[inline]
    pub fn lowest_equivalent(&self, index: u32) -> u64 {
        let (bucket, sub) = self.split(index);
        u64::from(sub) << (bucket + u32::from(self.unit_mag))
    }

    /// Width of the bucket at `index`: values `lowest ..= lowest + width - 1` share it.
    #[must_use]
    #[inline]
    pub fn width(&self, index: u32) -> u64 {
        let (bucket, _) = self.split(index);
        1u64 << (bucket + u32::from(self.unit_mag))
    }

    /// The value reported for a bucket: the middle of its range (rounded down).
    ///
    /// The reported value differs from any value in the bucket by at most half
    /// the width, i.e. at most `1 / 2^(half_mag + 1)` relative (0.049 % at 3 digits).
    #[must_use]
    #[inline]
    pub fn median_equivalent(&self, index: u32) -> u64 {
        let lo = self.lowest_equivalent(index);
        lo.saturating_add((self.width(index) - 1) / 2)
    }

    fn split(&self, index: u32) -> (u32, u32) {
        let half_mag = u32::from(self.half_mag);
        let half = 1u32 << half_mag;
        let hi = index >> half_mag;
        if hi == 0 {
            (0, index)
        } else {
            (hi - 1, (index & (half - 1)) + half)
        }
    }

    /// Upper bound of the relative error of a reported value (half a bucket).
    #[must_use]
    pub fn relative_error(&self) -> f64 {
        1.0 / f64::from(1u32 << (u32::from(self.half_mag) + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout_shape() {
        let l = Layout::default();
        assert_eq!(l.unit_mag, 0);
        assert_eq!(l.half_mag, 10);
        assert!((l.index(3_600_000_000_000) as usize) < l.len());
        assert_eq!(l.index(u64::MAX), l.index(3_600_000_000_000));
        assert_eq!(l.len(), 33 * 1024);
    }

    #[test]
    fn small_values_are_exact() {
        let l = Layout::default();
        for v in 0..4096u64 {
            let i = l.index(v);
            if v < 2048 {
                assert_eq!(l.lowest_equivalent(i), v);
                assert_eq!(l.width(i), 1);
            }
            assert!(l.lowest_equivalent(i) <= v && v < l.lowest_equivalent(i) + l.width(i));
        }
    }

    #[test]
    #[expect(
        clippy::cast_precision_loss,
        reason = "test values stay below 3.6e12 < 2^52, so the f64 conversions are exact"
    )]
    fn index_is_monotone_and_contains_value() {
        for digits in 1..=5 {
            let l = Layout::new(digits, 1_000, 3_600_000_000_000).unwrap();
            let mut v = 0u64;
            let mut prev = 0;
            while v < l.highest_ns() {
                let i = l.index(v);
                assert!(i >= prev, "digits {digits} v {v}");
                assert!((i as usize) < l.len());
                let lo = l.lowest_equivalent(i);
                assert!(lo <= v && v - lo < l.width(i), "digits {digits} v {v}");
                let m = l.median_equivalent(i);
                if v >= l.lowest_ns() {
                    let rel = (m as f64 - v as f64).abs() / v as f64;
                    assert!(rel <= l.relative_error() * 1.0001, "digits {digits} v {v} rel {rel}");
                }
                prev = i;
                v = v + 1 + v / 97;
            }
        }
    }

    #[test]
    #[expect(
        clippy::cast_precision_loss,
        reason = "the bucket median is about 1e6 < 2^52, so the f64 conversion is exact"
    )]
    fn coarse_unit_when_lowest_is_large() {
        let l = Layout::new(2, 1_000_000, 10_000_000_000).unwrap();
        assert!(l.unit_mag > 0);
        let i = l.index(1_000_000);
        let rel = (l.median_equivalent(i) as f64 - 1e6).abs() / 1e6;
        assert!(rel <= l.relative_error());
    }

    #[test]
    fn rejects_bad_bounds() {
        assert!(Layout::new(0, 1, 10).is_err());
        assert!(Layout::new(6, 1, 10).is_err());
        assert!(Layout::new(3, 0, 10).is_err());
        assert!(Layout::new(3, 10, 19).is_err());
        assert!(Layout::new(5, 1, u64::MAX).is_ok());
    }
}
