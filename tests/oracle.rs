//! Property tests: every quantile path against an exact sorted-sample oracle,
//! over random distributions, arrival orders, windows crossing rollup
//! boundaries, sealed and unsealed data, and multi-series selectors.

use std::time::Duration;

use proptest::prelude::*;
use tailstore::{Layout, Options, Selector, Store};

use crate::util::{at, check, secs, Dist, Oracle, Rng, Sample, STATUSES};

/// 20 s before an hour boundary (`1_700_002_800` is a whole hour).
const BASE: u64 = 1_700_002_780;

fn dist_strategy() -> impl Strategy<Value = Dist> {
    prop_oneof![
        (1_000.0f64..5e9, 0.05f64..2.0)
            .prop_map(|(median_ns, sigma)| Dist::LogNormal { median_ns, sigma }),
        (1e5f64..1e7, 1e8f64..3e9, 0.001f64..0.5).prop_map(|(a_ns, b_ns, p_b)| Dist::Bimodal {
            a_ns,
            b_ns,
            p_b
        }),
        (1e4f64..1e7, 0.3f64..3.0)
            .prop_map(|(scale_ns, alpha)| Dist::HeavyTail { scale_ns, alpha }),
        (0u64..10_000_000_000).prop_map(Dist::Constant),
        Just(Dist::Tiny),
    ]
}

struct Case {
    samples: Vec<Sample>,
    store: Store,
    names: [&'static str; 3],
}

fn build(seed: u64, n: usize, span_s: u64, dist: Dist, lateness_s: u64, shuffle: bool) -> Case {
    let mut r = Rng(seed);
    let store = Store::in_memory(
        Options::default().keep_everything().lateness(Duration::from_secs(lateness_s)),
    );
    let names = ["/models/a/predict", "/models/b/predict", "/health"];
    let mut samples: Vec<Sample> = (0..n)
        .map(|_| Sample {
            series: r.index(3),
            second: BASE + r.below(span_s),
            latency_ns: dist.sample(&mut r),
            status: if r.below(50) == 0 { 1000 } else { STATUSES[r.index(10)] },
        })
        .collect();
    if !shuffle {
        samples.sort_by_key(|s| s.second);
    }
    let series: Vec<_> = names.iter().map(|n| store.series(n)).collect();
    for (i, s) in samples.iter().enumerate() {
        let frac = u32::try_from(r.below(1_000_000_000)).unwrap();
        series[s.series].record_at(
            at(s.second, frac),
            Duration::from_nanos(s.latency_ns),
            s.status,
        );
        // Seal now and then, so queries mix sealed pieces, late deltas and open data.
        if i % 997 == 0 {
            store.seal_now();
        }
    }
    Case { samples, store, names }
}

fn check_windows(c: &Case, r: &mut Rng, span_s: u64, windows: usize) {
    let layout = Layout::default();
    let highest = layout.highest_ns();
    let rel = layout.relative_error();
    for _ in 0..windows {
        let from = BASE - 5 + r.below(span_s + 10);
        let to = from + r.below(span_s + 15);
        // Single series.
        let pick = r.index(3);
        let o = Oracle::new(
            c.samples.iter().filter(|s| s.series == pick && (from..to).contains(&s.second)),
            highest,
        );
        let w = c
            .store
            .query(Selector::exact(c.names[pick]))
            .between(secs(from), secs(to))
            .run()
            .unwrap();
        check(&w, &o, rel, &format!("series {pick} window [{from}, {to})"));
        assert_eq!(w.bounds_s(), (from, to));
        // Regex over two series: merged exactly.
        let o = Oracle::new(
            c.samples.iter().filter(|s| s.series < 2 && (from..to).contains(&s.second)),
            highest,
        );
        let w = c
            .store
            .query(Selector::regex("/models/.*").unwrap())
            .between(secs(from), secs(to))
            .run()
            .unwrap();
        check(&w, &o, rel, &format!("regex window [{from}, {to})"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn windows_match_oracle(
        seed in any::<u64>(),
        n in 0usize..4000,
        span_s in 1u64..7300,
        dist in dist_strategy(),
        lateness_s in 0u64..30,
        shuffle in any::<bool>(),
    ) {
        let c = build(seed, n, span_s, dist, lateness_s, shuffle);
        let mut r = Rng(seed ^ 0xabc);
        check_windows(&c, &mut r, span_s, 6);
        // Everything sealed (seal far in the future of data time) and again.
        let s = c.store.series("/tick");
        s.record_at(secs(BASE + span_s + 3600), Duration::from_millis(1), 200);
        c.store.seal_now();
        check_windows(&c, &mut r, span_s, 6);
    }
}

#[test]
#[expect(clippy::float_cmp, reason = "an empty window's rate is exactly 0.0")]
fn single_sample_and_empty_window() {
    let store = Store::in_memory(Options::default().keep_everything());
    let s = store.series("x");
    s.record_at(at(BASE, 5), Duration::from_micros(1234), 200);
    let w = store.query(Selector::exact("x")).between(secs(BASE), secs(BASE + 1)).run().unwrap();
    for q in crate::util::QS {
        assert_eq!(w.quantile(q), Some(Duration::from_micros(1234)), "q {q}");
    }
    let w =
        store.query(Selector::exact("x")).between(secs(BASE + 1), secs(BASE + 9)).run().unwrap();
    assert_eq!(w.count(), 0);
    assert_eq!(w.quantile(0.5), None);
    assert_eq!(w.error_ratio(), None);
    assert_eq!(w.min(), None);
    assert_eq!(w.rate_per_sec(), 0.0);
    let w = store.query(Selector::exact("nope")).between(secs(BASE), secs(BASE + 9)).run().unwrap();
    assert_eq!((w.count(), w.series()), (0, 0));
}

/// A week of one-second data: the planner must use hour pieces and answer
/// exactly what a merge of every second answers.
#[test]
fn week_window_uses_rollups_exactly() {
    let store = Store::in_memory(Options::default().keep_everything().lateness(Duration::ZERO));
    let series = store.series("w");
    let mut r = Rng(7);
    let start = 1_700_000_000u64 + 17; // not aligned to from minute or hour
    let days = 7 * 86_400 + 4000;
    let mut samples = Vec::new();
    for sec in (start..start + days).step_by(23) {
        let lat_ns = Dist::LogNormal { median_ns: 4e7, sigma: 0.6 }.sample(&mut r);
        let st = STATUSES[r.index(10)];
        series.record_at_unix(sec, lat_ns, st);
        samples.push(Sample { series: 0, second: sec, latency_ns: lat_ns, status: st });
    }
    store.seal_now();
    let end = start + days - 100;
    let from = end - 7 * 86_400;
    let w = store.query(Selector::exact("w")).between(secs(from), secs(end)).run().unwrap();
    let o = Oracle::new(samples.iter().filter(|x| (from..end).contains(&x.second)), u64::MAX);
    check(&w, &o, Layout::default().relative_error(), "week");
    assert!(w.pieces() < 168 + 2 * 59 + 2 * 59 + 2, "pieces {}", w.pieces());
}
