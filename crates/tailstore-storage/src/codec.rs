//! The payload of an interval record: one interval as canonical varints and
//! a range-coded histogram (see `docs/FORMAT.md`, "Interval payload").
//!
//! Exact minimum, maximum and sum are stored as differences from what the
//! histogram itself predicts (the lowest value of the first and last
//! buckets, the sum of bucket midpoints), which are a few bytes instead of
//! five to nine each.

use tailstore_hist::{Interval, Layout, SparseHist, StatusCounts, STATUS_CODES};

use crate::error::ChunkError;
use crate::rc;
use crate::varint::{get_varint, get_varint128, put_varint, put_varint128, varint_len};

/// Payload flag: minimum, maximum and sum follow.
const F_LATENCY: u8 = 1;
/// Payload flag: clamped and invalid-status counts follow.
const F_EXTRAS: u8 = 2;
/// Payload flag: the histogram is range coded (otherwise varint pairs).
const F_RANGE: u8 = 4;
const F_KNOWN: u8 = F_LATENCY | F_EXTRAS | F_RANGE;

/// An interval as stored: its contents and whether it is a late delta.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredInterval {
    /// The interval.
    pub interval: Interval,
    /// True for a delta added to a piece stored earlier for the same start.
    pub late: bool,
}

fn zigzag(v: i128) -> u128 {
    ((v << 1) ^ (v >> 127)).cast_unsigned()
}

fn unzigzag(v: u128) -> i128 {
    (v >> 1).cast_signed() ^ -(v & 1).cast_signed()
}

/// What the histogram predicts for `(min, max, sum)`; zeros when empty.
fn predicted(hist: &SparseHist, layout: &Layout) -> (i128, i128, i128) {
    let Some((lo, hi)) = hist.index_range() else { return (0, 0, 0) };
    let sum: i128 = hist
        .iter()
        .map(|(i, c)| i128::from(layout.median_equivalent(i)) * i128::from(c))
        .fold(0i128, i128::saturating_add);
    (i128::from(layout.lowest_equivalent(lo)), i128::from(layout.lowest_equivalent(hi)), sum)
}

/// Encodes `hist` as varint pairs `(gap, count)`, `gap = index - previous
/// index - 1` (the first previous index is -1): the histogram of a payload
/// that is not range coded (see `docs/FORMAT.md`, "Interval payload").
#[must_use]
pub fn encode_varint_pairs(hist: &SparseHist) -> Vec<u8> {
    let mut out = Vec::with_capacity(hist.buckets() as usize * 2);
    let mut next: u64 = 0;
    for (i, c) in hist.iter() {
        put_varint(&mut out, u64::from(i) - next);
        put_varint(&mut out, c);
        next = u64::from(i) + 1;
    }
    out
}

/// Decodes and validates the varint pairs that make up `bytes[start..]`
/// (to its end) for a layout with `len` buckets. Never panics.
///
/// # Errors
///
/// `(byte offset in bytes, check)` of the first check that failed: a
/// varint truncated, non-canonical or over-long, a bucket index not below
/// `len` (or not fitting `u32`), a zero count, or a total count that
/// overflows `u64`.
fn varint_pairs(
    bytes: &[u8],
    start: usize,
    len: usize,
) -> Result<SparseHist, (usize, &'static str)> {
    let mut pos = start;
    let mut next: u64 = 0;
    let mut pairs = Vec::new();
    let mut total: u64 = 0;
    while pos < bytes.len() {
        let at = pos;
        let gap = get_varint(bytes, &mut pos).ok_or((at, "histogram: bad varint (bucket gap)"))?;
        let at_count = pos;
        let c = get_varint(bytes, &mut pos).ok_or((at_count, "histogram: bad varint (count)"))?;
        let idx = next
            .checked_add(gap)
            .filter(|i| *i < len as u64)
            .and_then(|i| u32::try_from(i).ok())
            .ok_or((at, "histogram: bucket index beyond layout"))?;
        if c == 0 {
            return Err((at_count, "histogram: zero count"));
        }
        total = total.checked_add(c).ok_or((at_count, "histogram: total count overflows"))?;
        next = u64::from(idx) + 1;
        pairs.push((idx, c));
    }
    // Indices were checked ascending above: `from_sorted` accepts them.
    SparseHist::from_sorted(pairs).map_err(|_| (start, "histogram: indices not ascending"))
}

