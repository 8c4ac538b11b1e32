//! Chunk framing: header, series name, checksummed (optionally zstd) payload.

use crate::codec::{decode_payload, encode_payload, StoredInterval};

/// Chunk magic, `"CHNK"`.
pub const CHUNK_MAGIC: [u8; 4] = *b"CHNK";
/// Chunk kind: intervals.
pub const KIND_INTERVALS: u8 = 1;
/// Codec: payload stored raw.
pub const CODEC_RAW: u8 = 0;
/// Codec: payload is one zstd frame.
pub const CODEC_ZSTD: u8 = 1;
/// Largest decompressed payload a reader accepts.
pub const MAX_RAW_LEN: u32 = 64 << 20;

const OFF_MAGIC: usize = 0;
const OFF_KIND: usize = OFF_MAGIC + 4;
const OFF_CODEC: usize = OFF_KIND + 1;
const OFF_NAME_LEN: usize = OFF_CODEC + 1;
const OFF_STORED_LEN: usize = OFF_NAME_LEN + 2;
const OFF_RAW_LEN: usize = OFF_STORED_LEN + 4;
const OFF_CRC: usize = OFF_RAW_LEN + 4;
/// Bytes of the fixed chunk header.
pub const HEADER_LEN: usize = OFF_CRC + 4;

/// A decoded chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Series name.
    pub series: String,
    /// Intervals, in stored order.
    pub intervals: Vec<StoredInterval>,
}

/// Why a chunk was rejected, and how far a scan may skip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkError {
    /// What check failed.
    pub reason: String,
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Encodes a chunk. Returns `None` when the series name is longer than
/// 65 535 bytes or the payload exceeds 64 MiB (callers split).
pub fn encode_chunk(
    series: &str,
    intervals: &[StoredInterval],
    zstd_level: i32,
) -> Option<Vec<u8>> {
    let name_len = u16::try_from(series.len()).ok()?;
    let raw = encode_payload(intervals);
    let raw_len = u32::try_from(raw.len()).ok().filter(|l| *l <= MAX_RAW_LEN)?;
    // zstd on a small buffer cannot fail except on allocation; fall back to raw.
    let (codec, stored) = match zstd::bulk::compress(&raw, zstd_level) {
        Ok(z) if z.len() < raw.len() => (CODEC_ZSTD, z),
        _ => (CODEC_RAW, raw),
    };
    let stored_len = u32::try_from(stored.len()).ok()?;
    let mut out = Vec::with_capacity(HEADER_LEN + series.len() + stored.len());
    out.extend_from_slice(&CHUNK_MAGIC);
    out.push(KIND_INTERVALS);
    out.push(codec);
    out.extend_from_slice(&name_len.to_le_bytes());
    out.extend_from_slice(&stored_len.to_le_bytes());
    out.extend_from_slice(&raw_len.to_le_bytes());
    let crc = crc32c::crc32c_append(
        crc32c::crc32c_append(crc32c::crc32c(&out[..OFF_CRC]), series.as_bytes()),
        &stored,
    );
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(series.as_bytes());
    out.extend_from_slice(&stored);
    Some(out)
}

/// Decodes the chunk at the start of `bytes` for a layout of `layout_len`
/// buckets. On success returns the chunk and its length in bytes.
///
/// Every length is checked against `bytes` before use, the checksum before
/// decompressing, the decompressed length against the header.
pub fn decode_chunk(bytes: &[u8], layout_len: usize) -> Result<(Chunk, usize), ChunkError> {
    let err = |reason: &str| ChunkError { reason: reason.to_string() };
    let header = bytes.get(..HEADER_LEN).ok_or_else(|| err("truncated chunk header"))?;
    if header[OFF_MAGIC..OFF_MAGIC + 4] != CHUNK_MAGIC {
        return Err(err("bad chunk magic"));
    }
    if header[OFF_KIND] != KIND_INTERVALS {
        return Err(err("unknown chunk kind"));
    }
    let codec = header[OFF_CODEC];
    if codec != CODEC_RAW && codec != CODEC_ZSTD {
        return Err(err("unknown codec"));
    }
    let name_len = usize::from(le_u16(header, OFF_NAME_LEN));
    let stored_len = le_u32(header, OFF_STORED_LEN) as usize;
    let raw_len = le_u32(header, OFF_RAW_LEN);
    let crc = le_u32(header, OFF_CRC);
    if raw_len > MAX_RAW_LEN {
        return Err(err("declared payload larger than 64 MiB"));
    }
    let total = HEADER_LEN + name_len + stored_len;
    let body = bytes
        .get(HEADER_LEN..total)
        .ok_or_else(|| err("chunk extends past the end of the file"))?;
    let (name, stored) = body.split_at(name_len);
    let want = crc32c::crc32c_append(
        crc32c::crc32c_append(crc32c::crc32c(&header[..OFF_CRC]), name),
        stored,
    );
    if want != crc {
        return Err(err("checksum mismatch"));
    }
    let series =
        std::str::from_utf8(name).map_err(|_| err("series name is not UTF-8"))?.to_string();
    let raw_owned;
    let raw: &[u8] = if codec == CODEC_ZSTD {
        raw_owned = zstd::bulk::decompress(stored, raw_len as usize)
            .map_err(|e| err(&format!("zstd: {e}")))?;
        &raw_owned
    } else {
        stored
    };
    if raw.len() != raw_len as usize {
        return Err(err("decompressed length differs from the header"));
    }
    let intervals = decode_payload(raw, layout_len)
        .map_err(|(at, why)| err(&format!("payload byte {at}: {why}")))?;
    Ok((Chunk { series, intervals }, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailstore_hist::{Interval, SparseHist, StatusCounts};

    pub(crate) fn sample_chunk() -> (String, Vec<StoredInterval>) {
        let mut iv = Interval::empty(3600, 1);
        iv.hist = SparseHist::from_sorted((100..400).map(|i| (i, u64::from(i % 7 + 1)))).unwrap();
        iv.status = StatusCounts::from_pairs([(200, 1000), (503, 3)]);
        iv.min_ns = 100;
        iv.max_ns = 399;
        iv.sum_ns = 123_456;
        ("/models/a".to_string(), vec![StoredInterval { interval: iv, late: false }])
    }

    #[test]
    fn roundtrip_and_every_truncation_and_flip_is_caught() {
        let (name, ivs) = sample_chunk();
        let bytes = encode_chunk(&name, &ivs, 3).unwrap();
        let (c, used) = decode_chunk(&bytes, 33_792).unwrap();
        assert_eq!((c.series.as_str(), &c.intervals, used), (name.as_str(), &ivs, bytes.len()));
        for cut in 0..bytes.len() {
            assert!(decode_chunk(&bytes[..cut], 33_792).is_err(), "cut {cut}");
        }
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                assert!(decode_chunk(&b, 33_792).is_err(), "flip byte {i} bit {bit:#x}");
            }
        }
    }

    /// Golden bytes of a tiny raw chunk; the same hex is in docs/FORMAT.md.
    #[test]
    fn golden_raw_chunk() {
        let iv = Interval::empty(60, 60);
        let bytes = encode_chunk("a", &[StoredInterval { interval: iv, late: true }], 3).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, GOLDEN);
    }

    const GOLDEN: &str =
        "43484e4b010001001500000015000000779828aa61013c3c01ffffffffffffffffff0100000000000000";
}
