//! The closed-loop correction against `hdrhistogram::Histogram::record_correct`.

use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::Histogram;
use proptest::prelude::*;
use tailstore::{Layout, Options, Store};
use tailstore_harness::ClosedLoop;

use crate::data::{window, T0_S};

/// Highest value of both histograms: 10 s (a 5-digit `hdrhistogram` of
/// this range is 17 MB, so the property stays fast).
const HIGHEST_NS: u64 = 10_000_000_000;

/// Records `(value, interval)` pairs with tailstore's correction and with
/// `record_correct`, then compares every bucket.
fn compare(digits: u8, samples: &[(u64, u64)]) -> Result<(), TestCaseError> {
    // lowest 1 ns: tailstore's unit is 1 ns at every digit count, as
    // hdrhistogram's with lowest discernible value 1.
    let layout = Layout::new(digits, 1, HIGHEST_NS).unwrap();
    let store = Store::in_memory(Options::default().layout(layout));
    let mut h = Histogram::<u64>::new_with_bounds(1, HIGHEST_NS, digits).unwrap();
    let at = UNIX_EPOCH + Duration::from_secs(T0_S);
    for &(value, interval) in samples {
        let c = ClosedLoop::new(&store, "s", Duration::from_nanos(interval));
        c.record_at(at, Duration::from_nanos(value), 200);
        h.record_correct(value, interval).unwrap();
    }
    let w = window(&store, "s");
    let buckets: Vec<(u32, u64)> = w.accumulator().to_sparse().iter().collect();
    prop_assert_eq!(w.latency_count(), h.len(), "total count");
    for &(idx, count) in &buckets {
        let lo = layout.lowest_equivalent(idx);
        let hi = lo + layout.width(idx) - 1;
        // Equal precision: the same bucket bounds in both.
        prop_assert_eq!(h.lowest_equivalent(lo), lo, "bucket {} lowest", idx);
        prop_assert_eq!(h.highest_equivalent(lo), hi, "bucket {} highest", idx);
        prop_assert_eq!(h.count_at(lo), count, "bucket {} [{}, {}]", idx, lo, hi);
    }
    // And nothing in hdrhistogram outside tailstore's buckets.
    let theirs: u64 =
        buckets.iter().map(|&(idx, _)| h.count_at(layout.lowest_equivalent(idx))).sum();
    prop_assert_eq!(theirs, h.len());
    // The uncorrected twin holds the samples as measured.
    prop_assert_eq!(window(&store, "s:uncorrected").latency_count(), samples.len() as u64);
    Ok(())
}

/// A sample: an interval (small ones too, where buckets are 1 ns wide) and
/// a value of up to 300 intervals, often an exact multiple of the interval
/// or one below it (where the loop's `>=` decides), else anywhere between.
fn sample() -> impl Strategy<Value = (u64, u64)> {
    prop_oneof![1u64..=1_000, 1_000u64..=20_000_000].prop_flat_map(|interval| {
        let rest = prop_oneof![Just(0), Just(interval - 1), 0..interval];
        (0u64..=300, rest).prop_map(move |(k, r)| ((interval * k + r).min(HIGHEST_NS), interval))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn same_counts_as_hdrhistogram_record_correct(
        digits in 1u8..=5,
        samples in prop::collection::vec(sample(), 1..40),
    ) {
        let _heavy = crate::heavy();
        compare(digits, &samples)?;
    }
}

#[test]
fn a_stall_adds_the_hidden_samples() {
    // One 1 s response at a 10 ms interval: HdrHistogram adds 990, 980, …,
    // 10 ms (99 values); exactly those, in 3-digit buckets.
    compare(3, &[(1_000_000_000, 10_000_000)]).unwrap();
    let layout = Layout::new(3, 1, HIGHEST_NS).unwrap();
    let store = Store::in_memory(Options::default().layout(layout));
    let c = ClosedLoop::new(&store, "s", Duration::from_millis(10));
    c.record_at(UNIX_EPOCH + Duration::from_secs(T0_S), Duration::from_secs(1), 200);
    let w = window(&store, "s");
    assert_eq!(w.latency_count(), 100);
    let p50 = w.quantile(0.5).unwrap().as_secs_f64();
    assert!((p50 - 0.5).abs() < 0.001, "median of 10 ms .. 1 s: {p50}");
    assert_eq!(window(&store, "s:uncorrected").latency_count(), 1);
}

#[test]
fn zero_interval_records_as_measured() {
    compare(3, &[(5_000_000, 0), (7, 0)]).unwrap();
}
