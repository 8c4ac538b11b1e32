//! The bodies of the fuzz targets. Each takes arbitrary bytes and must never
//! panic; where decoding succeeds, the result must round-trip.

use tailstore_hist::{Accumulator, Layout, SparseHist};

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
