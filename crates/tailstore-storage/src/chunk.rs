//! Record framing: a magic byte, the kind, the body length, a CRC-32C, the
//! body. Three kinds: a series record names a series id for the rest of its
//! segment file; an interval record (a "chunk") holds one interval of one
//! request series, optionally zstd-compressed; a gauge record holds one
//! piece of one gauge (its exact count, min, max, sum and last). See
//! `docs/FORMAT.md`, "Records".

use tailstore_hist::{GaugeAgg, Interval, Layout};

use crate::codec::{decode_payload, encode_payload};
use crate::error::ChunkError;
use crate::varint::{get_varint, put_varint};

/// First byte of every record.
pub const RECORD_MAGIC: u8 = 0xE7;
/// Record kind: series definition.
pub const KIND_SERIES: u8 = 1;
/// Record kind: one interval.
pub const KIND_INTERVAL: u8 = 2;
/// Record kind: one piece of a gauge (format version 3, gauge files only).
pub const KIND_GAUGE: u8 = 3;
/// Largest record body (and decompressed payload) a reader accepts.
pub const MAX_BODY_LEN: u64 = 64 << 20;
/// Longest series name, in bytes.
pub const MAX_NAME_LEN: usize = 65_535;
/// Smallest possible record: magic, kind, a one-byte length, the CRC.
pub const MIN_RECORD_LEN: usize = 7;

/// Interval flag: a late delta.
const IF_LATE: u8 = 1;
/// Interval flag: the payload is one zstd frame.
const IF_ZSTD: u8 = 2;

/// A varint field of a record that does not decode.
fn bad_varint(field: &'static str) -> ChunkError {
    ChunkError::BadVarint { field }
}

/// A record whose framing and checksum are valid (the payload of an
/// interval record is not decoded yet).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Record<'a> {
    /// Series `id` is `name` in the rest of this segment.
    Series {
        /// The id.
        id: u64,
        /// The series name (UTF-8, 1 ..= 65 535 bytes).
        name: &'a str,
    },
    /// One interval of series `series`.
    Interval {
        /// The series id (defined by an earlier series record).
        series: u64,
        /// `(start - bucket start) / span`.
        slot: u64,
        /// A late delta (adds to the piece stored earlier for the same start).
        late: bool,
        /// The payload as stored.
        stored: &'a [u8],
        /// `Some(raw length)` when `stored` is a zstd frame.
        zstd: Option<usize>,
    },
    /// One piece of gauge `series`, decoded (gauge files only).
    Gauge {
        /// The series id (defined by an earlier series record).
        series: u64,
        /// `(start - bucket start) / span`.
        slot: u64,
        /// A late delta (merges into the piece stored earlier for the same start).
        late: bool,
        /// The aggregates, `last_s` relative to the piece's start (the
        /// scanner, which knows the start, makes it absolute).
        agg: GaugeAgg,
    },
}

/// Encodes a gauge record of series id `series` at `slot`: `agg` must hold
/// a sample, finite values with `min <= last <= max`, and `last_s` at or
/// after `start_s` (the piece's start); `None` otherwise.
#[must_use]
pub fn encode_gauge_record(
    series: u64,
    slot: u64,
    start_s: u64,
    agg: &GaugeAgg,
    late: bool,
) -> Option<Vec<u8>> {
    if !gauge_agg_valid(agg) || agg.last_s < start_s {
        return None;
    }
    let mut body = Vec::with_capacity(48);
    put_varint(&mut body, series);
    put_varint(&mut body, slot);
    body.push(u8::from(late) * IF_LATE);
    put_varint(&mut body, agg.count);
    for v in [agg.min, agg.max, agg.sum, agg.last] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    put_varint(&mut body, agg.last_s - start_s);
    Some(frame(KIND_GAUGE, &body))
}

