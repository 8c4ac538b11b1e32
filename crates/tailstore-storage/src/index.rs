//! Per-segment index files: the record headers of a segment that the writer
//! has finished with (series dictionary, and per record its series, slot,
//! late flag, offset and length), so that opening a store reads a few bytes
//! per record instead of every record. An index is a cache: it is used only
//! when it is intact and describes the segment exactly as it is (same
//! length, same header); otherwise the segment is scanned, and the writer
//! writes a new index. See `docs/FORMAT.md`, "Index files".

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::segment::{bucket_len_s, span_s, Entry, SEGMENT_HEADER_LEN};
use crate::varint::{get_varint, put_varint};

/// Index magic, `"TAILIDX\0"`.
pub const INDEX_MAGIC: [u8; 8] = *b"TAILIDX\0";
/// Index format version (the store's format version).
const INDEX_VERSION: u16 = 2;
/// Bytes before the body.
const HEAD_LEN: usize = 24;

/// The index file of a segment file: `L0-….seg` -> `L0-….idx`.
pub fn index_path(segment: &Path) -> PathBuf {
    segment.with_extension("idx")
}

/// Bytes at the end of a segment whose CRC ties an index to it.
const TAIL: usize = 4096;

/// CRC-32C of the segment's last 4 KiB (all of it when shorter): with the
/// length, what ties an index to the exact bytes it was made from (every
/// record ends in the CRC-protected body of the last one).
fn tail_crc(segment: &[u8]) -> [u8; 4] {
    let tail = segment.get(segment.len().saturating_sub(TAIL)..).unwrap_or_default();
    crc32c::crc32c(tail).to_le_bytes()
}

