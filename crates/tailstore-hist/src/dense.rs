//! The dense accumulator a query merges intervals into, and the quantile scan.

use crate::layout::Layout;
use crate::sparse::{Interval, SparseHist};
use crate::status::{ErrorSet, StatusCounts, STATUS_CODES};

/// The nearest rank of quantile `q` among `n` samples: `max(1, ceil(q * n))`.
///
/// `q * n` is computed in `f64`; a product within a relative `1e-12` above an
/// integer is taken as that integer, so that e.g. `0.07 * 100` (which is
/// `7.000000000000001` in binary floating point) has rank 7, not 8.
/// `q` must be in `[0, 1]` (callers validate it); `n == 0` gives 0.
#[must_use]
pub fn nearest_rank(q: f64, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    #[expect(
        clippy::cast_precision_loss,
        reason = "the rank is defined on the f64 product q * n; n is exact up to 2^53 \
                  samples, and above that the rank is within one f64 ulp"
    )]
    let x = q * n as f64;
    let k = (x - x * 1e-12).ceil();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "k is an integer in [0, n] because q is in [0, 1]; the float-to-int cast \
                  saturates anyway, and the clamp bounds the result"
    )]
    let rank = k as u64;
    rank.clamp(1, n)
}

/// A dense, mergeable accumulator over a layout: the workhorse of queries.
///
/// Counts live in one contiguous `Vec<u64>`; `lo..=hi` bounds the slots that
/// may be non-zero, so clearing and scanning touch only that range.
#[derive(Clone)]
pub struct Accumulator {
    layout: Layout,
    /// `counts[k]` is bucket `base + k`: the whole layout (`base` 0) in an
    /// accumulator that is added to, only the used range in a snapshot.
    counts: Vec<u64>,
    base: usize,
    lo: usize,
    hi: usize,
    total: u64,
    status: Box<[u64; STATUS_CODES]>,
    min_ns: u64,
    max_ns: u64,
    sum_ns: u128,
    clamped: u64,
    invalid_status: u64,
}

impl std::fmt::Debug for Accumulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accumulator")
            .field("total", &self.total)
            .field("requests", &self.requests())
            .field("min_ns", &self.min_ns)
            .field("max_ns", &self.max_ns)
            .finish_non_exhaustive()
    }
}

impl Accumulator {
    /// An empty accumulator for `layout`.
    #[must_use]
    pub fn new(layout: Layout) -> Accumulator {
        Accumulator { counts: vec![0; layout.len()], ..Accumulator::empty_compact(layout) }
    }

    /// An empty accumulator that allocates its counts on the first add
    /// (a placeholder, or an answer with nothing in it).
    #[must_use]
    pub fn empty_compact(layout: Layout) -> Accumulator {
        Accumulator {
            layout,
            counts: Vec::new(),
            base: 0,
            lo: usize::MAX,
            hi: 0,
            total: 0,
            status: Box::new([0; STATUS_CODES]),
            min_ns: u64::MAX,
            max_ns: 0,
            sum_ns: 0,
            clamped: 0,
            invalid_status: 0,
        }
    }