/// The checks a stored gauge piece passes (besides `last_s`, which needs
/// the piece's span).
fn gauge_agg_valid(a: &GaugeAgg) -> bool {
    a.count >= 1
        && [a.min, a.max, a.sum, a.last].iter().all(|v| v.is_finite())
        && a.min <= a.last
        && a.last <= a.max
}

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 16);
    out.push(RECORD_MAGIC);
    out.push(kind);
    put_varint(&mut out, body.len() as u64);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out), body);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// Encodes a series record; `None` for an empty name or one longer than
/// 65 535 bytes.
#[must_use]
pub fn encode_series_record(id: u64, name: &str) -> Option<Vec<u8>> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return None;
    }
    let mut body = Vec::with_capacity(name.len() + 4);
    put_varint(&mut body, id);
    body.extend_from_slice(name.as_bytes());
    Some(frame(KIND_SERIES, &body))
}

/// An interval encoded for storage, before it is framed as a record of a
/// particular file (the costly part: the histogram coder and zstd), so that
/// callers can encode outside the writer's lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedInterval {
    /// Start of the interval (unix seconds).
    pub start_s: u64,
    /// The record body after the series id and slot: flags, the raw length
    /// when zstd, the payload as stored.
    tail: Vec<u8>,
}

/// Encodes `iv` for storage, trying zstd at `zstd_level` and keeping it when
/// smaller. `None` when the payload would pass 64 MiB (it cannot: an
/// interval of the largest layout is far smaller).
#[must_use]
pub fn encode_interval(
    iv: &Interval,
    late: bool,
    layout: &Layout,
    zstd_level: i32,
) -> Option<EncodedInterval> {
    let raw = encode_payload(iv, layout);
    if raw.len() as u64 > MAX_BODY_LEN - 64 {
        return None;
    }
    let mut tail = Vec::with_capacity(raw.len() + 8);
    // The range-coded histogram does not compress; zstd helps only on
    // long varint histograms, and costs its frame header on short ones.
    let z = if raw.len() > 96 { zstd::bulk::compress(&raw, zstd_level).ok() } else { None };
    match z {
        Some(z) if z.len() + 3 < raw.len() => {
            tail.push(u8::from(late) * IF_LATE + IF_ZSTD);
            put_varint(&mut tail, raw.len() as u64);
            tail.extend_from_slice(&z);
        }
        _ => {
            tail.push(u8::from(late) * IF_LATE);
            tail.extend_from_slice(&raw);
        }
    }
    Some(EncodedInterval { start_s: iv.start_s, tail })
}

impl EncodedInterval {
    /// A late delta.
    #[must_use]
    pub fn is_late(&self) -> bool {
        self.tail.first().is_some_and(|f| f & IF_LATE != 0)
    }
}

/// Frames an encoded interval as a record of series id `series` at `slot`.
#[must_use]
pub(crate) fn frame_interval(series: u64, slot: u64, enc: &EncodedInterval) -> Vec<u8> {
    let mut body = Vec::with_capacity(enc.tail.len() + 12);
    put_varint(&mut body, series);
    put_varint(&mut body, slot);
    body.extend_from_slice(&enc.tail);
    frame(KIND_INTERVAL, &body)
}

/// Encodes an interval record for series id `series` at `slot`:
/// [`encode_interval`], then the record's framing.
#[must_use]
pub fn encode_interval_record(
    series: u64,
    slot: u64,
    iv: &Interval,
    late: bool,
    layout: &Layout,
    zstd_level: i32,
) -> Option<Vec<u8>> {
    Some(frame_interval(series, slot, &encode_interval(iv, late, layout, zstd_level)?))
}

