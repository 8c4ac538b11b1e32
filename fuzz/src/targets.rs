//! The bodies of the fuzz targets. Each takes arbitrary bytes and must never
//! panic; where decoding succeeds, the result must round-trip.

use tailstore_hist::{Accumulator, Layout};
use tailstore_storage::internals::{
    decode_interval, decode_varint_pairs, encode_gauge_record, encode_interval_record,
    encode_series_record, encode_varint_pairs, parse_record, scan_gauge_segment, scan_segment,
    Record,
};

/// `decode_hist`: arbitrary bytes as a sparse histogram of the default
/// layout in its varint-pairs encoding. Decoding either fails with an error or yields a
/// histogram that re-encodes to the same bytes and merges without panicking.
pub fn decode_hist(data: &[u8]) {
    let layout = Layout::default();
    let Ok(h) = decode_varint_pairs(data, layout.len()) else { return };
    let again = encode_varint_pairs(&h);
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

/// `decode_chunk`: arbitrary bytes as a record. Rejected, or parsed into a
/// record that re-encodes to a record that parses equal; an interval record
/// whose payload decodes re-encodes to a payload that decodes equal.
pub fn decode_chunk_target(data: &[u8]) {
    let layout = Layout::default();
    let Ok((rec, used)) = parse_record(data) else { return };
    assert!(used <= data.len());
    match rec {
        Record::Series { id, name } => {
            let again = encode_series_record(id, name).expect("a parsed name re-encodes");
            assert_eq!(again, &data[..used], "series records are canonical");
        }
        Record::Interval { series, slot, late, stored, zstd } => {
            let Ok(iv) = decode_interval(stored, zstd, &layout, 3600, 1) else { return };
            for level in [-5, 1] {
                let again = encode_interval_record(series, slot, &iv, late, &layout, level)
                    .expect("a decoded interval re-encodes");
                let (back, n) = parse_record(&again).expect("a re-encoded record parses");
                assert_eq!(n, again.len());
                let Record::Interval { stored, zstd, .. } = back else { panic!("kind changed") };
                let iv2 = decode_interval(stored, zstd, &layout, 3600, 1).expect("decodes");
                assert_eq!(iv2, iv);
            }
            let mut acc = Accumulator::new(layout);
            acc.add_interval(&iv);
            let _ = acc.quantile_ns(0.99);
        }
        Record::Gauge { series, slot, late, agg } => {
            // Relative `last_s` is the offset in the piece: at start 0 the
            // record re-encodes byte for byte.
            let again = encode_gauge_record(series, slot, 0, &agg, late)
                .expect("a parsed gauge piece re-encodes");
            assert_eq!(again, &data[..used], "gauge records are canonical");
        }
    }
}

/// `open_dir`: arbitrary bytes as the contents of a level-0 segment file.
/// Scanning (with payloads decoded) never panics, and every byte is either
/// in a valid record, in a reported damaged region, or the segment header.
pub fn open_dir_target(data: &[u8]) {
    let layout = Layout::default();
    let path = std::path::Path::new("L0-00000000000000000000.seg");
    let Ok(scan) = scan_segment(data, path, 0, 0, &layout, true) else { return };
    let damaged: u64 = scan.damage.iter().map(|d| d.skipped).sum();
    assert!(damaged <= data.len() as u64);
    assert!(scan.valid_end <= data.len() as u64);
    assert_eq!(scan.entries.len(), scan.intervals.len());
    // The same bytes as a gauge segment: never a panic either.
    let gpath = std::path::Path::new("G0-00000000000000000000.seg");
    if let Ok(g) = scan_gauge_segment(data, gpath, 0, 0) {
        let damaged: u64 = g.damage.iter().map(|d| d.skipped).sum();
        assert!(damaged <= data.len() as u64);
        assert!(g.pieces.iter().all(|p| p.agg.count >= 1 && p.agg.last_s >= p.start_s));
    }
}
