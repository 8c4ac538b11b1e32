//! The bodies of the fuzz targets. Each takes arbitrary bytes and must never
//! panic; where decoding succeeds, the result must round-trip.

use tailstore_hist::{Accumulator, Layout, SparseHist};
use tailstore_storage::{decode_chunk, encode_chunk, scan_segment};

/// `decode_hist`: arbitrary bytes as an encoded sparse histogram of the
/// default layout. Decoding either fails with an error or yields a
/// histogram that re-encodes to the same bytes and merges without panicking.
pub fn decode_hist(data: &[u8]) {
    let layout = Layout::default();
    let Ok(h) = SparseHist::decode_varint(data, layout.len()) else { return };
    let again = h.encode_varint();
    assert_eq!(again, data, "a decoded histogram re-encodes to its input");
    assert_eq!(h.iter().fold(0u64, |a, p| a.saturating_add(p.1)), h.total());
    let mut acc = Accumulator::new(layout);
    acc.add_hist(&h);
    assert_eq!(acc.total(), h.total());
    if h.total() > 0 {
        assert!(acc.quantile_ns(0.5).is_some());
    }
    let merged = h.merged(&h);
    let sum = merged.iter().fold(0u64, |a, p| a.saturating_add(p.1));
    assert_eq!(merged.total(), sum);
    assert!(merged.total() >= h.total());
}

/// `decode_chunk`: arbitrary bytes as a chunk. Rejected, or decoded into
/// intervals that re-encode (raw or zstd) to a chunk that decodes equal.
pub fn decode_chunk_target(data: &[u8]) {
    let layout = Layout::default();
    let Ok((chunk, used)) = decode_chunk(data, layout.len()) else { return };
    assert!(used <= data.len());
    let again =
        encode_chunk(&chunk.series, &chunk.intervals, 1).expect("a decoded chunk re-encodes");
    let (back, n) = decode_chunk(&again, layout.len()).expect("a re-encoded chunk decodes");
    assert_eq!(n, again.len());
    assert_eq!(back, chunk);
    let mut acc = Accumulator::new(layout);
    for s in &chunk.intervals {
        acc.add_interval(&s.interval);
    }
    let _ = acc.quantile_ns(0.99);
}

/// `open_dir`: arbitrary bytes as the contents of a level-0 segment file.
/// Scanning never panics, and every byte is either in a valid chunk, in a
/// reported damaged region, or the segment header.
pub fn open_dir_target(data: &[u8]) {
    let layout = Layout::default();
    let path = std::path::Path::new("L0-00000000000000000000.seg");
    let Ok(scan) = scan_segment(data, path, 0, layout.len()) else { return };
    let damaged: u64 = scan.damage.iter().map(|d| d.skipped).sum();
    assert!(damaged <= data.len() as u64);
    assert!(scan.valid_end <= data.len() as u64);
}
