//! Sealed, sparse histograms and the interval record that carries them.
//!
//! A [`SparseHist`] stores only non-empty buckets, as LEB128 varint pairs
//! `(gap, count)` where `gap = index - previous_index - 1` (the first
//! previous index is -1). Central buckets of a latency distribution are
//! adjacent, so most gaps are 0 and most pairs take two bytes. The same bytes
//! are the uncompressed payload that storage writes (see `docs/FORMAT.md`).

use crate::error::Error;
use crate::status::StatusCounts;

/// Appends `v` as an unsigned LEB128 varint.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads an unsigned LEB128 varint at `*pos`, advancing it.
///
/// Returns `None` on a truncated or over-long (more than 10 bytes, or
/// overflowing `u64`) encoding.
#[inline]
pub fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    let mut shift = 0u32;
    loop {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        let low = u64::from(b & 0x7f);
        if shift == 63 && low > 1 {
            return None;
        }
        v |= low << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// A histogram of non-empty buckets, immutable once built.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SparseHist {
    bytes: Vec<u8>,
    buckets: u32,
    total: u64,
}

impl std::fmt::Debug for SparseHist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SparseHist")
            .field("buckets", &self.buckets)
            .field("total", &self.total)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl SparseHist {
    /// Builds from `(index, count)` pairs in strictly ascending index order;
    /// zero counts are skipped.
    ///
    /// Pairs out of order are a caller bug; they are rejected rather than
    /// encoded, so the result always decodes.
    pub fn from_sorted(pairs: impl IntoIterator<Item = (u32, u64)>) -> Result<SparseHist, Error> {
        let mut h = SparseHist::default();
        let mut next: u64 = 0; // smallest index the next pair may have
        for (i, c) in pairs {
            if c == 0 {
                continue;
            }
            let i = u64::from(i);
            if i < next {
                return Err(Error::Corrupt {
                    offset: h.bytes.len(),
                    reason: "indices not ascending",
                });
            }
            put_varint(&mut h.bytes, i - next);
            put_varint(&mut h.bytes, c);
            next = i + 1;
            h.buckets += 1;
            h.total = h.total.saturating_add(c);
        }
        Ok(h)
    }

    /// Decodes and validates encoded bytes (as produced by [`SparseHist::as_bytes`])
    /// for a layout with `len` buckets.
    pub fn from_bytes(bytes: &[u8], len: usize) -> Result<SparseHist, Error> {
        let mut pos = 0;
        let mut next: u64 = 0;
        let mut buckets = 0u32;
        let mut total: u64 = 0;
        while pos < bytes.len() {
            let at = pos;
            let gap = get_varint(bytes, &mut pos)
                .ok_or(Error::Corrupt { offset: at, reason: "bad varint (bucket gap)" })?;
            let at_count = pos;
            let c = get_varint(bytes, &mut pos)
                .ok_or(Error::Corrupt { offset: at_count, reason: "bad varint (count)" })?;
            let idx = next
                .checked_add(gap)
                .filter(|i| *i < len as u64)
                .ok_or(Error::Corrupt { offset: at, reason: "bucket index beyond layout" })?;
            if c == 0 {
                return Err(Error::Corrupt { offset: at_count, reason: "zero count" });
            }
            total = total
                .checked_add(c)
                .ok_or(Error::Corrupt { offset: at_count, reason: "total count overflows" })?;
            next = idx + 1;
            buckets += 1;
        }
        Ok(SparseHist { bytes: bytes.to_vec(), buckets, total })
    }

    /// The encoded `(gap, count)` varint pairs.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of non-empty buckets.
    pub fn buckets(&self) -> u32 {
        self.buckets
    }

    /// Sum of all bucket counts.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// True when no value was recorded.
    pub fn is_empty(&self) -> bool {
        self.buckets == 0
    }

    /// Iterates `(index, count)` in ascending index order.
    pub fn iter(&self) -> SparseIter<'_> {
        SparseIter { bytes: &self.bytes, pos: 0, next: 0 }
    }

    /// Merges two sparse histograms (linear in their sizes).
    pub fn merged(&self, other: &SparseHist) -> SparseHist {
        if other.is_empty() {
            return self.clone();
        }
        if self.is_empty() {
            return other.clone();
        }
        let merged = MergeSorted { a: self.iter().peekable(), b: other.iter().peekable() };
        // Both inputs are ascending and decode cleanly, so the merge is ascending.
        SparseHist::from_sorted(merged).expect("merge of ascending streams is ascending")
    }
}

