//! Sealed, sparse histograms and the interval record that carries them.
//!
//! A [`SparseHist`] stores only the runs of non-empty buckets, so merging
//! it into a dense accumulator is a handful of vectorized slice adds. Its
//! encodings on disk belong to `tailstore-storage`, which builds them from
//! [`SparseHist::iter`] and [`SparseHist::from_sorted`].

use smallvec::SmallVec;

use crate::error::Error;
use crate::status::StatusCounts;

/// Zero gaps up to this many buckets are stored inside a run rather than
/// starting a new one (a run header costs 8 bytes).
const RUN_GAP: u32 = 4;

/// Counts of a [`SparseHist`], in the narrowest width that holds the largest.
#[derive(Clone, PartialEq, Eq)]
enum Counts {
    U8(Box<[u8]>),
    U16(Box<[u16]>),
    U32(Box<[u32]>),
    U64(Box<[u64]>),
}

impl Counts {
    fn len(&self) -> usize {
        match self {
            Counts::U8(c) => c.len(),
            Counts::U16(c) => c.len(),
            Counts::U32(c) => c.len(),
            Counts::U64(c) => c.len(),
        }
    }

    #[inline]
    fn get(&self, i: usize) -> u64 {
        match self {
            Counts::U8(c) => c.get(i).map_or(0, |v| u64::from(*v)),
            Counts::U16(c) => c.get(i).map_or(0, |v| u64::from(*v)),
            Counts::U32(c) => c.get(i).map_or(0, |v| u64::from(*v)),
            Counts::U64(c) => c.get(i).copied().unwrap_or(0),
        }
    }

    fn width(&self) -> usize {
        match self {
            Counts::U8(_) => 1,
            Counts::U16(_) => 2,
            Counts::U32(_) => 4,
            Counts::U64(_) => 8,
        }
    }
}

/// A histogram of non-empty buckets, immutable once built.
///
/// Buckets are kept as *runs*: `(start, len)` ranges of adjacent bucket
/// indices with their counts stored contiguously, in the narrowest integer
/// width that holds the largest count. Merging a run into a dense
/// accumulator is a slice add that the compiler vectorizes; the central
/// buckets of a latency distribution form a few long runs.
#[derive(Clone, PartialEq, Eq)]
pub struct SparseHist {
    /// `(first index, length)` of each run, ascending and non-overlapping;
    /// inline while there is one (a quiet series' piece): no allocation.
    runs: SmallVec<[(u32, u32); 1]>,
    /// All runs' counts, concatenated (zeros allowed inside a run).
    counts: Counts,
    buckets: u32,
    total: u64,
}

impl Default for SparseHist {
    fn default() -> Self {
        SparseHist { runs: SmallVec::new(), counts: Counts::U8(Box::new([])), buckets: 0, total: 0 }
    }
}

impl std::fmt::Debug for SparseHist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparseHist")
            .field("buckets", &self.buckets)
            .field("total", &self.total)
            .field("runs", &self.runs.len())
            .field("heap_bytes", &self.heap_bytes())
            .finish_non_exhaustive()
    }
}