/// Decodes and validates [`encode_varint_pairs`] bytes (all of `bytes`) for
/// a layout with `len` buckets. Never panics; a decoded histogram re-encodes
/// to exactly `bytes`.
///
/// # Errors
///
/// [`ChunkError::BadPayload`] naming the byte offset and the check that
/// failed: a varint truncated, non-canonical or over-long, a bucket index
/// not below `len`, a zero count, or a total count that overflows `u64`.
#[cfg(feature = "unstable-internals")]
pub fn decode_varint_pairs(bytes: &[u8], len: usize) -> Result<SparseHist, ChunkError> {
    varint_pairs(bytes, 0, len)
        .map_err(|(offset, reason)| ChunkError::BadPayload { offset, reason })
}

/// Bytes of [`encode_varint_pairs`] for `hist`, without building it.
fn varint_pairs_len(hist: &SparseHist) -> usize {
    let mut next = 0u64;
    let mut n = 0;
    for (i, c) in hist.iter() {
        n += varint_len(u64::from(i) - next) + varint_len(c);
        next = u64::from(i) + 1;
    }
    n
}

/// Encodes one interval's payload for `layout`.
#[must_use]
pub(crate) fn encode_payload(iv: &Interval, layout: &Layout) -> Vec<u8> {
    // The varint form's length is counted, not built, unless it is chosen.
    let pairs_len = varint_pairs_len(&iv.hist);
    let ranged = rc::encode_hist(iv.hist.iter());
    let range = ranged.len() + 2 < pairs_len;
    let latency = (iv.min_ns, iv.max_ns, iv.sum_ns) != (u64::MAX, 0, 0);
    let extras = iv.clamped != 0 || iv.invalid_status != 0;
    let flags =
        u8::from(latency) * F_LATENCY + u8::from(extras) * F_EXTRAS + u8::from(range) * F_RANGE;
    let mut out = Vec::with_capacity(32 + ranged.len().min(pairs_len));
    out.push(flags);
    put_varint(&mut out, iv.status.len() as u64);
    let mut next = 0u64;
    for (code, count) in iv.status.iter() {
        put_varint(&mut out, u64::from(code) - next);
        put_varint(&mut out, count);
        next = u64::from(code) + 1;
    }
    if extras {
        put_varint(&mut out, iv.clamped);
        put_varint(&mut out, iv.invalid_status);
    }
    if latency {
        let (pmin, pmax, psum) = predicted(&iv.hist, layout);
        put_varint128(&mut out, zigzag(i128::from(iv.min_ns) - pmin));
        put_varint128(&mut out, zigzag(i128::from(iv.max_ns) - pmax));
        // sum_ns < 2^127 in any real interval; a larger one saturates the
        // difference, and the decoder reproduces it only up to that: the
        // sum of 2^64 latencies of the layout's maximum does not occur.
        let sum = i128::try_from(iv.sum_ns).unwrap_or(i128::MAX);
        put_varint128(&mut out, zigzag(sum.saturating_sub(psum)));
    }
    if range {
        put_varint(&mut out, u64::from(iv.hist.buckets()));
        out.extend_from_slice(&ranged);
    } else {
        out.extend_from_slice(&encode_varint_pairs(&iv.hist));
    }
    out
}

