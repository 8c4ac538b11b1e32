//! Segment files: header, and scanning chunks with resynchronisation.

use std::path::{Path, PathBuf};

use crate::chunk::{decode_chunk, Chunk, CHUNK_MAGIC};
use crate::error::Error;

/// Segment magic, `"TAILSEG\0"`.
pub const SEGMENT_MAGIC: [u8; 8] = *b"TAILSEG\0";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
const OFF_VERSION: usize = 8;
const OFF_LEVEL: usize = OFF_VERSION + 2;
const OFF_RESERVED: usize = OFF_LEVEL + 1;
const OFF_CRC: usize = OFF_RESERVED + 1;
/// Bytes of the segment header.
pub const SEGMENT_HEADER_LEN: usize = OFF_CRC + 4;

/// Rollup levels stored.
pub const LEVELS: u8 = 3;

/// Time-bucket length of each level's segment files, in seconds.
pub fn bucket_len_s(level: u8) -> u64 {
    match level {
        0 => 3_600,
        1 => 86_400,
        _ => 2_592_000,
    }
}

/// The segment file name for `level` and the bucket containing `start_s`.
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

/// The 16-byte header of a new segment of `level`.
pub fn segment_header(level: u8) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(&SEGMENT_MAGIC);
    h[OFF_VERSION..OFF_VERSION + 2].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[OFF_LEVEL] = level;
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

/// The result of scanning one segment's bytes.
#[derive(Debug, Default)]
pub struct SegmentScan {
    /// Valid chunks, in file order, with their offsets.
    pub chunks: Vec<(u64, Chunk)>,
    /// Damaged regions, in file order.
    pub damage: Vec<Damage>,
    /// Offset just past the last valid chunk (where a torn tail starts).
    pub valid_end: u64,
    /// Valid chunks found after a damaged region (by resynchronising on
    /// the chunk magic): what the scan recovered.
    pub recovered: usize,
}

/// Scans a segment's bytes. A bad header is an error for a newer version,
/// damage otherwise; a damaged chunk is reported and the scan resumes at the
/// next chunk magic. Never panics, whatever the bytes.
pub fn scan_segment(
    bytes: &[u8],
    path: &Path,
    level: u8,
    layout_len: usize,
) -> Result<SegmentScan, Error> {
    let mut scan = SegmentScan::default();
    let whole = |reason: &str| Damage {
        path: path.to_path_buf(),
        offset: 0,
        skipped: bytes.len() as u64,
        reason: reason.to_string(),
    };
    let Some(h) = bytes.get(..SEGMENT_HEADER_LEN) else {
        if !bytes.is_empty() {
            scan.damage.push(whole("truncated segment header"));
        }
        return Ok(scan);
    };
    if h[..8] != SEGMENT_MAGIC {
        scan.damage.push(whole("bad segment magic"));
        return Ok(scan);
    }
    let crc = u32::from_le_bytes([h[OFF_CRC], h[OFF_CRC + 1], h[OFF_CRC + 2], h[OFF_CRC + 3]]);
    if crc32c::crc32c(&h[..OFF_CRC]) != crc {
        scan.damage.push(whole("segment header checksum mismatch"));
        return Ok(scan);
    }
    let version = u16::from_le_bytes([h[OFF_VERSION], h[OFF_VERSION + 1]]);
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            version,
            supported: FORMAT_VERSION,
        });
    }
    if h[OFF_LEVEL] != level {
        scan.damage.push(whole("segment level differs from its file name"));
        return Ok(scan);
    }
    let mut pos = SEGMENT_HEADER_LEN;
    scan.valid_end = pos as u64;
    let finder = memchr::memmem::Finder::new(&CHUNK_MAGIC);
    while pos < bytes.len() {
        match decode_chunk(&bytes[pos..], layout_len) {
            Ok((chunk, used)) => {
                if !scan.damage.is_empty() {
                    scan.recovered += 1;
                }
                scan.chunks.push((pos as u64, chunk));
                pos += used;
                scan.valid_end = pos as u64;
            }
            Err(e) => {
                let next = finder.find(&bytes[pos + 1..]).map_or(bytes.len(), |i| pos + 1 + i);
                scan.damage.push(Damage {
                    path: path.to_path_buf(),
                    offset: pos as u64,
                    skipped: (next - pos) as u64,
                    reason: e.reason,
                });
                pos = next;
            }
        }
    }
    Ok(scan)
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
    use crate::chunk::encode_chunk;
    use crate::codec::StoredInterval;
    use tailstore_hist::Interval;

    #[test]
    fn resync_after_damage_recovers_later_chunks() {
        let mut file = segment_header(0).to_vec();
        let mut offsets = Vec::new();
        for s in 0..5u64 {
            offsets.push(file.len());
            let iv = StoredInterval { interval: Interval::empty(3600 + s, 1), late: false };
            file.extend(encode_chunk("x", &[iv], 1).unwrap());
        }
        file[offsets[1] + 9] ^= 0x40; // damage chunk 1
        let scan = scan_segment(&file, Path::new("L0-x.seg"), 0, 33_792).unwrap();
        assert_eq!(scan.chunks.len(), 4);
        assert_eq!(scan.damage.len(), 1);
        assert_eq!(scan.damage[0].offset, offsets[1] as u64);
        assert_eq!(scan.recovered, 3);
        assert_eq!(scan.valid_end, file.len() as u64);
        // A newer version is an error, not damage.
        let mut newer = file.clone();
        newer[8] = 9;
        let crc = crc32c::crc32c(&newer[..12]);
        newer[12..16].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            scan_segment(&newer, Path::new("L0-x.seg"), 0, 33_792),
            Err(Error::UnsupportedVersion { version: 9, .. })
        ));
    }
}
