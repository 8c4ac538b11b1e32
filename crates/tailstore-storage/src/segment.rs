//! Segment files: header, and scanning chunks with resynchronisation.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tailstore_hist::{Interval, Layout};

use crate::chunk::{decode_interval, parse_record, Record, RECORD_MAGIC};
use crate::error::{ChunkError, Error};

/// Segment magic, `"TAILSEG\0"`.
pub const SEGMENT_MAGIC: [u8; 8] = *b"TAILSEG\0";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 2;
const OFF_VERSION: usize = 8;
const OFF_LEVEL: usize = OFF_VERSION + 2;
const OFF_DIGITS: usize = OFF_LEVEL + 1;
const OFF_LOWEST: usize = OFF_DIGITS + 1;
const OFF_HIGHEST: usize = OFF_LOWEST + 8;
const OFF_CRC: usize = OFF_HIGHEST + 8;
/// Bytes of the segment header.
pub const SEGMENT_HEADER_LEN: usize = OFF_CRC + 4;

/// Rollup levels stored.
pub const LEVELS: u8 = 3;

/// Time-bucket length of each level's segment files, in seconds.
#[must_use]
pub fn bucket_len_s(level: u8) -> u64 {
    match level {
        0 => 3_600,
        1 => 86_400,
        _ => 2_592_000,
    }
}

/// The segment file name for `level` and the bucket containing `start_s`.
#[must_use]
pub fn segment_name(level: u8, start_s: u64) -> String {
    let b = start_s - start_s % bucket_len_s(level);
    format!("L{level}-{b:020}.seg")
}

/// Parses a segment file name into `(level, bucket start)`.
pub fn parse_segment_name(name: &str) -> Option<(u8, u64)> {
    let rest = name.strip_prefix('L')?.strip_suffix(".seg")?;
    let (level, bucket) = rest.split_once('-')?;
    let level: u8 = level.parse().ok().filter(|l| *l < LEVELS)?;
    if bucket.len() != 20 {
        return None;
    }
    let bucket: u64 = bucket.parse().ok()?;
    bucket.is_multiple_of(bucket_len_s(level)).then_some((level, bucket))
}

/// Piece length of each level, in seconds.
#[must_use]
pub fn span_s(level: u8) -> u32 {
    match level {
        0 => 1,
        1 => 60,
        _ => 3_600,
    }
}

/// The 32-byte header of a new segment of `level` for `layout`.
pub fn segment_header(level: u8, layout: &Layout) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(&SEGMENT_MAGIC);
    h[OFF_VERSION..OFF_VERSION + 2].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[OFF_LEVEL] = level;
    h[OFF_DIGITS] = layout.digits();
    h[OFF_LOWEST..OFF_LOWEST + 8].copy_from_slice(&layout.lowest_ns().to_le_bytes());
    h[OFF_HIGHEST..OFF_HIGHEST + 8].copy_from_slice(&layout.highest_ns().to_le_bytes());
    let crc = crc32c::crc32c(&h[..OFF_CRC]);
    h[OFF_CRC..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// One damaged region found by a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The file.
    pub path: PathBuf,
    /// Byte offset where the damaged region starts.
    pub offset: u64,
    /// Bytes skipped until the next valid chunk (or the end of the file).
    pub skipped: u64,
    /// What check failed first.
    pub reason: String,
}

/// Where an interval record lies, and what its header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The series.
    pub series: Arc<str>,
    /// Start of the interval (unix seconds).
    pub start_s: u64,
    /// A late delta.
    pub late: bool,
    /// Byte offset of the record in its file.
    pub offset: u64,
    /// Bytes of the record.
    pub len: u32,
}

/// The result of scanning one segment's bytes.
#[derive(Debug, Default)]
pub struct SegmentScan {
    /// Valid interval records, in file order.
    pub entries: Vec<Entry>,
    /// The decoded intervals of `entries`, in the same order, when the scan
    /// was asked to decode (`check`); empty otherwise.
    pub intervals: Vec<Interval>,
    /// Series ids defined in the file, and their names.
    pub series: HashMap<u64, Arc<str>>,
    /// Damaged regions, in file order.
    pub damage: Vec<Damage>,
    /// Offset just past the last valid record (where a torn tail starts).
    pub valid_end: u64,
    /// Valid records found after a damaged region (by resynchronising on
    /// the record magic): what the scan recovered.
    pub recovered: usize,
}

/// Where a scan resumes after a record at `pos` that does not parse: the
/// next record magic after `pos`, or the end of the bytes.
fn resync(bytes: &[u8], pos: usize) -> usize {
    let after = bytes.get(pos + 1..).unwrap_or_default();
    memchr::memchr(RECORD_MAGIC, after).map_or(bytes.len(), |i| pos + 1 + i)
}