/// Parses the record at the start of `bytes`: framing, lengths and CRC, and
/// the body's fields (not the interval payload). Returns the record and its
/// length in bytes.
///
/// # Errors
///
/// A [`ChunkError`] naming the first check that failed: `bytes` too short
/// for the record it declares, a bad magic, kind, varint or flag, a length
/// over 64 MiB, a checksum mismatch, or a series name that is empty, too
/// long or not UTF-8.
pub fn parse_record(bytes: &[u8]) -> Result<(Record<'_>, usize), ChunkError> {
    let Some(&[magic, kind]) = bytes.first_chunk().filter(|_| bytes.len() >= MIN_RECORD_LEN) else {
        return Err(ChunkError::TruncatedHeader { available: bytes.len(), min: MIN_RECORD_LEN });
    };
    if magic != RECORD_MAGIC {
        return Err(ChunkError::BadMagic { found: magic, expected: RECORD_MAGIC });
    }
    if !matches!(kind, KIND_SERIES | KIND_INTERVAL | KIND_GAUGE) {
        return Err(ChunkError::UnknownKind(kind));
    }
    let mut pos = 2;
    let len = get_varint(bytes, &mut pos).ok_or_else(|| bad_varint("record length"))?;
    if len > MAX_BODY_LEN {
        return Err(ChunkError::TooLarge { what: "record", len });
    }
    let crc_at = pos;
    let body_at = crc_at + 4;
    // len <= 64 MiB: fits usize, and the sum does not overflow.
    let end = usize::try_from(len).ok().and_then(|len| body_at.checked_add(len));
    // The record: its header up to the CRC, the CRC, the body.
    let framed = end.and_then(|end| bytes.get(..end)).and_then(|rec| {
        let (head, rest) = rec.split_at_checked(crc_at)?;
        let (crc, body) = rest.split_first_chunk::<4>()?;
        Some((head, u32::from_le_bytes(*crc), body))
    });
    let Some((head, crc, body)) = framed else {
        return Err(ChunkError::Truncated {
            needed: (body_at as u64).saturating_add(len),
            available: bytes.len(),
        });
    };
    let found = crc32c::crc32c_append(crc32c::crc32c(head), body);
    if found != crc {
        return Err(ChunkError::Checksum { expected: crc, found });
    }
    let end = body_at + body.len();
    let mut p = 0usize;
    let rec = if kind == KIND_SERIES {
        let id = get_varint(body, &mut p).ok_or_else(|| bad_varint("series id"))?;
        let name = body.get(p..).unwrap_or_default();
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(ChunkError::NameLength { len: name.len() });
        }
        let name = std::str::from_utf8(name)
            .map_err(|e| ChunkError::NameNotUtf8 { valid_up_to: e.valid_up_to() })?;
        Record::Series { id, name }
    } else if kind == KIND_GAUGE {
        parse_gauge_body(body)?
    } else {
        let series = get_varint(body, &mut p).ok_or_else(|| bad_varint("series id"))?;
        let slot = get_varint(body, &mut p).ok_or_else(|| bad_varint("slot"))?;
        let flags = *body.get(p).ok_or(ChunkError::MissingFlags)?;
        p += 1;
        if flags & !(IF_LATE | IF_ZSTD) != 0 {
            return Err(ChunkError::UnknownFlags { flags });
        }
        let zstd = if flags & IF_ZSTD != 0 {
            let raw = get_varint(body, &mut p).ok_or_else(|| bad_varint("raw length"))?;
            let fits = usize::try_from(raw).ok().filter(|_| raw <= MAX_BODY_LEN);
            Some(fits.ok_or(ChunkError::TooLarge { what: "payload", len: raw })?)
        } else {
            None
        };
        // p <= body.len(): every varint and the flags byte were read from it.
        let stored = body.get(p..).unwrap_or_default();
        Record::Interval { series, slot, late: flags & IF_LATE != 0, stored, zstd }
    };
    Ok((rec, end))
}