/// Decodes an interval payload for `layout`, as the interval starting at
/// `start_s` and spanning `span_s`. The payload must be consumed exactly
/// (the histogram runs to its end).
///
/// # Errors
///
/// [`ChunkError::BadPayload`] with the byte offset and the first check that
/// failed: a bad varint or flag, a status code, count or bucket out of
/// range, a histogram that does not decode for `layout`, or a minimum,
/// maximum or sum out of range.
pub(crate) fn decode_payload(
    bytes: &[u8],
    layout: &Layout,
    start_s: u64,
    span_s: u32,
) -> Result<Interval, ChunkError> {
    let mut pos = 0usize;
    let bad = |offset: usize, reason: &'static str| ChunkError::BadPayload { offset, reason };
    let v =
        |pos: &mut usize, what: &'static str| get_varint(bytes, pos).ok_or_else(|| bad(*pos, what));
    let v128 = |pos: &mut usize, what: &'static str| {
        get_varint128(bytes, pos).ok_or_else(|| bad(*pos, what))
    };
    let flags = *bytes.first().ok_or_else(|| bad(0, "empty payload"))?;
    pos += 1;
    if flags & !F_KNOWN != 0 {
        return Err(bad(0, "unknown payload flag bits"));
    }
    let ns = v(&mut pos, "bad varint (status count)")?;
    let ns = usize::try_from(ns).ok().filter(|n| *n <= STATUS_CODES);
    let ns = ns.ok_or_else(|| bad(pos, "more status codes than exist"))?;
    let mut pairs = Vec::with_capacity(ns);
    let mut next = 0u64;
    for _ in 0..ns {
        let at = pos;
        let gap = v(&mut pos, "bad varint (status code)")?;
        let count = v(&mut pos, "bad varint (status count)")?;
        // code < 1000 fits u16.
        let code = next.checked_add(gap).filter(|c| *c < STATUS_CODES as u64);
        let code = code.and_then(|c| u16::try_from(c).ok());
        let code = code.ok_or_else(|| bad(at, "status code beyond 999"))?;
        if count == 0 {
            return Err(bad(at, "zero status count"));
        }
        pairs.push((code, count));
        next = u64::from(code) + 1;
    }
    let (mut clamped, mut invalid_status) = (0, 0);
    if flags & F_EXTRAS != 0 {
        clamped = v(&mut pos, "bad varint (clamped)")?;
        invalid_status = v(&mut pos, "bad varint (invalid status)")?;
        if clamped == 0 && invalid_status == 0 {
            return Err(bad(pos, "extras flag with zero counts"));
        }
    }
    let lat_at = pos;
    let deltas = if flags & F_LATENCY != 0 {
        let dmin = unzigzag(v128(&mut pos, "bad varint (min)")?);
        let dmax = unzigzag(v128(&mut pos, "bad varint (max)")?);
        let dsum = unzigzag(v128(&mut pos, "bad varint (sum)")?);
        Some((dmin, dmax, dsum))
    } else {
        None
    };
    // pos <= bytes.len() after every successful read: `rest` is always
    // Some (and empty when the payload ends here).
    let rest = |pos: usize| bytes.get(pos..).ok_or_else(|| bad(pos, "truncated payload"));
    let hist = if flags & F_RANGE != 0 {
        let n = v(&mut pos, "bad varint (bucket count)")?;
        let pairs = rc::decode_hist(rest(pos)?, n, layout.len())
            .ok_or_else(|| bad(pos, "range-coded histogram does not decode"))?;
        // Decoded gaps are never negative: `from_sorted` accepts the pairs.
        SparseHist::from_sorted(pairs).map_err(|_| bad(pos, "histogram: indices not ascending"))?
    } else {
        varint_pairs(bytes, pos, layout.len()).map_err(|(at, why)| bad(at, why))?
    };
    let (min_ns, max_ns, sum_ns) = match deltas {
        None => (u64::MAX, 0, 0),
        Some((dmin, dmax, dsum)) => {
            let (pmin, pmax, psum) = predicted(&hist, layout);
            let min = u64::try_from(pmin.saturating_add(dmin));
            let max = u64::try_from(pmax.saturating_add(dmax));
            let sum = u128::try_from(psum.saturating_add(dsum));
            match (min, max, sum) {
                (Ok(a), Ok(b), Ok(c)) => (a, b, c),
                _ => return Err(bad(lat_at, "min, max or sum out of range")),
            }
        }
    };
    if !hist.is_empty() && min_ns > max_ns {
        return Err(bad(lat_at, "min above max"));
    }
    Ok(Interval {
        start_s,
        span_s,
        hist,
        status: StatusCounts::from_pairs(pairs),
        min_ns,
        max_ns,
        sum_ns,
        clamped,
        invalid_status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(start_s: u64, span_s: u32) -> Interval {
        let mut iv = Interval::empty(start_s, span_s);
        iv.hist = SparseHist::from_sorted([(10, 3), (11, 1), (5000, 2)]).unwrap();
        iv.status = StatusCounts::from_pairs([(0, 1), (200, 4), (503, 1)]);
        iv.min_ns = 10;
        iv.max_ns = 9_000;
        iv.sum_ns = u128::from(u64::MAX) * 3;
        iv.clamped = 1;
        iv.invalid_status = 1;
        iv
    }

    #[test]
    fn roundtrip() {
        let layout = Layout::default();
        let mut big = Interval::empty(3600, 1);
        big.hist =
            SparseHist::from_sorted((100..900).map(|i| (i * 3, u64::from(i % 5 + 1)))).unwrap();
        big.status = StatusCounts::from_pairs([(200, big.hist.total())]);
        big.min_ns = layout.lowest_equivalent(300) + 1;
        big.max_ns = layout.lowest_equivalent(2697) + 2;
        big.sum_ns = 1_234_567_890;
        // A latency-less interval with statuses, and an inconsistent one
        // (min/max outside their buckets) must round-trip exactly too.
        let mut status_only = Interval::empty(7, 1);
        status_only.status = StatusCounts::from_pairs([(504, 9)]);
        let mut odd = sample(0, 1);
        odd.min_ns = 0;
        odd.max_ns = u64::MAX;
        for iv in [sample(120, 60), Interval::empty(7, 1), status_only, big, odd] {
            let bytes = encode_payload(&iv, &layout);
            let back = decode_payload(&bytes, &layout, iv.start_s, iv.span_s).unwrap();
            assert_eq!(back, iv);
            for cut in 0..bytes.len() {
                // A cut inside the histogram may decode (its end is the
                // payload's end); the record CRC guards that. Never a panic,
                // never the same interval.
                if let Ok(x) = decode_payload(&bytes[..cut], &layout, iv.start_s, iv.span_s) {
                    assert_ne!(x, iv, "cut {cut}");
                }
            }
        }
        let small = Layout::new(2, 1_000, 1_000_000).unwrap();
        assert!(decode_payload(&encode_payload(&sample(0, 1), &layout), &small, 0, 1).is_err());
    }

    #[test]
    fn varint_pairs_length_matches_the_encoding() {
        let h = SparseHist::from_sorted([(0, 1), (5, 300), (20_000, u64::MAX / 4)]).unwrap();
        assert_eq!(varint_pairs_len(&h), encode_varint_pairs(&h).len());
    }

    #[test]
    fn varint_pairs_roundtrip_and_rejects() {
        let a = SparseHist::from_sorted([(0, 1), (5, 2), (6, 0), (7, 9)]).unwrap();
        let back = varint_pairs(&encode_varint_pairs(&a), 0, 8).unwrap();
        assert_eq!(back, a);
        assert!(varint_pairs(&encode_varint_pairs(&a), 0, 7).is_err());
        assert!(varint_pairs(&[0, 0], 0, 8).is_err());
        // Offsets count from the start of the buffer, not of the pairs.
        assert_eq!(varint_pairs(&[9, 9, 0, 0], 2, 8), Err((3, "histogram: zero count")));
    }

    #[test]
    fn zigzag_roundtrips() {
        for v in [0i128, 1, -1, 2, -2, i128::MAX, i128::MIN, 1 << 70, -(1 << 70)] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }
}