/// Notes series `id` as `name` in a file's dictionary; the damage reason
/// when the file defined `id` before as another name.
fn define(series: &mut HashMap<u64, Arc<str>>, id: u64, name: &str) -> Result<(), &'static str> {
    match series.get(&id) {
        Some(old) if **old != *name => Err("series id defined twice, with another name"),
        Some(_) => Ok(()),
        None => {
            series.insert(id, Arc::from(name));
            Ok(())
        }
    }
}

/// Reads and checks a segment header: the level must be `level` and the
/// layout `layout`. `Ok(Err(reason))` is damage; `Err` a newer version or
/// another layout.
pub(crate) fn check_header(
    bytes: &[u8],
    path: &Path,
    level: u8,
    layout: &Layout,
) -> Result<Result<(), &'static str>, Error> {
    let Some(h) = bytes.first_chunk::<SEGMENT_HEADER_LEN>() else {
        return Ok(Err("truncated segment header"));
    };
    if h[..8] != SEGMENT_MAGIC {
        return Ok(Err("bad segment magic"));
    }
    let version = u16::from_le_bytes([h[OFF_VERSION], h[OFF_VERSION + 1]]);
    let crc = u32::from_le_bytes([h[OFF_CRC], h[OFF_CRC + 1], h[OFF_CRC + 2], h[OFF_CRC + 3]]);
    let unsupported = || Error::UnsupportedVersion {
        path: path.to_path_buf(),
        version,
        supported: FORMAT_VERSION,
    };
    if crc32c::crc32c(&h[..OFF_CRC]) != crc {
        // A version-1 header (16 bytes, its CRC at 12) is recognised as
        // such; anything else that fails this version's CRC is damage.
        let v1 = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
        if version == 1 && crc32c::crc32c(&h[..12]) == v1 {
            return Err(unsupported());
        }
        return Ok(Err("segment header checksum mismatch"));
    }
    if version != FORMAT_VERSION {
        return Err(unsupported());
    }
    if h[OFF_LEVEL] != level {
        return Ok(Err("segment level differs from its file name"));
    }
    let want = segment_header(level, layout);
    if h[OFF_DIGITS..OFF_CRC] != want[OFF_DIGITS..OFF_CRC] {
        let le = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes of the header"));
        return Err(Error::LayoutMismatch {
            path: path.to_path_buf(),
            found: format!(
                "{} digits, {} ns ..= {} ns",
                h[OFF_DIGITS],
                le(&h[OFF_LOWEST..OFF_HIGHEST]),
                le(&h[OFF_HIGHEST..OFF_CRC])
            ),
            wanted: format!(
                "{} digits, {} ns ..= {} ns",
                layout.digits(),
                layout.lowest_ns(),
                layout.highest_ns()
            ),
        });
    }
    Ok(Ok(()))
}

/// Scans a segment's bytes: every record's framing and CRC, the series
/// dictionary, and (with `decode`) every interval payload. A newer version
/// or another layout is an error; anything else wrong is damage: reported,
/// skipped, and the scan resumes at the next record magic. Never panics,
/// whatever the bytes.
///
/// # Errors
///
/// [`Error::UnsupportedVersion`] for a segment of another format version,
/// [`Error::LayoutMismatch`] for one written with another layout than
/// `layout`.
pub fn scan_segment(
    bytes: &[u8],
    path: &Path,
    level: u8,
    bucket_s: u64,
    layout: &Layout,
    decode: bool,
) -> Result<SegmentScan, Error> {
    let mut scan = SegmentScan::default();
    let damage = |offset: usize, skipped: usize, reason: &str| Damage {
        path: path.to_path_buf(),
        offset: offset as u64,
        skipped: skipped as u64,
        reason: reason.to_string(),
    };
    if bytes.is_empty() {
        // The writer never leaves an empty segment (it creates each one
        // with its header in place), so an empty file is a segment whose
        // bytes never reached the disk: the classic power-loss symptom.
        scan.damage.push(damage(
            0,
            0,
            "empty segment file (no header): its data never reached the disk, e.g. a power loss",
        ));
        return Ok(scan);
    }
    if let Err(reason) = check_header(bytes, path, level, layout)? {
        scan.damage.push(damage(0, bytes.len(), reason));
        return Ok(scan);
    }
    let span_secs = span_s(level);
    let span_len = u64::from(span_secs);
    let slots = bucket_len_s(level) / span_len;
    scan.valid_end = SEGMENT_HEADER_LEN as u64;
    // A record whose framing is valid but whose contents are not loses only
    // itself: the walk goes on right after it.
    let walked = walk_records(bytes, path, |rec, pos, used| {
        match rec {
            Record::Series { id, name } => {
                define(&mut scan.series, id, name)?;
            }
            Record::Gauge { .. } => return Err("gauge record in a request segment".into()),
            Record::Interval { series, slot, late, stored, zstd } => {
                let Some(name) = scan.series.get(&series) else {
                    return Err("interval of an undefined series id".into());
                };
                if slot >= slots {
                    return Err("interval starts outside the file's time bucket".into());
                }
                let start_s = bucket_s + slot * span_len;
                if decode {
                    let iv = decode_interval(stored, zstd, layout, start_s, span_secs)
                        .map_err(|e| e.to_string())?;
                    scan.intervals.push(iv);
                }
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "parse_record caps a record at 64 MiB + its 16-byte frame: fits u32"
                )]
                let len = used as u32;
                scan.entries.push(Entry {
                    series: name.clone(),
                    start_s,
                    late,
                    offset: pos as u64,
                    len,
                });
            }
        }
        scan.valid_end = (pos + used) as u64;
        Ok(())
    });
    (scan.damage, scan.recovered) = walked;
    Ok(scan)
}

