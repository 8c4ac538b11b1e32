//! The dense accumulator a query merges intervals into, and the quantile scan.

use crate::layout::Layout;
use crate::sparse::{Interval, SparseHist};
use crate::status::{StatusCounts, STATUS_CODES};

/// The nearest rank of quantile `q` among `n` samples: `max(1, ceil(q * n))`.
///
/// `q * n` is computed in `f64`; a product within a relative `1e-12` above an
/// integer is taken as that integer, so that e.g. `0.07 * 100` (which is
/// `7.000000000000001` in binary floating point) has rank 7, not 8.
/// `q` must be in `[0, 1]` (callers validate it); `n == 0` gives 0.
pub fn nearest_rank(q: f64, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let x = q * n as f64;
    let k = (x - x * 1e-12).ceil();
    // k is in [0, n] because q is in [0, 1]; the cast saturates anyway.
    (k as u64).clamp(1, n)
}

/// A dense, mergeable accumulator over a layout: the workhorse of queries.
///
/// Counts live in one contiguous `Vec<u64>`; `lo..=hi` bounds the slots that
/// may be non-zero, so clearing and scanning touch only that range.
#[derive(Clone)]
pub struct Accumulator {
    layout: Layout,
    counts: Vec<u64>,
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
    pub fn new(layout: Layout) -> Accumulator {
        Accumulator {
            layout,
            counts: vec![0; layout.len()],
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

    /// The layout of the counts.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Resets to empty, touching only the slots that were used.
    pub fn clear(&mut self) {
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
        if other.lo <= other.hi {
            // Contiguous slices of equal length: this loop auto-vectorizes.
            let (dst, src) =
                (&mut self.counts[other.lo..=other.hi], &other.counts[other.lo..=other.hi]);
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

    /// Number of latency samples.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Number of requests (all statuses, with or without latency).
    pub fn requests(&self) -> u64 {
        self.status.iter().fold(0, |a, b| a.saturating_add(*b))
    }

    /// The per-status counts.
    pub fn status_counts(&self) -> StatusCounts {
        StatusCounts::from_pairs(
            self.status.iter().enumerate().filter(|p| *p.1 > 0).map(|(c, n)| (c as u16, *n)),
        )
    }

    /// Requests with status `code`.
    pub fn status(&self, code: u16) -> u64 {
        self.status.get(usize::from(code)).copied().unwrap_or(0)
    }

    /// Exact minimum latency, if any sample.
    pub fn min_ns(&self) -> Option<u64> {
        (self.total > 0).then_some(self.min_ns)
    }

    /// Exact maximum latency (after clamping), if any sample.
    pub fn max_ns(&self) -> Option<u64> {
        (self.total > 0).then_some(self.max_ns)
    }

    /// Exact sum of latencies, ns.
    pub fn sum_ns(&self) -> u128 {
        self.sum_ns
    }

    /// Samples clamped to the layout's highest value.
    pub fn clamped(&self) -> u64 {
        self.clamped
    }

    /// Status values >= 1000 recorded as 0.
    pub fn invalid_status(&self) -> u64 {
        self.invalid_status
    }

    /// Exact mean latency, if any sample.
    pub fn mean_ns(&self) -> Option<f64> {
        (self.total > 0).then(|| self.sum_ns as f64 / self.total as f64)
    }

    /// The value at nearest rank `ceil(q * N)` (see [`nearest_rank`]), as the
    /// middle of its bucket clamped into the exact `[min, max]`.
    ///
    /// `None` when there is no sample or `q` is not in `[0, 1]`.
    pub fn quantile_ns(&self, q: f64) -> Option<u64> {
        let mut out = [None];
        self.quantiles_ns(&[q], &mut out);
        out[0]
    }

    /// Several quantiles in one scan; `out[i]` answers `qs[i]`.
    pub fn quantiles_ns(&self, qs: &[f64], out: &mut [Option<u64>]) {
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
        let counts = &self.counts[self.lo..=self.hi];
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
            let idx = (self.lo + pos.min(counts.len() - 1)) as u32;
            let mid = self.layout.median_equivalent(idx);
            // Extremes come with the counts from every recorder path; a
            // histogram added without them (or decoded with inconsistent
            // ones) must not make `clamp` panic.
            let v =
                if self.min_ns <= self.max_ns { mid.clamp(self.min_ns, self.max_ns) } else { mid };
            out[slot] = Some(v);
        }
    }

    /// The non-empty buckets as a sparse histogram.
    pub fn to_sparse(&self) -> SparseHist {
        if self.lo > self.hi {
            return SparseHist::default();
        }
        let pairs = self.counts[self.lo..=self.hi]
            .iter()
            .enumerate()
            .map(|(i, c)| ((self.lo + i) as u32, *c));
        // Ascending by construction.
        SparseHist::from_sorted(pairs).expect("dense scan is ascending")
    }

    /// Seals the contents into an [`Interval`] for `[start_s, start_s + span_s)`.
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
}