    /// True when nothing was added (no latency, no status, no counter).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.total == 0 && self.requests() == 0 && self.clamped == 0 && self.invalid_status == 0
    }

    /// The layout of the counts.
    #[must_use]
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Makes a compact snapshot whole again before it is added to.
    fn full(&mut self) {
        if self.base == 0 && self.counts.len() == self.layout.len() {
            return;
        }
        let mut counts = vec![0; self.layout.len()];
        counts[self.base..self.base + self.counts.len()].copy_from_slice(&self.counts);
        self.counts = counts;
        self.base = 0;
    }

    /// The counts of buckets `lo ..= hi` (empty when there are none).
    fn used(&self) -> &[u64] {
        if self.lo > self.hi {
            return &[];
        }
        &self.counts[self.lo - self.base..=self.hi - self.base]
    }

    /// Resets to empty, touching only the slots that were used.
    pub fn clear(&mut self) {
        self.full();
        if self.lo <= self.hi {
            self.counts[self.lo..=self.hi].fill(0);
        }
        self.lo = usize::MAX;
        self.hi = 0;
        self.total = 0;
        self.status.fill(0);
        self.min_ns = u64::MAX;
        self.max_ns = 0;
        self.sum_ns = 0;
        self.clamped = 0;
        self.invalid_status = 0;
    }

    /// Adds `count` latency samples in bucket `index`.
    ///
    /// Indices past the layout are ignored (they can only come from a
    /// histogram of another layout, which callers reject earlier).
    #[inline]
    pub fn add_bucket(&mut self, index: u32, count: u64) {
        self.full();
        let i = index as usize;
        if let Some(slot) = self.counts.get_mut(i) {
            *slot = slot.saturating_add(count);
            self.total = self.total.saturating_add(count);
            self.lo = self.lo.min(i);
            self.hi = self.hi.max(i);
        }
    }

    /// Adds a sparse histogram's buckets: one vectorized slice add per run.
    pub fn add_hist(&mut self, hist: &SparseHist) {
        let Some((first, last)) = hist.index_range() else { return };
        self.full();
        if last as usize >= self.counts.len() {
            // Another layout's histogram: keep what fits, bucket by bucket.
            for (i, c) in hist.iter() {
                self.add_bucket(i, c);
            }
            return;
        }
        hist.add_into(&mut self.counts);
        self.total = self.total.saturating_add(hist.total());
        self.lo = self.lo.min(first as usize);
        self.hi = self.hi.max(last as usize);
    }

    /// Adds requests with status `code`.
    pub fn add_status(&mut self, code: u16, count: u64) {
        if let Some(s) = self.status.get_mut(usize::from(code)) {
            *s = s.saturating_add(count);
        }
    }

    /// Folds in the exact extremes and sum of some samples.
    pub fn add_extremes(&mut self, min_ns: u64, max_ns: u64, sum_ns: u128) {
        self.min_ns = self.min_ns.min(min_ns);
        self.max_ns = self.max_ns.max(max_ns);
        self.sum_ns = self.sum_ns.saturating_add(sum_ns);
    }

    /// Adds clamping counters.
    pub fn add_clamped(&mut self, clamped: u64, invalid_status: u64) {
        self.clamped = self.clamped.saturating_add(clamped);
        self.invalid_status = self.invalid_status.saturating_add(invalid_status);
    }

    /// Adds everything an interval holds.
    pub fn add_interval(&mut self, iv: &Interval) {
        self.add_hist(&iv.hist);
        for (c, n) in iv.status.iter() {
            self.add_status(c, n);
        }
        self.add_extremes(iv.min_ns, iv.max_ns, iv.sum_ns);
        self.add_clamped(iv.clamped, iv.invalid_status);
    }

    /// Adds another accumulator of the same layout.
    pub fn add_accumulator(&mut self, other: &Accumulator) {
        self.full();
        if other.lo <= other.hi && other.hi < self.counts.len() {
            // Contiguous slices of equal length: this loop auto-vectorizes.
            let (dst, src) = (&mut self.counts[other.lo..=other.hi], other.used());
            for (d, s) in dst.iter_mut().zip(src) {
                *d = d.saturating_add(*s);
            }
            self.lo = self.lo.min(other.lo);
            self.hi = self.hi.max(other.hi);
            self.total = self.total.saturating_add(other.total);
        }
        for (d, s) in self.status.iter_mut().zip(other.status.iter()) {
            *d = d.saturating_add(*s);
        }
        self.add_extremes(other.min_ns, other.max_ns, other.sum_ns);
        self.add_clamped(other.clamped, other.invalid_status);
    }

    /// Takes away an interval added earlier (a sliding window's leaving
    /// piece): counts, statuses, sum and clamping counters. The extremes
    /// cannot be taken away; the caller tracks them and sets them with
    /// [`Accumulator::set_extremes`]. Saturates at zero.
    pub fn sub_interval(&mut self, iv: &Interval) {
        self.full();
        let mut removed = 0u64;
        for (i, c) in iv.hist.iter() {
            if let Some(slot) = self.counts.get_mut(i as usize) {
                let c = c.min(*slot);
                *slot -= c;
                removed += c;
            }
        }
        self.total = self.total.saturating_sub(removed);
        for (code, n) in iv.status.iter() {
            if let Some(s) = self.status.get_mut(usize::from(code)) {
                *s = s.saturating_sub(n);
            }
        }
        self.sum_ns = self.sum_ns.saturating_sub(iv.sum_ns);
        self.clamped = self.clamped.saturating_sub(iv.clamped);
        self.invalid_status = self.invalid_status.saturating_sub(iv.invalid_status);
        if self.total == 0 {
            self.min_ns = u64::MAX;
            self.max_ns = 0;
            if self.lo <= self.hi {
                self.counts[self.lo..=self.hi].fill(0);
            }
            self.lo = usize::MAX;
            self.hi = 0;
        } else if let Some((first, last)) = iv.hist.index_range() {
            // Keep the used range tight (a sliding window's range would only
            // grow otherwise): only the ends this piece may have emptied.
            if first as usize == self.lo || last as usize == self.hi {
                while self.lo < self.hi && self.counts[self.lo] == 0 {
                    self.lo += 1;
                }
                while self.hi > self.lo && self.counts[self.hi] == 0 {
                    self.hi -= 1;
                }
            }
        }
    }

    /// Replaces the exact extremes (after [`Accumulator::sub_interval`]).
    pub fn set_extremes(&mut self, min_ns: u64, max_ns: u64) {
        self.min_ns = min_ns;
        self.max_ns = max_ns;
    }

    /// A compact copy: only the non-zero range of the counts is kept (a
    /// small allocation instead of the whole layout), for answers that are
    /// read, not added to (adding to it makes it whole again first).
    #[must_use]
    pub fn snapshot(&self) -> Accumulator {
        let used = self.used();
        let (counts, base, lo, hi) =
            match (used.iter().position(|c| *c > 0), used.iter().rposition(|c| *c > 0)) {
                (Some(a), Some(b)) => (used[a..=b].to_vec(), self.lo + a, self.lo + a, self.lo + b),
                _ => (Vec::new(), 0, usize::MAX, 0),
            };
        Accumulator {
            layout: self.layout,
            counts,
            base,
            lo,
            hi,
            total: self.total,
            status: self.status.clone(),
            min_ns: self.min_ns,
            max_ns: self.max_ns,
            sum_ns: self.sum_ns,
            clamped: self.clamped,
            invalid_status: self.invalid_status,
        }
    }

    /// Number of latency samples.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Number of requests (all statuses, with or without latency).
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.status.iter().fold(0, |a, b| a.saturating_add(*b))
    }

    /// The per-status counts.
    #[must_use]
    pub fn status_counts(&self) -> StatusCounts {
        // STATUS_CODES (1000) slots, so zipping with the u16 codes covers them all.
        StatusCounts::from_pairs(
            (0u16..).zip(self.status.iter()).filter(|p| *p.1 > 0).map(|(c, n)| (c, *n)),
        )
    }

    /// Requests whose status is in `errors`, without building the
    /// per-status breakdown ([`Accumulator::status_counts`] allocates).
    #[must_use]
    pub fn errors(&self, errors: &ErrorSet) -> u64 {
        // Only the set's codes (about 110 of the 1000 slots by default).
        errors.codes().filter_map(|c| self.status.get(c)).fold(0u64, |a, n| a.saturating_add(*n))
    }

    /// Requests with status `code`.
    #[must_use]
    pub fn status(&self, code: u16) -> u64 {
        self.status.get(usize::from(code)).copied().unwrap_or(0)
    }

    /// Exact minimum latency, if any sample.
    #[must_use]
    pub fn min_ns(&self) -> Option<u64> {
        (self.total > 0).then_some(self.min_ns)
    }

    /// Exact maximum latency, if any sample (the raw value, also above the
    /// layout's range).
    #[must_use]
    pub fn max_ns(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max_ns)
    }

    /// Exact sum of latencies, ns.
    #[must_use]
    pub fn sum_ns(&self) -> u128 {
        self.sum_ns
    }

    /// Samples clamped to the layout's highest value.
    #[must_use]
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// Status values >= 1000 recorded as 0.
    #[must_use]
    pub fn invalid_status(&self) -> u64 {
        self.invalid_status
    }

    /// Exact mean latency, if any sample.
    #[must_use]
    #[expect(
        clippy::cast_precision_loss,
        reason = "the mean is an f64 by definition; sum and count round to f64 (relative \
                  error 2^-53 each) only beyond 2^53 ns or 2^53 samples"
    )]
    pub fn mean_ns(&self) -> Option<f64> {
        (self.total > 0).then(|| self.sum_ns as f64 / self.total as f64)
    }

    /// Latency samples at most `value_ns`: the good requests of a latency
    /// SLO ("latency <= 500 ms"), from the histogram, with no bucket needed
    /// at the threshold.
    ///
    /// Error bound: every sample `<= value_ns` is counted; samples that share
    /// `value_ns`'s bucket but lie above it are counted too, so the answer
    /// is at most the number of samples `<= value_ns + width(bucket)`, where
    /// the width is below `2 * Layout::relative_error() * value_ns` (1/1024
    /// relative, 0.098 %, at 3 digits) above `lowest_ns`, and one unit below
    /// it. Exact when `value_ns` is below the exact minimum (0) or at or above
    /// the exact maximum (all). Above `highest_ns` the clamped samples share
    /// the top bucket and count as at most `value_ns`.
    #[must_use]
    pub fn count_at_most(&self, value_ns: u64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        // The exact extremes answer the ends (when they are consistent: a
        // histogram added without them falls through to the buckets).
        if self.min_ns <= self.max_ns {
            if value_ns < self.min_ns {
                return 0;
            }
            if value_ns >= self.max_ns {
                return self.total;
            }
        }
        let idx = self.layout.index(value_ns) as usize;
        if self.lo > self.hi || idx < self.lo {
            return 0;
        }
        // Buckets lo ..= idx (`used` starts at lo).
        self.used()
            .iter()
            .take(idx - self.lo + 1)
            .fold(0u64, |a, c| a.saturating_add(*c))
            .min(self.total)
    }

    /// The value at nearest rank `ceil(q * N)` (see [`nearest_rank`]), as the
    /// middle of its bucket clamped into the exact `[min, max]`; the first
    /// and last ranks (`q = 0`, `q = 1`, and any `q` that reaches them) are
    /// the exact minimum and maximum.
    ///
    /// `None` when there is no sample or `q` is not in `[0, 1]`.
    #[must_use]
    pub fn quantile_ns(&self, q: f64) -> Option<u64> {
        let mut out = [None];
        self.quantiles_ns(&[q], &mut out);
        out[0]
    }

    /// Several quantiles in one scan; `out[i]` answers `qs[i]`.
    pub fn quantiles_ns(&self, qs: &[f64], out: &mut [Option<u64>]) {
        #[expect(
            clippy::needless_for_each,
            reason = "quantile scan is a benchmarked hot path, kept as written; the closure \
                      is equivalent to a `for` loop (or `fill(None)`)"
        )]
        out.iter_mut().for_each(|o| *o = None);
        if self.total == 0 || self.lo > self.hi {
            return;
        }
        let mut order: Vec<(u64, usize)> = qs
            .iter()
            .enumerate()
            .filter(|(i, q)| (0.0..=1.0).contains(*q) && *i < out.len())
            .map(|(i, q)| (nearest_rank(*q, self.total), i))
            .collect();
        order.sort_unstable();
        let counts = self.used();
        let mut cum: u64 = 0;
        let mut pos = 0usize; // offset into `counts`
        for (rank, slot) in order {
            // Skip whole 32-slot chunks whose sum keeps us below the rank; the
            // chunk sum is a contiguous reduction that auto-vectorizes.
            while pos + 32 <= counts.len() {
                // Wrapping, not checked: a plain add vectorizes, and only
                // hostile (saturated) counts could wrap; they then fall
                // through to the exact slot-by-slot walk below.
                let chunk = counts[pos..pos + 32].iter().fold(0u64, |a, b| a.wrapping_add(*b));
                match cum.checked_add(chunk) {
                    Some(c) if c < rank => cum = c,
                    _ => break,
                }
                pos += 32;
            }
            while pos < counts.len() && cum.saturating_add(counts[pos]) < rank {
                cum += counts[pos];
                pos += 1;
            }
            // cum + counts[pos] >= rank here because rank <= total.
            #[expect(
                clippy::cast_possible_truncation,
                reason = "lo + pos is a bucket index below layout.len(), which is a u32"
            )]
            let idx = (self.lo + pos.min(counts.len() - 1)) as u32;
            let mid = self.layout.median_equivalent(idx);
            // Extremes come with the counts from every recorder path; a
            // histogram added without them (or decoded with inconsistent
            // ones) must not make `clamp` panic.
            // The first and last ranks are the exact extremes themselves
            // (also above the layout's range, where the bucket is clamped).
            let v = if self.min_ns > self.max_ns {
                mid
            } else if rank == self.total {
                self.max_ns
            } else if rank == 1 {
                self.min_ns
            } else {
                mid.clamp(self.min_ns, self.max_ns)
            };
            out[slot] = Some(v);
        }
    }

    /// The non-empty buckets, `(index, count)` ascending: what
    /// [`Accumulator::to_sparse`] holds, without allocating.
    pub fn nonzero(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "lo + i is a bucket index below layout.len(), which is a u32"
        )]
        self.used()
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| ((self.lo + i) as u32, *c))
    }

    /// The non-empty buckets as a sparse histogram.
    #[must_use]
    #[expect(
        clippy::missing_panics_doc,
        reason = "the only panic is the `expect` on an internal invariant (a dense scan \
                  yields ascending indices), unreachable from any input"
    )]
    pub fn to_sparse(&self) -> SparseHist {
        if self.lo > self.hi {
            return SparseHist::default();
        }
        #[expect(
            clippy::cast_possible_truncation,
            reason = "lo + i is a bucket index below layout.len(), which is a u32"
        )]
        let pairs = self.used().iter().enumerate().map(|(i, c)| ((self.lo + i) as u32, *c));
        // Ascending by construction.
        SparseHist::from_sorted(pairs).expect("dense scan is ascending")
    }

    /// Seals the contents into an [`Interval`] for `[start_s, start_s + span_s)`.
    #[must_use]
    pub fn to_interval(&self, start_s: u64, span_s: u32) -> Interval {
        Interval {
            start_s,
            span_s,
            hist: self.to_sparse(),
            status: self.status_counts(),
            min_ns: self.min_ns,
            max_ns: self.max_ns,
            sum_ns: self.sum_ns,
            clamped: self.clamped,
            invalid_status: self.invalid_status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `nonzero` lists what `to_sparse` holds, for a live accumulator, a
    /// compact snapshot, one after a subtraction left zeros inside its
    /// range, and an empty one.
    #[test]
    fn nonzero_lists_the_sparse_buckets() {
        let l = Layout::default();
        let mut a = Accumulator::new(l);
        let check = |a: &Accumulator| {
            let want: Vec<(u32, u64)> = a.to_sparse().iter().collect();
            assert_eq!(a.nonzero().collect::<Vec<_>>(), want);
        };
        check(&a);
        for i in 0..2_000u64 {
            a.add_bucket(l.index(1_000 + (i * i * 7_919) % 2_000_000_000), 1 + i % 3);
        }
        check(&a);
        check(&a.snapshot());
        let mut iv = Interval::empty(0, 1);
        iv.hist = SparseHist::from_sorted([(l.index(1_000 + 7_919), 2)]).unwrap();
        a.sub_interval(&iv);
        check(&a);
        assert!(a.nonzero().all(|(_, c)| c > 0));
    }

    /// `count_at_most` against sorted samples: never fewer than the samples
    /// at most x, never more than those at most x plus x's bucket width, and
    /// exact at and beyond the extremes (also for a compact snapshot).
    #[test]
    fn count_at_most_is_within_one_bucket_of_the_sorted_samples() {
        let l = Layout::default();
        let mut a = Accumulator::new(l);
        // A spread over several octaves, some equal values, deterministic.
        let mut vals: Vec<u64> =
            (0..5_000u64).map(|i| 900 + (i * i * 7_919) % 3_000_000_000).collect();
        vals.extend([500_000_000; 50]);
        for &v in &vals {
            a.add_bucket(l.index(v), 1);
            a.add_extremes(v, v, u128::from(v));
        }
        vals.sort_unstable();
        let le = |x: u64| vals.partition_point(|v| *v <= x) as u64;
        let snap = a.snapshot();
        let probes =
            [0, 899, 900, 1_500, 2_047, 2_048, 123_456, 499_999_999, 500_000_000, 2_999_000_000]
                .into_iter()
                .chain(vals.iter().step_by(97).copied())
                .chain([vals[vals.len() - 1], u64::MAX]);
        for x in probes {
            let got = a.count_at_most(x);
            assert_eq!(got, snap.count_at_most(x), "snapshot differs at {x}");
            let hi = x.saturating_add(l.width(l.index(x)));
            assert!(
                got >= le(x) && got <= le(hi),
                "x {x}: got {got}, exact {}..={}",
                le(x),
                le(hi)
            );
        }
        assert_eq!(a.count_at_most(vals[0] - 1), 0);
        assert_eq!(a.count_at_most(vals[vals.len() - 1]), a.total());
        assert_eq!(Accumulator::new(l).count_at_most(1_000), 0);
    }

    /// The allocation-free error count equals the breakdown's.
    #[test]
    fn errors_match_the_status_breakdown() {
        let mut a = Accumulator::new(Layout::default());
        for (code, n) in [(0, 3), (200, 50), (404, 7), (429, 2), (500, 1), (503, 9), (999, 4)] {
            a.add_status(code, n);
        }
        for set in [ErrorSet::default(), ErrorSet::empty(), ErrorSet::parse("5xx|999").unwrap()] {
            assert_eq!(a.errors(&set), a.status_counts().errors(&set));
        }
        assert_eq!(a.errors(&ErrorSet::default()), 7 + 2 + 1 + 9);
    }

    #[test]
    fn rank_definition() {
        assert_eq!(nearest_rank(0.0, 10), 1);
        assert_eq!(nearest_rank(1.0, 10), 10);
        assert_eq!(nearest_rank(0.5, 10), 5);
        assert_eq!(nearest_rank(0.51, 10), 6);
        assert_eq!(nearest_rank(0.07, 100), 7);
        assert_eq!(nearest_rank(0.99, 100), 99);
        assert_eq!(nearest_rank(0.999, 1), 1);
        assert_eq!(nearest_rank(0.5, 0), 0);
    }

    #[test]
    #[expect(
        clippy::cast_precision_loss,
        reason = "test latencies are at most 1e6 ns < 2^52, so the f64 conversions are exact"
    )]
    fn quantiles_of_known_values() {
        let l = Layout::default();
        let mut a = Accumulator::new(l);
        for v in 1..=1000u64 {
            a.add_bucket(l.index(v * 1000), 1);
            a.add_extremes(v * 1000, v * 1000, u128::from(v * 1000));
            a.add_status(200, 1);
        }
        for (q, want) in [(0.0, 1000u64), (0.5, 500_000), (0.99, 990_000), (1.0, 1_000_000)] {
            let got = a.quantile_ns(q).unwrap();
            let rel = (got as f64 - want as f64).abs() / want as f64;
            assert!(rel <= l.relative_error(), "q {q} got {got} want {want}");
        }
        assert_eq!(a.quantile_ns(1.5), None);
        assert_eq!(a.quantile_ns(f64::NAN), None);
        assert_eq!(a.requests(), 1000);
        let iv = a.to_interval(0, 1);
        let mut b = Accumulator::new(l);
        b.add_interval(&iv);
        assert_eq!(b.quantile_ns(0.99), a.quantile_ns(0.99));
        b.clear();
        assert_eq!(b.total(), 0);
        assert_eq!(b.quantile_ns(0.5), None);
    }

    fn iv(start_s: u64, pairs: &[(u32, u64)], min_ns: u64, max_ns: u64) -> Interval {
        let mut iv = Interval::empty(start_s, 1);
        iv.hist = SparseHist::from_sorted(pairs.iter().copied()).unwrap();
        iv.status = StatusCounts::from_pairs([(200, iv.hist.total()), (503, 1)]);
        iv.min_ns = min_ns;
        iv.max_ns = max_ns;
        iv.sum_ns = 12_345;
        iv.clamped = 1;
        iv
    }

    /// Sliding: add a, b, c; take a away: equals b + c (extremes set by the
    /// caller). A snapshot answers like the original and becomes whole
    /// again when added to.
    #[test]
    #[expect(
        clippy::many_single_char_names,
        reason = "a, b, c are the intervals of the doc comment's sliding example and x, y, z \
                  their answers; longer names would not say more"
    )]
    fn sub_interval_and_snapshot() {
        let layout = Layout::default();
        let a = iv(0, &[(5000, 3), (9000, 1)], 5000, 9000);
        let b = iv(1, &[(6000, 2)], 6000, 6000);
        let c = iv(2, &[(7000, 4), (20_000, 1)], 7000, 20_000);
        let mut slide = Accumulator::new(layout);
        for x in [&a, &b, &c] {
            slide.add_interval(x);
        }
        slide.sub_interval(&a);
        slide.set_extremes(6000, 20_000);
        let mut fresh = Accumulator::new(layout);
        fresh.add_interval(&b);
        fresh.add_interval(&c);
        let qs = [0.0, 0.3, 0.5, 0.9, 1.0];
        let (mut x, mut y) = ([None; 5], [None; 5]);
        slide.quantiles_ns(&qs, &mut x);
        fresh.quantiles_ns(&qs, &mut y);
        assert_eq!(x, y);
        assert_eq!(
            (slide.total(), slide.requests(), slide.sum_ns()),
            (fresh.total(), fresh.requests(), fresh.sum_ns())
        );
        assert_eq!(
            (slide.clamped(), slide.status_counts()),
            (fresh.clamped(), fresh.status_counts())
        );
        let snap = slide.snapshot();
        assert!(snap.counts.len() < 20_000, "compact: {}", snap.counts.len());
        let mut z = [None; 5];
        snap.quantiles_ns(&qs, &mut z);
        assert_eq!(z, y);
        assert_eq!(snap.to_sparse(), fresh.to_sparse());
        let mut grown = snap.clone();
        grown.add_interval(&a);
        let mut all = fresh.snapshot();
        all.add_accumulator(&{
            let mut only_a = Accumulator::new(layout);
            only_a.add_interval(&a);
            only_a
        });
        assert_eq!(grown.to_sparse(), all.to_sparse());
        assert_eq!(grown.total(), 11);
        // Everything taken away: empty, extremes reset.
        let mut empty = Accumulator::new(layout);
        empty.add_interval(&a);
        empty.sub_interval(&a);
        assert_eq!(
            (empty.total(), empty.min_ns(), empty.snapshot().to_sparse().is_empty()),
            (0, None, true)
        );
    }
}