/// Walks the records after a segment's header. A record that does not
/// parse is damage up to the next record magic ([`resync`]); `judge` checks
/// each record that does (an `Err` is damage covering that record alone)
/// and is given its offset and length. Returns the damage found and how
/// many whole records came after some.
fn walk_records<'a>(
    bytes: &'a [u8],
    path: &Path,
    mut judge: impl FnMut(Record<'a>, usize, usize) -> Result<(), Cow<'static, str>>,
) -> (Vec<Damage>, usize) {
    let damage = |offset: usize, skipped: usize, reason: &str| Damage {
        path: path.to_path_buf(),
        offset: offset as u64,
        skipped: skipped as u64,
        reason: reason.to_string(),
    };
    let (mut found, mut recovered) = (Vec::new(), 0);
    let mut pos = SEGMENT_HEADER_LEN;
    // The bytes from `pos` on, while there are any.
    while let Some(rest) = bytes.get(pos..).filter(|r| !r.is_empty()) {
        let (rec, used) = match parse_record(rest) {
            Ok(r) => r,
            Err(e) => {
                let next = resync(bytes, pos);
                found.push(damage(pos, next - pos, &e.to_string()));
                pos = next;
                continue;
            }
        };
        let after_damage = !found.is_empty();
        match judge(rec, pos, used) {
            Err(reason) => found.push(damage(pos, used, &reason)),
            Ok(()) => recovered += usize::from(after_damage),
        }
        pos += used;
    }
    (found, recovered)
}

/// Gauge segment magic, `"TAILGAU\0"`.
pub const GAUGE_MAGIC: [u8; 8] = *b"TAILGAU\0";
/// The version of gauge segment files (the store format version that
/// added them; request segments stay at [`FORMAT_VERSION`]).
pub const GAUGE_FORMAT_VERSION: u16 = 3;

/// The gauge segment file name for `level` and the bucket containing `start_s`.
#[must_use]
pub fn gauge_segment_name(level: u8, start_s: u64) -> String {
    let b = start_s - start_s % bucket_len_s(level);
    format!("G{level}-{b:020}.seg")
}

/// Parses a gauge segment file name into `(level, bucket start)`.
pub fn parse_gauge_segment_name(name: &str) -> Option<(u8, u64)> {
    parse_segment_name(&format!("L{}", name.strip_prefix('G')?))
}

