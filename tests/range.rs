//! Range queries (`Query::range`): every point must equal the single query
//! `.last(window).ending_at(t).run()` (the planned answer, the oracle here),
//! whether the range slides over one level or falls back to planning: over
//! sealed, late, unsealed and status-only data, several series, windows that
//! cross minute and hour edges, steps that do and do not align with a
//! rollup, and a durable store after reopen.

use std::time::Duration;

use tailstore::{ErrorSet, Options, Selector, Store, WindowStats};

use crate::util::{secs, Rng, STATUSES};

const T: u64 = 1_790_000_000 - 1_790_000_000 % 3600; // an hour boundary

fn same(a: &WindowStats, b: &WindowStats, ctx: &str) {
    assert_eq!(a.bounds_s(), b.bounds_s(), "{ctx}: bounds");
    assert_eq!(
        (a.count(), a.errors(), a.latency_count()),
        (b.count(), b.errors(), b.latency_count()),
        "{ctx}"
    );
    let qs = [0.0, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0];
    assert_eq!(a.quantiles(&qs), b.quantiles(&qs), "{ctx}: quantiles");
    assert_eq!((a.min(), a.max(), a.mean()), (b.min(), b.max(), b.mean()), "{ctx}: extremes");
    assert_eq!(a.status_counts(), b.status_counts(), "{ctx}: statuses");
}

/// Random traffic over `[from, to)`: a few series, gaps, bursts, status-only
/// requests, and out-of-order samples up to an hour back.
fn feed(store: &Store, r: &mut Rng, from: u64, to: u64) {
    let names = ["/a", "/b", "/c/predict"];
    for s in from..to {
        if r.below(7) == 0 {
            continue; // a quiet second
        }
        for name in names {
            let h = store.series(name);
            for _ in 0..r.below(6) {
                let at = if r.below(30) == 0 { s.saturating_sub(r.below(3600)) } else { s };
                let st = STATUSES[r.index(STATUSES.len())];
                if r.below(25) == 0 {
                    h.record_status_at_unix(at, st);
                } else {
                    h.record_at_unix(at, 50_000 + r.below(3_000_000_000) * (1 + r.below(3)), st);
                }
            }
        }
    }
}

fn check_ranges(store: &Store, r: &mut Rng, lo: u64, hi: u64, ctx: &str) {
    let errors = ErrorSet::parse("5xx,429").unwrap();
    let cases: &[(u64, u64)] = &[
        (1, 5),
        (10, 300),
        (60, 600),
        (60, 3600),
        (7, 100),
        (3600, 7200),
        (300, 3600),
        (45, 45),
        (60, 60),
        (120, 60),
    ];
    for (k, &(step, window)) in cases.iter().enumerate() {
        for sel in [Selector::regex("/.*").unwrap(), Selector::exact("/b")] {
            let span = (hi - lo).min(step * 60);
            let mut start = lo + r.below(hi - lo - span.min(hi - lo - 1));
            if r.below(2) == 0 {
                start -= start % step; // aligned with the step (and often a rollup)
            }
            if k % 3 == 0 {
                // Up to the newest data, aligned: the last points reach past
                // the built rollups into unsealed seconds.
                start = hi + 2 + step - span;
                start -= start % step;
            }
            let end = start + span;
            let q =
                store.query(sel.clone()).last(Duration::from_secs(window)).errors(errors.clone());
            let points = q.range(secs(start), secs(end), Duration::from_secs(step)).unwrap();
            assert_eq!(points.len() as u64, span / step + 1, "{ctx}");
            for (t, got) in &points {
                let want = store
                    .query(sel.clone())
                    .last(Duration::from_secs(window))
                    .ending_at(secs(*t))
                    .errors(errors.clone())
                    .run()
                    .unwrap();
                same(got, &want, &format!("{ctx} step {step} window {window} t {t}"));
            }
        }
    }
}

#[test]
fn range_points_equal_single_queries_in_memory() {
    let store = Store::in_memory(Options::default().lateness(Duration::from_secs(5)));
    let mut r = Rng(41);
    feed(&store, &mut r, T - 2 * 3600, T + 3 * 3600 + 17);
    // Sealed data, rollups built up to the last complete minute and hour;
    // the last seconds are still open (within the lateness window).
    check_ranges(&store, &mut r, T - 3600, T + 3 * 3600 + 17, "in memory");
    store.seal_now();
    check_ranges(&store, &mut r, T - 3600, T + 3 * 3600 + 17, "after seal");
}

#[test]
fn range_points_equal_single_queries_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options::default().lateness(Duration::from_secs(5));
    let mut r = Rng(43);
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        feed(&store, &mut r, T - 3600, T + 4 * 3600);
        store.flush().unwrap();
    }
    let store = Store::open_read_only(dir.path(), opts()).unwrap();
    check_ranges(&store, &mut r, T - 3000, T + 4 * 3600, "reopened");
}

#[test]
fn range_rejects_bad_parameters() {
    let store = Store::in_memory(Options::default());
    let q = || store.query(Selector::exact("/x"));
    assert!(q().range(secs(10), secs(20), Duration::from_secs(1)).is_err(), "no window");
    let l = || q().last(Duration::from_secs(60));
    assert!(l().range(secs(20), secs(10), Duration::from_secs(1)).is_err(), "end before start");
    assert!(l().range(secs(10), secs(20), Duration::ZERO).is_err(), "zero step");
    assert!(l().range(secs(10), secs(20), Duration::from_millis(1500)).is_err(), "fractional step");
    assert!(
        l().range(secs(0), secs(10_000_000), Duration::from_secs(1)).is_err(),
        "too many points"
    );
    assert_eq!(l().range(secs(10), secs(20), Duration::from_secs(5)).unwrap().len(), 3);
}