/// Encodes the index of `segment` (its full bytes) from a clean scan of it:
/// its dictionary and its entries in file order.
pub fn encode_index(
    segment: &[u8],
    level: u8,
    series: &HashMap<u64, Arc<str>>,
    entries: &[Entry],
) -> Option<Vec<u8>> {
    if segment.len() < SEGMENT_HEADER_LEN {
        return None;
    }
    let crc = tail_crc(segment);
    let bucket_span = u64::from(span_s(level));
    let ids: HashMap<&str, u64> = series.iter().map(|(id, n)| (&**n, *id)).collect();
    let mut out = Vec::with_capacity(HEAD_LEN + 16 + entries.len() * 8);
    out.extend_from_slice(&INDEX_MAGIC);
    out.extend_from_slice(&INDEX_VERSION.to_le_bytes());
    out.push(level);
    out.push(0);
    out.extend_from_slice(&(segment.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc);
    let mut names: Vec<(&u64, &Arc<str>)> = series.iter().collect();
    names.sort();
    put_varint(&mut out, names.len() as u64);
    for (id, name) in names {
        put_varint(&mut out, *id);
        put_varint(&mut out, name.len() as u64);
        out.extend_from_slice(name.as_bytes());
    }
    put_varint(&mut out, entries.len() as u64);
    let mut prev_end = SEGMENT_HEADER_LEN as u64;
    for e in entries {
        let id = *ids.get(&*e.series)?;
        let bucket = e.start_s - e.start_s % bucket_len_s(level);
        put_varint(&mut out, id);
        put_varint(&mut out, (e.start_s - bucket) / bucket_span);
        out.push(u8::from(e.late));
        put_varint(&mut out, e.offset.checked_sub(prev_end)?);
        put_varint(&mut out, u64::from(e.len));
        prev_end = e.offset + u64::from(e.len);
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Some(out)
}

/// A segment's dictionary and its records' headers, in file order.
pub type Indexed = (HashMap<u64, Arc<str>>, Vec<Entry>);

/// Decodes an index for the segment `segment` (its mapped bytes) of `level`
/// and bucket `bucket_s`. `None` unless the index is intact and describes
/// exactly these bytes: then the segment must be scanned.
pub fn decode_index(index: &[u8], segment: &[u8], level: u8, bucket_s: u64) -> Option<Indexed> {
    decode(index, segment.len() as u64, Some(tail_crc(segment)), level, bucket_s)
        .map(|(indexed, _)| indexed)
}

/// The records an intact index lists for a segment of `level` and bucket
/// `bucket_s` that is now `segment_len` bytes long, whether or not the
/// segment's bytes are still those it was made from (no tail CRC check),
/// and the length the segment had then (at most `segment_len`: the writer
/// only appends, so those records are still where the index says). What a
/// damaged segment held where its damage is, once the caller has checked
/// that the records it still reads are the index's. `None` when the index
/// is damaged, of another level or longer than the segment.
pub fn index_hint(
    index: &[u8],
    segment_len: u64,
    level: u8,
    bucket_s: u64,
) -> Option<(u64, Vec<Entry>)> {
    decode(index, segment_len, None, level, bucket_s).map(|((_, entries), len)| (len, entries))
}

/// [`decode_index`] and [`index_hint`]: with `tail`, the segment (of
/// `segment_len` bytes, the CRC of its tail `tail`) must be exactly the one
/// indexed; without, it may have grown since. Returns the index and the
/// segment length it records.
fn decode(
    index: &[u8],
    segment_len: u64,
    tail: Option<[u8; 4]>,
    level: u8,
    bucket_s: u64,
) -> Option<(Indexed, u64)> {
    let (body, crc) = index.split_last_chunk::<4>()?;
    let head = body.first_chunk::<HEAD_LEN>()?;
    let indexed_len = u64::from_le_bytes(head[12..20].try_into().ok()?);
    let same = match tail {
        Some(t) => indexed_len == segment_len && head[20..24] == t,
        None => indexed_len <= segment_len,
    };
    if crc32c::crc32c(body) != u32::from_le_bytes(*crc)
        || head[..8] != INDEX_MAGIC
        || head[8..10] != INDEX_VERSION.to_le_bytes()
        || head[10] != level
        || !same
    {
        return None;
    }
    let mut pos = HEAD_LEN;
    let v = |pos: &mut usize| get_varint(body, pos);
    // Each series takes at least 3 bytes: bounds the allocation.
    let n_series = usize::try_from(v(&mut pos)?).ok().filter(|n| *n <= body.len())?;
    let mut series: HashMap<u64, Arc<str>> = HashMap::with_capacity(n_series);
    for _ in 0..n_series {
        let id = v(&mut pos)?;
        let len = usize::try_from(v(&mut pos)?).ok()?;
        let name = std::str::from_utf8(body.get(pos..pos.checked_add(len)?)?).ok()?;
        pos += len;
        series.insert(id, Arc::from(name));
    }
    let n = usize::try_from(v(&mut pos)?).ok().filter(|n| *n <= body.len())?;
    let span = u64::from(span_s(level));
    let slots = bucket_len_s(level) / span;
    let mut entries = Vec::with_capacity(n);
    let mut prev_end = SEGMENT_HEADER_LEN as u64;
    for _ in 0..n {
        let id = v(&mut pos)?;
        let slot = v(&mut pos)?;
        let late = *body.get(pos)?;
        pos += 1;
        let offset = prev_end.checked_add(v(&mut pos)?)?;
        let len = u32::try_from(v(&mut pos)?).ok()?;
        let end = offset.checked_add(u64::from(len))?;
        if late > 1 || slot >= slots || end > indexed_len {
            return None;
        }
        entries.push(Entry {
            series: series.get(&id)?.clone(),
            start_s: bucket_s + slot * span,
            late: late == 1,
            offset,
            len,
        });
        prev_end = end;
    }
    (pos == body.len()).then_some(((series, entries), indexed_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{encode_interval_record, encode_series_record};
    use crate::segment::{scan_segment, segment_header};
    use tailstore_hist::{Interval, Layout, StatusCounts};

    fn segment(n: u64) -> Vec<u8> {
        let layout = Layout::default();
        let mut seg = segment_header(0, &layout).to_vec();
        seg.extend(encode_series_record(0, "/a").unwrap());
        seg.extend(encode_series_record(5, "/b").unwrap());
        for s in 0..n {
            let mut iv = Interval::empty(3600 + s, 1);
            iv.status = StatusCounts::from_pairs([(200, s + 1)]);
            let id = if s % 3 == 0 { 5 } else { 0 };
            seg.extend(encode_interval_record(id, s, &iv, s % 4 == 1, &layout, 1).unwrap());
        }
        seg
    }

    #[test]
    fn index_roundtrip_and_every_mismatch_is_refused() {
        let layout = Layout::default();
        for n in [0u64, 1, 200] {
            let seg = segment(n);
            let scan = scan_segment(&seg, Path::new("L0-x.seg"), 0, 3600, &layout, false).unwrap();
            let ix = encode_index(&seg, 0, &scan.series, &scan.entries).unwrap();
            let (series, entries) = decode_index(&ix, &seg, 0, 3600).unwrap();
            assert_eq!((series, &entries), (scan.series.clone(), &scan.entries), "n {n}");
            // Another level, a longer or changed segment, any damaged byte
            // or a cut of the index: refused (the segment is scanned).
            assert!(decode_index(&ix, &seg, 1, 3600).is_none());
            let mut longer = seg.clone();
            longer.extend(encode_series_record(9, "/c").unwrap());
            assert!(decode_index(&ix, &longer, 0, 3600).is_none());
            let mut changed = seg.clone();
            let last = changed.len() - 1;
            changed[last] ^= 1;
            assert!(decode_index(&ix, &changed, 0, 3600).is_none());
            // The hint names the records of a damaged segment of the same
            // length or longer (appended to since), and nothing for a
            // shorter one or another level.
            let len = seg.len() as u64;
            let hint = Some((len, scan.entries.clone()));
            assert_eq!(index_hint(&ix, len, 0, 3600), hint, "n {n}");
            assert_eq!(index_hint(&ix, len + 100, 0, 3600), hint, "n {n}");
            assert!(index_hint(&ix, len - 1, 0, 3600).is_none());
            assert!(index_hint(&ix, len, 1, 3600).is_none());
            for i in 0..ix.len() {
                let mut b = ix.clone();
                b[i] ^= 0x20;
                assert!(decode_index(&b, &seg, 0, 3600).is_none(), "flip {i}");
            }
            for cut in 0..ix.len() {
                assert!(decode_index(&ix[..cut], &seg, 0, 3600).is_none(), "cut {cut}");
            }
        }
    }
}