/// The 32-byte header of a new gauge segment of `level`: the magic, the
/// version, the level, 17 zero bytes, the CRC.
#[must_use]
pub fn gauge_header(level: u8) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(&GAUGE_MAGIC);
    h[OFF_VERSION..OFF_VERSION + 2].copy_from_slice(&GAUGE_FORMAT_VERSION.to_le_bytes());
    h[OFF_LEVEL] = level;
    let crc = crc32c::crc32c(&h[..OFF_CRC]);
    h[OFF_CRC..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// One piece of a gauge found by a scan.
#[derive(Clone, Debug, PartialEq)]
pub struct GaugePiece {
    /// The gauge.
    pub series: Arc<str>,
    /// Start of the piece (unix seconds).
    pub start_s: u64,
    /// A late delta (merges into the piece stored before it).
    pub late: bool,
    /// The aggregates (`last_s` absolute).
    pub agg: tailstore_hist::GaugeAgg,
}

/// The result of scanning one gauge segment's bytes.
#[derive(Debug, Default)]
pub struct GaugeScan {
    /// Valid gauge pieces, in file order.
    pub pieces: Vec<GaugePiece>,
    /// Series ids defined in the file, and their names.
    pub series: HashMap<u64, Arc<str>>,
    /// Damaged regions, in file order.
    pub damage: Vec<Damage>,
    /// Valid records found after a damaged region.
    pub recovered: usize,
}

/// Scans a gauge segment's bytes (`docs/FORMAT.md`, "Gauge files"): every
/// record's framing and CRC, the series dictionary, every gauge piece
/// decoded. A newer version is an error; anything else wrong is damage:
/// reported, skipped, and the scan resumes at the next record magic. Never
/// panics, whatever the bytes.
///
/// # Errors
///
/// [`Error::UnsupportedVersion`] for a gauge segment of another version.
pub fn scan_gauge_segment(
    bytes: &[u8],
    path: &Path,
    level: u8,
    bucket_s: u64,
) -> Result<GaugeScan, Error> {
    let mut scan = GaugeScan::default();
    let damage = |offset: usize, skipped: usize, reason: &str| Damage {
        path: path.to_path_buf(),
        offset: offset as u64,
        skipped: skipped as u64,
        reason: reason.to_string(),
    };
    let header = match bytes.first_chunk::<SEGMENT_HEADER_LEN>() {
        None if bytes.is_empty() => Err("empty gauge segment file (no header): its data never reached the disk, e.g. a power loss"),
        None => Err("truncated gauge segment header"),
        Some(h) if h[..8] != GAUGE_MAGIC => Err("bad gauge segment magic"),
        Some(h) if crc32c::crc32c(&h[..OFF_CRC]) != u32::from_le_bytes([h[OFF_CRC], h[OFF_CRC + 1], h[OFF_CRC + 2], h[OFF_CRC + 3]]) => {
            Err("gauge segment header checksum mismatch")
        }
        Some(h) => {
            let version = u16::from_le_bytes([h[OFF_VERSION], h[OFF_VERSION + 1]]);
            if version != GAUGE_FORMAT_VERSION {
                return Err(Error::UnsupportedVersion {
                    path: path.to_path_buf(),
                    version,
                    supported: GAUGE_FORMAT_VERSION,
                });
            }
            if *h == gauge_header(level) {
                Ok(())
            } else {
                Err("gauge segment level differs from its file name, or reserved bytes are set")
            }
        }
    };
    if let Err(reason) = header {
        scan.damage.push(damage(0, bytes.len(), reason));
        return Ok(scan);
    }
    let span_len = u64::from(span_s(level));
    let slots = bucket_len_s(level) / span_len;
    let walked = walk_records(bytes, path, |rec, _, _| {
        match rec {
            Record::Series { id, name } => {
                define(&mut scan.series, id, name)?;
            }
            Record::Interval { .. } => {
                return Err("request interval record in a gauge segment".into());
            }
            Record::Gauge { series, slot, late, mut agg } => {
                let Some(name) = scan.series.get(&series) else {
                    return Err("gauge piece of an undefined series id".into());
                };
                if slot >= slots {
                    return Err("gauge piece starts outside the file's time bucket".into());
                }
                if agg.last_s >= span_len {
                    return Err("gauge piece's last sample lies outside its span".into());
                }
                let start_s = bucket_s + slot * span_len;
                agg.last_s += start_s;
                scan.pieces.push(GaugePiece { series: name.clone(), start_s, late, agg });
            }
        }
        Ok(())
    });
    (scan.damage, scan.recovered) = walked;
    Ok(scan)
}

/// Decodes the interval record of `len` bytes at `offset` in a segment of
/// `level` and bucket `bucket_s` (an [`Entry`] found by a scan of the same
/// bytes): the framing and CRC are checked again.
///
/// # Errors
///
/// A [`ChunkError`] when the record is not inside `bytes`, is not an
/// interval record of exactly `len` bytes, fails a framing or checksum
/// check, or its payload does not decode for `layout`.
pub(crate) fn read_entry(
    bytes: &[u8],
    level: u8,
    bucket_s: u64,
    offset: u64,
    len: u32,
    layout: &Layout,
) -> Result<(Interval, bool), ChunkError> {
    let rec = usize::try_from(offset)
        .ok()
        .and_then(|at| bytes.get(at..at.checked_add(len as usize)?))
        .ok_or(ChunkError::OutOfBounds { offset, len, file_len: bytes.len() })?;
    let (rec, used) = parse_record(rec)?;
    let Record::Interval { slot, late, stored, zstd, .. } = rec else {
        return Err(ChunkError::NotInterval);
    };
    if used != len as usize {
        return Err(ChunkError::LengthMismatch { indexed: len, found: used });
    }
    let span = span_s(level);
    let start_s = bucket_s + slot * u64::from(span);
    Ok((decode_interval(stored, zstd, layout, start_s, span)?, late))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(segment_name(0, 7_201), "L0-00000000000000007200.seg");
        assert_eq!(parse_segment_name("L0-00000000000000007200.seg"), Some((0, 7200)));
        assert_eq!(parse_segment_name("L1-00000000000000007200.seg"), None, "not a day boundary");
        assert_eq!(parse_segment_name("L3-00000000000000000000.seg"), None);
        assert_eq!(parse_segment_name("L0-7200.seg"), None);
        assert_eq!(parse_segment_name("tailstore.lock"), None);
    }
}