impl SparseHist {
    /// Builds from `(index, count)` pairs in strictly ascending index order;
    /// zero counts are skipped. Pairs out of order are rejected.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] (with the position of the offending pair) when an
    /// index is not above the previous non-zero pair's index.
    pub fn from_sorted(pairs: impl IntoIterator<Item = (u32, u64)>) -> Result<SparseHist, Error> {
        let pairs = pairs.into_iter();
        let mut runs: SmallVec<[(u32, u32); 1]> = SmallVec::new();
        // At least one count per pair (gaps inside runs add a few).
        let mut counts: Vec<u64> = Vec::with_capacity(pairs.size_hint().0);
        let mut buckets = 0u32;
        let mut total = 0u64;
        let mut max = 0u64;
        let mut next: u64 = 0; // smallest index the next pair may have
        for (pos, (i, c)) in pairs.enumerate() {
            if c == 0 {
                continue;
            }
            if u64::from(i) < next {
                return Err(Error::Corrupt { offset: pos, reason: "indices not ascending" });
            }
            match runs.last_mut() {
                Some((start, len)) if i - (*start + *len) <= RUN_GAP => {
                    let gap = i - (*start + *len);
                    counts.resize(counts.len() + gap as usize, 0);
                    *len += gap + 1;
                }
                _ => runs.push((i, 1)),
            }
            counts.push(c);
            next = u64::from(i) + 1;
            buckets += 1;
            total = total.saturating_add(c);
            max = max.max(c);
        }
        #[expect(
            clippy::cast_possible_truncation,
            reason = "every count is at most `max`, and each branch is taken only when `max` \
                      fits the target width"
        )]
        let counts = if u8::try_from(max).is_ok() {
            Counts::U8(counts.iter().map(|c| *c as u8).collect())
        } else if u16::try_from(max).is_ok() {
            Counts::U16(counts.iter().map(|c| *c as u16).collect())
        } else if u32::try_from(max).is_ok() {
            Counts::U32(counts.iter().map(|c| *c as u32).collect())
        } else {
            Counts::U64(counts.into_boxed_slice())
        };
        Ok(SparseHist { runs, counts, buckets, total })
    }

    /// Number of non-empty buckets.
    #[must_use]
    pub fn buckets(&self) -> u32 {
        self.buckets
    }

    /// Sum of all bucket counts.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.total
    }

    /// True when no value was recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.buckets == 0
    }

    /// Lowest and highest non-empty bucket index.
    #[must_use]
    pub fn index_range(&self) -> Option<(u32, u32)> {
        let first = self.runs.first()?;
        let last = self.runs.last()?;
        Some((first.0, last.0 + last.1 - 1))
    }

    /// Heap bytes held (runs and counts).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        let runs = if self.runs.spilled() { self.runs.capacity() * 8 } else { 0 };
        runs + self.counts.len() * self.counts.width()
    }

    /// Iterates `(index, count)` of the non-empty buckets, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        let mut offset = 0usize;
        self.runs.iter().flat_map(move |&(start, len)| {
            let base = offset;
            offset += len as usize;
            (0..len).filter_map(move |k| {
                let c = self.counts.get(base + k as usize);
                (c > 0).then_some((start + k, c))
            })
        })
    }

    /// Adds every bucket into `dense` (indexed by bucket), run by run.
    ///
    /// Each run is a contiguous slice add (vectorized). Runs past the end of
    /// `dense` are cut off; they can only come from another layout, which
    /// callers reject earlier.
    #[inline]
    pub fn add_into(&self, dense: &mut [u64]) {
        // Wrapping, not saturating: a plain add vectorizes (saturating costs
        // 20-30 % on short windows). A bucket can only wrap after more than
        // 2^64 samples in one window, which valid data cannot reach; the
        // accumulator's saturating total still bounds what hostile data does.
        fn add<T: Copy + Into<u64>>(dst: &mut [u64], src: &[T]) {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = d.wrapping_add((*s).into());
            }
        }
        let mut offset = 0usize;
        for &(start, len) in &self.runs {
            let (s, l) = (start as usize, len as usize);
            let Some(dst) = dense.get_mut(s..s + l) else { break };
            match &self.counts {
                Counts::U8(c) => add(dst, &c[offset..offset + l]),
                Counts::U16(c) => add(dst, &c[offset..offset + l]),
                Counts::U32(c) => add(dst, &c[offset..offset + l]),
                Counts::U64(c) => add(dst, &c[offset..offset + l]),
            }
            offset += l;
        }
    }

    /// Merges two sparse histograms (linear in their sizes).
    #[must_use]
    #[expect(
        clippy::missing_panics_doc,
        reason = "the only panic is the `expect` on an internal invariant (a merge of two \
                  ascending streams is ascending), unreachable from any input"
    )]
    pub fn merged(&self, other: &SparseHist) -> SparseHist {
        if other.is_empty() {
            return self.clone();
        }
        if self.is_empty() {
            return other.clone();
        }
        let merged = MergeSorted { a: self.iter().peekable(), b: other.iter().peekable() };
        // Both inputs are ascending, so the merge is ascending.
        SparseHist::from_sorted(merged).expect("merge of ascending streams is ascending")
    }
}

