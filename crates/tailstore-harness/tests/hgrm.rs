//! `.hgrm` against golden files that Java's `outputPercentileDistribution`
//! printed (`tests/data/*.hgrm`; the `hdr_tools` group runs Java itself on
//! random data).

use tailstore::Layout;
use tailstore_harness::{write_hgrm, HgrmOptions};

use crate::data::{latencies, store_with, window};

/// Our `.hgrm` of `values` recorded in a store of `layout`.
pub fn ours(layout: Layout, values: &[u64], opts: &HgrmOptions) -> String {
    let store = store_with(layout, "s", values);
    let mut out = Vec::new();
    write_hgrm(&mut out, &window(&store, "s"), opts).unwrap();
    String::from_utf8(out).unwrap()
}

/// `tests/data/lognormal-10k.hgrm` is what
/// `java -cp hdrhistogram.jar:. HgrmCheck 1 3600000000000 3 5 1000000`
/// (Debian's libhdrhistogram-java 2.1.11) printed for these values
/// (`tests/java/HgrmCheck.java`).
#[test]
fn equals_java_output_for_lognormal_latencies_in_ms() {
    let values = latencies(42, 10_000);
    let got = ours(Layout::default(), &values, &HgrmOptions::default());
    assert_eq!(got, include_str!("data/lognormal-10k.hgrm"));
}

/// The same values in microseconds at 2 significant digits (Java:
/// `HgrmCheck 1 3600000000000 2 5 1000`).
#[test]
fn equals_java_output_at_two_digits_in_us() {
    let values = latencies(42, 10_000);
    let layout = Layout::new(2, 1, 3_600_000_000_000).unwrap();
    let opts = HgrmOptions { ticks_per_half_distance: 5, value_unit_ratio: 1e3 };
    assert_eq!(ours(layout, &values, &opts), include_str!("data/lognormal-10k-2d-us.hgrm"));
}
