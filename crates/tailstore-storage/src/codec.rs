//! The chunk payload: intervals as canonical varints (see `docs/FORMAT.md`).

use tailstore_hist::{
    get_varint, get_varint128, put_varint, put_varint128, Interval, SparseHist, StatusCounts,
    STATUS_CODES,
};

use crate::rc;

/// Histogram encodings inside a payload.
const HIST_VARINT: u8 = 0;
const HIST_RANGE: u8 = 1;

/// An interval as stored: its contents and whether it is a late delta.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredInterval {
    /// The interval.
    pub interval: Interval,
    /// True for a delta added to a piece stored earlier for the same start.
    pub late: bool,
}

/// Encodes intervals as a chunk payload.
pub fn encode_payload(intervals: &[StoredInterval]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + intervals.len() * 256);
    put_varint(&mut out, intervals.len() as u64);
    for s in intervals {
        let iv = &s.interval;
        put_varint(&mut out, iv.start_s);
        put_varint(&mut out, u64::from(iv.span_s));
        out.push(u8::from(s.late));
        put_varint(&mut out, iv.min_ns);
        put_varint(&mut out, iv.max_ns);
        put_varint128(&mut out, iv.sum_ns);
        put_varint(&mut out, iv.clamped);
        put_varint(&mut out, iv.invalid_status);
        put_varint(&mut out, iv.status.len() as u64);
        let mut next = 0u64;
        for (code, count) in iv.status.iter() {
            put_varint(&mut out, u64::from(code) - next);
            put_varint(&mut out, count);
            next = u64::from(code) + 1;
        }
        // The range coder wins except on tiny histograms; keep the smaller.
        let varint = iv.hist.encode_varint();
        let ranged = rc::encode_hist(iv.hist.iter());
        if ranged.len() < varint.len() {
            out.push(HIST_RANGE);
            put_varint(&mut out, u64::from(iv.hist.buckets()));
            put_varint(&mut out, ranged.len() as u64);
            out.extend_from_slice(&ranged);
        } else {
            out.push(HIST_VARINT);
            put_varint(&mut out, varint.len() as u64);
            out.extend_from_slice(&varint);
        }
    }
    out
}

/// Decodes a chunk payload for a layout of `layout_len` buckets. The payload
/// must be consumed exactly. Errors name the byte offset and the check.
pub fn decode_payload(
    bytes: &[u8],
    layout_len: usize,
) -> Result<Vec<StoredInterval>, (usize, String)> {
    let mut pos = 0usize;
    let bad = |at: usize, what: &str| (at, what.to_string());
    let v = |pos: &mut usize, what: &str| get_varint(bytes, pos).ok_or_else(|| bad(*pos, what));
    let n = v(&mut pos, "bad varint (interval count)")?;
    if n == 0 {
        return Err(bad(0, "chunk with no interval"));
    }
    // Each interval takes at least 11 bytes, which bounds the allocation.
    if n > (bytes.len() / 11 + 1) as u64 {
        return Err(bad(0, "interval count larger than the payload can hold"));
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let at = pos;
        let start_s = v(&mut pos, "bad varint (start)")?;
        let span = v(&mut pos, "bad varint (span)")?;
        let span_s = u32::try_from(span).map_err(|_| bad(at, "span out of range"))?;
        if span_s == 0 || !start_s.is_multiple_of(u64::from(span_s)) {
            return Err(bad(at, "start is not a multiple of a non-zero span"));
        }
        let flags = *bytes.get(pos).ok_or_else(|| bad(pos, "truncated flags"))?;
        pos += 1;
        if flags & !1 != 0 {
            return Err(bad(pos - 1, "unknown flag bits"));
        }
        let min_ns = v(&mut pos, "bad varint (min)")?;
        let max_ns = v(&mut pos, "bad varint (max)")?;
        let sum_ns = get_varint128(bytes, &mut pos).ok_or_else(|| bad(pos, "bad varint (sum)"))?;
        let clamped = v(&mut pos, "bad varint (clamped)")?;
        let invalid_status = v(&mut pos, "bad varint (invalid status)")?;
        let ns = v(&mut pos, "bad varint (status count)")?;
        if ns > STATUS_CODES as u64 {
            return Err(bad(pos, "more status codes than exist"));
        }
        let mut pairs = Vec::with_capacity(ns as usize);
        let mut next = 0u64;
        for _ in 0..ns {
            let at = pos;
            let gap = v(&mut pos, "bad varint (status code)")?;
            let count = v(&mut pos, "bad varint (status count)")?;
            let code = next.checked_add(gap).filter(|c| *c < STATUS_CODES as u64);
            let code = code.ok_or_else(|| bad(at, "status code beyond 999"))?;
            if count == 0 {
                return Err(bad(at, "zero status count"));
            }
            // code < 1000 fits u16.
            pairs.push((code as u16, count));
            next = code + 1;
        }
        let codec = *bytes.get(pos).ok_or_else(|| bad(pos, "truncated histogram codec"))?;
        pos += 1;
        let buckets = match codec {
            HIST_VARINT => None,
            HIST_RANGE => Some(v(&mut pos, "bad varint (bucket count)")?),
            _ => return Err(bad(pos - 1, "unknown histogram codec")),
        };
        let hist_len = v(&mut pos, "bad varint (histogram length)")?;
        let end = usize::try_from(hist_len)
            .ok()
            .and_then(|l| pos.checked_add(l))
            .filter(|e| *e <= bytes.len())
            .ok_or_else(|| bad(pos, "histogram longer than the payload"))?;
        let hist = match buckets {
            None => SparseHist::decode_varint(&bytes[pos..end], layout_len)
                .map_err(|e| bad(pos, &format!("histogram: {e}")))?,
            Some(n) => {
                let pairs = rc::decode_hist(&bytes[pos..end], n, layout_len)
                    .ok_or_else(|| bad(pos, "range-coded histogram does not decode"))?;
                SparseHist::from_sorted(pairs).map_err(|e| bad(pos, &format!("histogram: {e}")))?
            }
        };
        pos = end;
        if !hist.is_empty() && min_ns > max_ns {
            return Err(bad(at, "min above max"));
        }
        out.push(StoredInterval {
            interval: Interval {
                start_s,
                span_s,
                hist,
                status: StatusCounts::from_pairs(pairs),
                min_ns,
                max_ns,
                sum_ns,
                clamped,
                invalid_status,
            },
            late: flags & 1 != 0,
        });
    }
    if pos != bytes.len() {
        return Err(bad(pos, "trailing bytes after the last interval"));
    }
    Ok(out)
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
        let ivs = vec![
            StoredInterval { interval: sample(120, 60), late: false },
            StoredInterval { interval: Interval::empty(7, 1), late: true },
        ];
        let bytes = encode_payload(&ivs);
        assert_eq!(decode_payload(&bytes, 33_792).unwrap(), ivs);
        for cut in 0..bytes.len() {
            assert!(decode_payload(&bytes[..cut], 33_792).is_err(), "cut {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_payload(&longer, 33_792).is_err());
        assert!(decode_payload(&bytes, 100).is_err(), "index beyond a small layout");
    }
}