/// The fields of a gauge record's body (`last_s` relative to the start).
fn parse_gauge_body(body: &[u8]) -> Result<Record<'_>, ChunkError> {
    let mut p = 0usize;
    let series = get_varint(body, &mut p).ok_or_else(|| bad_varint("series id"))?;
    let slot = get_varint(body, &mut p).ok_or_else(|| bad_varint("slot"))?;
    let flags = *body.get(p).ok_or(ChunkError::MissingFlags)?;
    p += 1;
    if flags & !IF_LATE != 0 {
        return Err(ChunkError::UnknownFlags { flags });
    }
    let count = get_varint(body, &mut p).ok_or_else(|| bad_varint("gauge count"))?;
    let mut v = [0f64; 4];
    for x in &mut v {
        let b = body.get(p..).and_then(<[u8]>::first_chunk::<8>).ok_or(ChunkError::BadPayload {
            offset: p,
            reason: "gauge record ends in its values",
        })?;
        *x = f64::from_le_bytes(*b);
        p += 8;
    }
    let last_off = get_varint(body, &mut p).ok_or_else(|| bad_varint("gauge last offset"))?;
    if p != body.len() {
        return Err(ChunkError::BadPayload {
            offset: p,
            reason: "bytes after the gauge record's fields",
        });
    }
    let [min, max, sum, last] = v;
    let agg = GaugeAgg { count, min, max, sum, last, last_s: last_off };
    if !gauge_agg_valid(&agg) {
        return Err(ChunkError::BadPayload {
            offset: 0,
            reason: "gauge piece without a sample, with a value not finite, or min <= last <= max broken",
        });
    }
    Ok(Record::Gauge { series, slot, late: flags & IF_LATE != 0, agg })
}