#[cfg(test)]
mod scan_tests {
    use super::*;
    use crate::chunk::{encode_interval_record, encode_series_record};

    #[test]
    fn resync_after_damage_recovers_later_records() {
        let layout = Layout::default();
        let mut file = segment_header(0, &layout).to_vec();
        file.extend(encode_series_record(0, "x").unwrap());
        let mut offsets = Vec::new();
        for s in 0..5u64 {
            offsets.push(file.len());
            let mut iv = Interval::empty(3600 + s, 1);
            iv.status = tailstore_hist::StatusCounts::from_pairs([(200, s + 1)]);
            file.extend(encode_interval_record(0, s, &iv, false, &layout, 1).unwrap());
        }
        file[offsets[1] + 5] ^= 0x40; // damage record 1
        for decode in [false, true] {
            let scan =
                scan_segment(&file, Path::new("L0-x.seg"), 0, 3600, &layout, decode).unwrap();
            assert_eq!(scan.entries.len(), 4);
            assert_eq!(scan.intervals.len(), if decode { 4 } else { 0 });
            assert_eq!(scan.damage.len(), 1);
            assert_eq!(scan.damage[0].offset, offsets[1] as u64);
            assert_eq!(scan.recovered, 3);
            assert_eq!(scan.valid_end, file.len() as u64);
            let e = &scan.entries[2];
            assert_eq!((e.start_s, &*e.series), (3603, "x"));
            let (iv, late) = read_entry(&file, 0, 3600, e.offset, e.len, &layout).unwrap();
            assert_eq!((iv.requests(), late), (4, false));
            // A location that does not fit the bytes says how.
            let end = file.len() as u64;
            assert_eq!(
                read_entry(&file, 0, 3600, end, e.len, &layout),
                Err(ChunkError::OutOfBounds { offset: end, len: e.len, file_len: file.len() })
            );
            assert_eq!(
                read_entry(&file, 0, 3600, e.offset, e.len + 1, &layout),
                Err(ChunkError::LengthMismatch { indexed: e.len + 1, found: e.len as usize })
            );
            let series_len = u32::try_from(offsets[0] - SEGMENT_HEADER_LEN).unwrap();
            assert_eq!(
                read_entry(&file, 0, 3600, SEGMENT_HEADER_LEN as u64, series_len, &layout),
                Err(ChunkError::NotInterval)
            );
        }
        // A newer version is an error, not damage; so is another layout.
        let mut newer = file.clone();
        newer[8] = 9;
        let crc = crc32c::crc32c(&newer[..28]);
        newer[28..32].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            scan_segment(&newer, Path::new("L0-x.seg"), 0, 3600, &layout, false),
            Err(Error::UnsupportedVersion { version: 9, .. })
        ));
        let other = Layout::new(2, 1_000, 1_000_000_000).unwrap();
        assert!(matches!(
            scan_segment(&file, Path::new("L0-x.seg"), 0, 3600, &other, false),
            Err(Error::LayoutMismatch { .. })
        ));
        // An interval before its series is defined, or outside the bucket.
        let mut orphan = segment_header(0, &layout).to_vec();
        orphan.extend(
            encode_interval_record(4, 0, &Interval::empty(3600, 1), false, &layout, 1).unwrap(),
        );
        orphan.extend(encode_series_record(4, "y").unwrap());
        orphan.extend(
            encode_interval_record(4, 3600, &Interval::empty(7200, 1), false, &layout, 1).unwrap(),
        );
        let scan = scan_segment(&orphan, Path::new("L0-x.seg"), 0, 3600, &layout, false).unwrap();
        assert_eq!((scan.entries.len(), scan.damage.len()), (0, 2));
    }
}