/// Merges two ascending `(index, count)` streams, summing equal indices.
struct MergeSorted<A: Iterator<Item = (u32, u64)>, B: Iterator<Item = (u32, u64)>> {
    /// First input.
    a: std::iter::Peekable<A>,
    /// Second input.
    b: std::iter::Peekable<B>,
}

impl<A: Iterator<Item = (u32, u64)>, B: Iterator<Item = (u32, u64)>> Iterator
    for MergeSorted<A, B>
{
    type Item = (u32, u64);

    fn next(&mut self) -> Option<(u32, u64)> {
        match (self.a.peek().copied(), self.b.peek().copied()) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                self.a.next();
                self.b.next();
                Some((x.0, x.1.saturating_add(y.1)))
            }
            (Some(x), Some(y)) if x.0 < y.0 => self.a.next(),
            (Some(_), None) => self.a.next(),
            (Some(_), Some(_)) | (None, _) => self.b.next(),
        }
    }
}

/// One sealed interval of one series: latency histogram, status breakdown,
/// exact min/max/sum and the clamping counters.
///
/// `start_s` is a unix second; `span_s` is 1 for a one-second interval, 60
/// for a minute rollup, 3600 for an hour rollup. Requests whose latency is
/// unknown count in `status` but not in `hist`, so `requests() >= hist.total()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interval {
    /// First second covered (unix seconds).
    pub start_s: u64,
    /// Length in seconds.
    pub span_s: u32,
    /// Latency histogram (bucket indices of the store's layout).
    pub hist: SparseHist,
    /// Requests per status code.
    pub status: StatusCounts,
    /// Exact smallest latency recorded, ns (`u64::MAX` when `hist` is empty).
    pub min_ns: u64,
    /// Exact largest latency recorded after clamping, ns (0 when empty).
    pub max_ns: u64,
    /// Exact sum of latencies after clamping, ns.
    pub sum_ns: u128,
    /// Latencies above the layout's highest value, clamped to it.
    pub clamped: u64,
    /// Status values of 1000 or more, recorded as status 0.
    pub invalid_status: u64,
}

impl Interval {
    /// An empty interval covering `[start_s, start_s + span_s)`.
    #[must_use]
    pub fn empty(start_s: u64, span_s: u32) -> Interval {
        Interval {
            start_s,
            span_s,
            hist: SparseHist::default(),
            status: StatusCounts::default(),
            min_ns: u64::MAX,
            max_ns: 0,
            sum_ns: 0,
            clamped: 0,
            invalid_status: 0,
        }
    }

    /// Requests counted (with or without a known latency).
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.status.total()
    }

    /// Adds `other`'s contents into `self` (the time range of `self` is kept).
    pub fn merge(&mut self, other: &Interval) {
        self.hist = self.hist.merged(&other.hist);
        self.status.merge(&other.status);
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
        self.clamped = self.clamped.saturating_add(other.clamped);
        self.invalid_status = self.invalid_status.saturating_add(other.invalid_status);
    }

    /// True when no request was counted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.status.is_empty() && self.hist.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_roundtrip_and_merge() {
        let a = SparseHist::from_sorted([(0, 1), (5, 2), (6, 0), (7, 9)]).unwrap();
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![(0, 1), (5, 2), (7, 9)]);
        assert_eq!(a.total(), 12);
        let mut dense = vec![0u64; 10];
        a.add_into(&mut dense);
        assert_eq!(dense, vec![1, 0, 0, 0, 0, 2, 0, 9, 0, 0]);
        assert_eq!(a.index_range(), Some((0, 7)));
        let b = SparseHist::from_sorted([(5, 1), (100, 4)]).unwrap();
        let m = a.merged(&b);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![(0, 1), (5, 3), (7, 9), (100, 4)]);
        assert!(SparseHist::from_sorted([(3, 1), (3, 1)]).is_err());
        // Widths adapt to the largest count.
        let w = SparseHist::from_sorted([(3, 1 << 40), (100, 1)]).unwrap();
        assert_eq!(w.iter().collect::<Vec<_>>(), vec![(3, 1 << 40), (100, 1)]);
        let mut dense = vec![0u64; 101];
        w.add_into(&mut dense);
        assert_eq!((dense[3], dense[100]), (1 << 40, 1));
    }
}