/// Decompresses (when needed) and decodes the payload of an interval record
/// as the interval `[start_s, start_s + span_s)`.
///
/// # Errors
///
/// A [`ChunkError`] when the zstd frame does not decompress to the length
/// the record declares, or when the payload does not decode for `layout`
/// ([`ChunkError::BadPayload`], naming the byte offset and the check).
pub fn decode_interval(
    stored: &[u8],
    zstd: Option<usize>,
    layout: &Layout,
    start_s: u64,
    span_s: u32,
) -> Result<Interval, ChunkError> {
    let owned;
    let raw: &[u8] = match zstd {
        Some(raw_len) => {
            owned = zstd::bulk::decompress(stored, raw_len)
                .map_err(|e| ChunkError::Zstd { reason: e.to_string() })?;
            if owned.len() != raw_len {
                return Err(ChunkError::DecompressedLength {
                    declared: raw_len,
                    found: owned.len(),
                });
            }
            &owned
        }
        None => stored,
    };
    decode_payload(raw, layout, start_s, span_s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;
    use tailstore_hist::{SparseHist, StatusCounts};

    pub(crate) fn sample() -> Interval {
        let mut iv = Interval::empty(3600, 1);
        iv.hist = SparseHist::from_sorted((100..400).map(|i| (i, u64::from(i % 7 + 1)))).unwrap();
        iv.status = StatusCounts::from_pairs([(200, iv.hist.total() - 3), (503, 3)]);
        iv.min_ns = 100;
        iv.max_ns = 399;
        iv.sum_ns = 123_456;
        iv
    }

    #[test]
    fn roundtrip_and_every_truncation_and_flip_is_caught() {
        let layout = Layout::default();
        let iv = sample();
        for level in [-5, 3] {
            let bytes = encode_interval_record(7, 0, &iv, true, &layout, level).unwrap();
            let (rec, used) = parse_record(&bytes).unwrap();
            assert_eq!(used, bytes.len());
            let Record::Interval { series, slot, late, stored, zstd } = rec else { panic!() };
            assert_eq!((series, slot, late), (7, 0, true));
            assert_eq!(decode_interval(stored, zstd, &layout, 3600, 1).unwrap(), iv);
            for cut in 0..bytes.len() {
                assert!(parse_record(&bytes[..cut]).is_err(), "cut {cut}");
            }
            for i in 0..bytes.len() {
                for bit in [0x01u8, 0x80] {
                    let mut b = bytes.clone();
                    b[i] ^= bit;
                    assert!(parse_record(&b).is_err(), "flip byte {i} bit {bit:#x}");
                }
            }
        }
        let s = encode_series_record(3, "/models/a").unwrap();
        assert_eq!(
            parse_record(&s).unwrap(),
            (Record::Series { id: 3, name: "/models/a" }, s.len())
        );
        assert!(encode_series_record(0, "").is_none());
        assert!(encode_series_record(0, &"x".repeat(65_536)).is_none());
    }

    #[test]
    fn errors_name_the_check_that_failed() {
        let s = encode_series_record(3, "/models/a").unwrap();
        assert_eq!(
            parse_record(&s[..3]),
            Err(ChunkError::TruncatedHeader { available: 3, min: 7 })
        );
        assert_eq!(
            parse_record(&s[..s.len() - 1]),
            Err(ChunkError::Truncated { needed: s.len() as u64, available: s.len() - 1 })
        );
        let mut b = s.clone();
        b[0] = 0;
        assert_eq!(parse_record(&b), Err(ChunkError::BadMagic { found: 0, expected: 0xE7 }));
        let mut b = s.clone();
        b[1] = 9;
        assert_eq!(parse_record(&b), Err(ChunkError::UnknownKind(9)));
        let mut b = s.clone();
        *b.last_mut().unwrap() ^= 1;
        let stored = u32::from_le_bytes(b[3..7].try_into().unwrap());
        let Err(ChunkError::Checksum { expected, found }) = parse_record(&b) else { panic!() };
        assert_eq!(expected, stored);
        assert_ne!(found, stored);
        let msg = parse_record(&b).unwrap_err().to_string();
        assert!(msg.starts_with("checksum mismatch") && msg.contains(&format!("{stored:#010x}")));
        let bad = ChunkError::BadPayload { offset: 4, reason: "zero status count" };
        assert_eq!(bad.to_string(), "payload byte 4: zero status count");
    }

    /// Golden bytes of a series record and an empty late interval record;
    /// the same hex is in docs/FORMAT.md.
    #[test]
    fn golden_records() {
        let hex = |b: &[u8]| {
            b.iter().fold(String::new(), |mut s, b| {
                write!(s, "{b:02x}").unwrap();
                s
            })
        };
        let s = encode_series_record(0, "a").unwrap();
        assert_eq!(hex(&s), GOLDEN_SERIES);
        let iv = Interval::empty(60, 60);
        let r = encode_interval_record(0, 1, &iv, true, &Layout::default(), 3).unwrap();
        assert_eq!(hex(&r), GOLDEN_INTERVAL);
    }

    /// Golden bytes of a gauge record; the same hex is in docs/FORMAT.md.
    #[test]
    fn golden_gauge_record_and_every_flip_is_caught() {
        let hex = |b: &[u8]| {
            b.iter().fold(String::new(), |mut s, b| {
                write!(s, "{b:02x}").unwrap();
                s
            })
        };
        let agg = GaugeAgg { count: 2, min: 1.0, max: 2.0, sum: 3.0, last: 2.0, last_s: 61 };
        let r = encode_gauge_record(0, 1, 60, &agg, false).unwrap();
        assert_eq!(hex(&r), GOLDEN_GAUGE);
        let (rec, used) = parse_record(&r).unwrap();
        assert_eq!(used, r.len());
        assert_eq!(
            rec,
            Record::Gauge { series: 0, slot: 1, late: false, agg: GaugeAgg { last_s: 1, ..agg } }
        );
        for cut in 0..r.len() {
            assert!(parse_record(&r[..cut]).is_err(), "cut {cut}");
        }
        for i in 0..r.len() {
            let mut b = r.clone();
            b[i] ^= 0x10;
            assert!(parse_record(&b).is_err(), "flip byte {i}");
        }
        // What cannot be stored is refused.
        for bad in [
            GaugeAgg::EMPTY,
            GaugeAgg { min: f64::NAN, ..agg },
            GaugeAgg { last: 5.0, ..agg },
            GaugeAgg { sum: f64::INFINITY, ..agg },
        ] {
            assert!(encode_gauge_record(0, 0, 0, &bad, false).is_none(), "{bad:?}");
        }
        assert!(encode_gauge_record(0, 0, 62, &agg, false).is_none(), "last before the start");
    }

    const GOLDEN_GAUGE: &str =
        "e7032527e8ad7a00010002000000000000f03f00000000000000400000000000000840000000000000004001";
    const GOLDEN_SERIES: &str = "e70102009ad8ae0061";
    const GOLDEN_INTERVAL: &str = "e7020579b2b7a00001010000";
}