/// Iterator over a [`SparseHist`]'s `(index, count)` pairs.
pub struct SparseIter<'a> {
    bytes: &'a [u8],
    pos: usize,
    next: u64,
}

impl Iterator for SparseIter<'_> {
    type Item = (u32, u64);

    #[inline]
    fn next(&mut self) -> Option<(u32, u64)> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        // A SparseHist is only built by `from_sorted` or validated by
        // `from_bytes`, so decoding succeeds; a failure ends the iteration.
        let gap = get_varint(self.bytes, &mut self.pos)?;
        let c = get_varint(self.bytes, &mut self.pos)?;
        let idx = self.next + gap;
        self.next = idx + 1;
        Some((u32::try_from(idx).ok()?, c))
    }
}

/// Merges two ascending `(index, count)` streams, summing equal indices.
pub struct MergeSorted<A: Iterator<Item = (u32, u64)>, B: Iterator<Item = (u32, u64)>> {
    /// First input.
    pub a: std::iter::Peekable<A>,
    /// Second input.
    pub b: std::iter::Peekable<B>,
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
                Some((x.0, x.1 + y.1))
            }
            (Some(x), Some(y)) if x.0 < y.0 => self.a.next(),
            (Some(_), Some(_)) => self.b.next(),
            (Some(_), None) => self.a.next(),
            (None, _) => self.b.next(),
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
    pub fn requests(&self) -> u64 {
        self.status.total()
    }

    /// Adds `other`'s contents into `self` (the time range of `self` is kept).
    pub fn merge(&mut self, other: &Interval) {
        self.hist = self.hist.merged(&other.hist);
        self.status.merge(&other.status);
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
        self.sum_ns += other.sum_ns;
        self.clamped += other.clamped;
        self.invalid_status += other.invalid_status;
    }

    /// True when no request was counted.
    pub fn is_empty(&self) -> bool {
        self.status.is_empty() && self.hist.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrip_and_rejects() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut p = 0;
            assert_eq!(get_varint(&b, &mut p), Some(v));
            assert_eq!(p, b.len());
            let mut p = 0;
            assert_eq!(get_varint(&b[..b.len() - 1], &mut p), None);
        }
        let mut p = 0;
        assert_eq!(get_varint(&[0xff; 11], &mut p), None);
        let mut p = 0;
        // 10th byte may only carry one bit.
        assert_eq!(
            get_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], &mut p),
            None
        );
    }

    #[test]
    fn sparse_roundtrip_and_merge() {
        let a = SparseHist::from_sorted([(0, 1), (5, 2), (6, 0), (7, 9)]).unwrap();
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![(0, 1), (5, 2), (7, 9)]);
        assert_eq!(a.total(), 12);
        let back = SparseHist::from_bytes(a.as_bytes(), 8).unwrap();
        assert_eq!(back, a);
        assert!(SparseHist::from_bytes(a.as_bytes(), 7).is_err());
        let b = SparseHist::from_sorted([(5, 1), (100, 4)]).unwrap();
        let m = a.merged(&b);
        assert_eq!(m.iter().collect::<Vec<_>>(), vec![(0, 1), (5, 3), (7, 9), (100, 4)]);
        assert!(SparseHist::from_sorted([(3, 1), (3, 1)]).is_err());
        assert!(SparseHist::from_bytes(&[0, 0], 8).is_err());
    }
}
