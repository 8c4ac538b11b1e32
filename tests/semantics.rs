//! Documented semantics: live recording, lateness, late deltas, retention,
//! unknown latencies, clamping.

use std::time::{Duration, SystemTime};

use tailstore::{ErrorSet, Layout, Options, Selector, Store};

use crate::util::{at, secs};

const T: u64 = 1_750_000_000;

#[test]
fn live_record_is_visible_immediately() {
    let store = Store::in_memory(Options::default());
    let s = store.series("/models/fraud-v2/predict");
    for i in 0..1000u64 {
        s.record(Duration::from_micros(100 + i), if i < 10 { 503 } else { 200 });
    }
    let w = store
        .query(Selector::exact("/models/fraud-v2/predict"))
        .last(Duration::from_secs(60))
        .run()
        .unwrap();
    assert_eq!(w.count(), 1000);
    assert_eq!(w.errors(), 10);
    assert_eq!(w.error_ratio(), Some(0.01));
    assert_eq!(w.min(), Some(Duration::from_micros(100)));
    assert_eq!(w.max(), Some(Duration::from_micros(1099)));
    // Still visible after the clock seals it.
    store.seal_now();
    let w = store
        .query(Selector::exact("/models/fraud-v2/predict"))
        .last(Duration::from_secs(60))
        .run()
        .unwrap();
    assert_eq!(w.count(), 1000);
}

#[test]
fn live_record_from_many_threads_then_sealed_by_clock() {
    let store = Store::in_memory(Options::default().lateness(Duration::ZERO));
    let s = store.series("x");
    std::thread::scope(|sc| {
        for t in 0..3 {
            let s = s.clone();
            sc.spawn(move || {
                for i in 0..10_000u64 {
                    s.record(Duration::from_micros(i % 1000 + t), 200);
                }
            });
        }
    });
    // Wait (bounded) for the clock thread to move past this second and steal the
    // idle threads' shards.
    let t0 = std::time::Instant::now();
    while t0.elapsed() < Duration::from_millis(2500) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let w = store.query(Selector::exact("x")).last(Duration::from_secs(30)).run().unwrap();
    assert_eq!(w.count(), 30_000);
}

#[test]
fn out_of_order_within_lateness_is_not_late() {
    let store =
        Store::in_memory(Options::default().keep_everything().lateness(Duration::from_secs(10)));
    let s = store.series("x");
    s.record_at(secs(T + 20), Duration::from_millis(5), 200);
    s.record_at(secs(T + 11), Duration::from_millis(6), 200);
    store.seal_now();
    s.record_at(secs(T + 10), Duration::from_millis(7), 200); // 10 s behind newest: sealed? no: seal_below = T + 10
    assert_eq!(store.stats().late, 0);
    s.record_at(secs(T + 9), Duration::from_millis(8), 500); // older than lateness, sealed: late
    assert_eq!(store.stats().late, 1);
    for (sec, want) in [(T + 9, 1), (T + 10, 1), (T + 11, 1), (T + 20, 1), (T + 12, 0)] {
        let w = store.query(Selector::exact("x")).between(secs(sec), secs(sec + 1)).run().unwrap();
        assert_eq!(w.count(), want, "second {sec}");
    }
    store.seal_now();
    let w = store.query(Selector::exact("x")).between(secs(T), secs(T + 60)).run().unwrap();
    assert_eq!((w.count(), w.errors()), (4, 1));
    assert_eq!(w.max(), Some(Duration::from_millis(8)));
}

#[test]
fn late_samples_far_behind_land_in_their_own_second_and_rollups() {
    let store = Store::in_memory(Options::default().keep_everything().lateness(Duration::ZERO));
    let s = store.series("x");
    for k in 0..7200u64 {
        s.record_at(secs(T + k), Duration::from_millis(1), 200);
    }
    store.seal_now();
    // An hour and a half late.
    s.record_at(at(T + 1800, 999_999_999), Duration::from_millis(900), 503);
    store.seal_now();
    assert_eq!(store.stats().late, 1);
    let w =
        store.query(Selector::exact("x")).between(secs(T + 1800), secs(T + 1801)).run().unwrap();
    assert_eq!((w.count(), w.errors()), (2, 1));
    let w = store.query(Selector::exact("x")).between(secs(T), secs(T + 7200)).run().unwrap();
    assert_eq!((w.count(), w.errors()), (7201, 1));
    assert!(w.pieces() < 200, "hour and minute pieces used: {}", w.pieces());
    assert_eq!(w.max(), Some(Duration::from_millis(900)));
}

/// Retention is measured from data time for retention: the `SUPPORT`-th
/// newest distinct second holding samples, as of the last seal pass.
#[test]
fn retention_rejects_only_older_than_retention() {
    let store =
        Store::in_memory(Options::default().retention(Duration::from_secs(60)).manual_seal(true));
    let s = store.series("x");
    let support = tailstore::RETENTION_SUPPORT as u64;
    // Seconds T+985 ..= T+1000: data time for retention is T+985.
    for k in 0..support {
        s.record_at(secs(T + 1000 - k), Duration::from_millis(1), 200);
    }
    // Before a seal pass publishes it, nothing is past retention.
    s.record_at(secs(T + 100), Duration::from_millis(1), 200);
    store.seal_now();
    assert_eq!(store.stats().retention_newest_s, T + 1001 - support);
    s.record_at(secs(T + 941), Duration::from_millis(1), 200); // 44 s behind: kept (late or not)
    s.record_at(secs(T + 900), Duration::from_millis(1), 200); // 85 s behind: rejected
    s.record_at(SystemTime::UNIX_EPOCH - Duration::from_secs(1), Duration::from_millis(1), 200);
    let st = store.stats();
    assert_eq!(st.rejected, 2);
    let w = store.query(Selector::exact("x")).between(secs(T), secs(T + 2000)).run().unwrap();
    // T+100 was recorded before a pass published a bound: kept (its
    // minute, retained 48 h, still answers for it once its second goes).
    assert_eq!(w.count(), support + 2);
    store.seal_now();
    let w = store.query(Selector::exact("x")).between(secs(T), secs(T + 2000)).run().unwrap();
    assert_eq!(w.count(), support + 2);
}

/// Stray samples far ahead of the rest (fewer than `SUPPORT` distinct
/// seconds) do not move data time for retention: six hours of history a
/// year back, then samples at fifteen seconds of now, keep every piece of
/// history; a sixteenth distinct second does move it, as documented.
#[test]
fn stray_seconds_far_ahead_do_not_move_retention() {
    let now = SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // Whole hours, so that no edge second depends on the 1 s level's 1 h.
    let start = (now - 365 * 86_400 - 6 * 3600) / 3600 * 3600;
    let store = Store::in_memory(Options::default().manual_seal(true));
    let s = store.series("x");
    for t in (start..start + 6 * 3600).step_by(10) {
        s.record_at_unix(t, 1_000_000, 200);
    }
    store.seal_now();
    let retained = store.stats().retention_newest_s;
    assert!(retained > start + 5 * 3600, "{retained}");
    let support = tailstore::RETENTION_SUPPORT as u64;
    for k in 0..support - 1 {
        s.record_at_unix(now - k, 1_000_000, 200);
        store.seal_now();
    }
    // The newest second of history is the oldest of the newest sixteen.
    assert_eq!(store.stats().retention_newest_s, start + 6 * 3600 - 10);
    assert!(retained <= start + 6 * 3600 - 10);
    assert_eq!(store.stats().newest_s, now);
    let history = || {
        store
            .query(Selector::exact("x"))
            .between(secs(start), secs(start + 6 * 3600))
            .run()
            .unwrap()
    };
    assert_eq!(history().count(), 2160, "history lost to stray samples");
    s.record_at_unix(now - support, 1_000_000, 200);
    store.seal_now();
    assert_eq!(store.stats().retention_newest_s, now - support);
    // The next pass expires what is past retention from there.
    store.seal_now();
    assert_eq!(history().count(), 0, "sixteen distinct seconds move data time");
}

#[test]
#[expect(clippy::float_cmp, reason = "60 requests over 60 s is exactly 1.0 req/s")]
fn replaying_old_data_uses_data_time() {
    // Default retention is 1 h; last year's logs still replay because
    // retention and lateness are measured from the newest sample.
    let store = Store::in_memory(Options::default());
    let s = store.series("x");
    let old = 1_600_000_000u64;
    for k in 0..100 {
        s.record_at(secs(old + k), Duration::from_millis(3), 200);
    }
    store.seal_now();
    assert_eq!(store.stats().rejected, 0);
    let w = store
        .query(Selector::exact("x"))
        .last(Duration::from_secs(60))
        .ending_at(secs(old + 100))
        .run()
        .unwrap();
    assert_eq!(w.count(), 60);
    assert_eq!(w.rate_per_sec(), 1.0);
}

#[test]
fn unknown_latency_counts_in_rate_not_quantiles() {
    let store = Store::in_memory(Options::default().keep_everything());
    let s = store.series("alb");
    s.record_at(secs(T), Duration::from_millis(10), 200);
    s.record_status_at(secs(T), 504);
    s.record_status_at(secs(T), 460);
    let w = store.query(Selector::exact("alb")).between(secs(T), secs(T + 1)).run().unwrap();
    assert_eq!((w.count(), w.latency_count(), w.errors()), (3, 1, 1));
    assert_eq!(w.quantile(0.99), Some(Duration::from_millis(10)));
}

#[test]
fn clamping_is_counted_and_bounded() {
    let store = Store::in_memory(Options::default().keep_everything());
    let s = store.series("x");
    s.record_at(secs(T), Duration::from_secs(7200), 200); // above the 1 h range
    s.record_at(secs(T), Duration::MAX, 200);
    s.record_at(secs(T), Duration::ZERO, 0);
    s.record_at(secs(T), Duration::from_nanos(1), 1000); // not a status: recorded as 0
    s.record_at(secs(T), Duration::from_millis(1), u16::MAX);
    let w = store.query(Selector::exact("x")).between(secs(T), secs(T + 1)).run().unwrap();
    // Duration::MAX saturates to u64::MAX nanoseconds (584 years).
    let longest = Duration::from_nanos(u64::MAX);
    assert_eq!(w.count(), 5);
    assert_eq!(w.clamped(), 2);
    assert_eq!(w.invalid_status(), 2);
    assert_eq!(w.max(), Some(longest));
    assert_eq!(w.min(), Some(Duration::ZERO));
    assert_eq!(w.status_counts().get(0), 3);
    assert_eq!(w.quantile(1.0), Some(longest));
    assert_eq!(w.quantile(0.0), Some(Duration::ZERO));
    // A rank between the extremes that falls on a clamped sample answers
    // from the top bucket.
    let highest = Layout::default().highest_ns();
    let top = w.quantile(0.7).unwrap().as_nanos();
    assert!(top.abs_diff(u128::from(highest)) * 1000 <= u128::from(highest), "{top}");
}

/// A request longer than the layout's range (1 h by default) is counted as
/// clamped, lands in the top bucket, and keeps max, mean and the top rank
/// exact, in memory and after a reopen.
#[test]
fn latencies_above_the_range_keep_exact_extremes_and_mean() {
    let dir = tempfile::tempdir().unwrap();
    let check = |store: &Store| {
        let w = store.query(Selector::exact("x")).between(secs(T), secs(T + 1)).run().unwrap();
        assert_eq!(w.clamped(), 1);
        assert_eq!(w.max(), Some(Duration::from_secs(7200)));
        assert_eq!(w.quantile(1.0), Some(Duration::from_secs(7200)));
        assert_eq!(w.mean(), Some((Duration::from_secs(7200) + Duration::from_millis(1)) / 2));
        assert_eq!(w.min(), Some(Duration::from_millis(1)));
    };
    {
        let store = Store::open(dir.path(), Options::default().keep_everything()).unwrap();
        let s = store.series("x");
        s.record_at(secs(T), Duration::from_secs(7200), 200);
        s.record_at(secs(T), Duration::from_millis(1), 200);
        store.flush().unwrap();
        check(&store);
    }
    check(&Store::open_read_only(dir.path(), Options::default().keep_everything()).unwrap());
}

#[test]
fn per_query_error_set() {
    let store = Store::in_memory(Options::default().keep_everything());
    let s = store.series("x");
    for st in [200, 401, 404, 429, 500, 503] {
        s.record_at(secs(T), Duration::from_millis(1), st);
    }
    let q = || store.query(Selector::exact("x")).between(secs(T), secs(T + 1));
    assert_eq!(q().run().unwrap().errors(), 4);
    assert_eq!(q().errors(ErrorSet::parse("5xx").unwrap()).run().unwrap().errors(), 2);
    assert_eq!(q().errors(ErrorSet::empty()).run().unwrap().errors(), 0);
}

#[test]
fn configurable_precision_and_ns_resolution() {
    let layout = Layout::new(4, 1, 1_000_000_000).unwrap();
    let store = Store::in_memory(Options::default().layout(layout).keep_everything());
    let s = store.series("x");
    for v in [17u64, 1_234_567, 999_999_999] {
        s.record_at(secs(T), Duration::from_nanos(v), 200);
    }
    let w = store.query(Selector::exact("x")).between(secs(T), secs(T + 1)).run().unwrap();
    #[expect(clippy::cast_precision_loss, reason = "a latency below 1 s in ns, exact in f64")]
    let p50 = w.quantile(0.5).unwrap().as_nanos() as f64;
    assert!((p50 - 1_234_567.0).abs() / 1_234_567.0 <= layout.relative_error());
    assert_eq!(w.quantile(0.0), Some(Duration::from_nanos(17)));
}

/// What a subscriber that follows the data sees: after each pass, the bound
/// below which every series is sealed; it never goes back (not even after a
/// flush sealed further than the passes that follow), and a window ending at
/// it already has its final answer. Once removed, a sink is not called.
#[test]
fn sinks_learn_the_sealed_bound_from_data_time() {
    #[derive(Default)]
    struct Bounds(std::sync::Mutex<Vec<u64>>);
    impl tailstore::Sink for Bounds {
        fn sealed(&self, _: &str, _: &tailstore::Interval, _: bool) {}
        fn sealed_through(&self, below: u64) {
            self.0.lock().unwrap().push(below);
        }
    }
    let store =
        Store::in_memory(Options::default().keep_everything().lateness(Duration::from_secs(5)));
    let bounds = std::sync::Arc::new(Bounds::default());
    store.add_sink(bounds.clone());
    let (a, b) = (store.series("a"), store.series("b"));
    for s in T..T + 100 {
        a.record_at_unix(s, 1_000_000, 200);
        if s % 2 == 0 {
            b.record_at_unix(s, 2_000_000, 503);
        }
    }
    store.seal_now();
    let last = |b: &Bounds| *b.0.lock().unwrap().last().expect("a pass reported");
    // Data time is T + 99; five seconds of lateness stay open.
    assert_eq!(last(&bounds), T + 99 - 5);
    let w = store
        .query(Selector::regex(".*").unwrap())
        .between(secs(T), secs(last(&bounds)))
        .run()
        .unwrap();
    assert_eq!(w.count(), 94 + 47);
    store.flush().unwrap();
    assert_eq!(last(&bounds), T + 100);
    store.seal_now();
    assert_eq!(last(&bounds), T + 100, "a regular pass after a flush does not go back");
    let seen = bounds.0.lock().unwrap().clone();
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    // Removed, it hears nothing more; a second removal finds nothing.
    let sink: std::sync::Arc<dyn tailstore::Sink> = bounds.clone();
    assert!(store.remove_sink(&sink));
    assert!(!store.remove_sink(&sink));
    a.record_at_unix(T + 200, 1_000_000, 200);
    store.flush().unwrap();
    assert_eq!(bounds.0.lock().unwrap().len(), seen.len());
}

/// One line dated years ahead (a broken clock, a typo) is rejected and
/// counted as `future`: data time does not move, so retention does not
/// expire what is stored, and every earlier answer stays.
#[test]
fn a_sample_far_in_the_future_is_rejected_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let start = now - 6 * 3600;
    let opts = || Options::default().retention(Duration::from_secs(35 * 24 * 3600));
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        let s = store.series("x");
        for t in (start..now).step_by(10) {
            s.record_at_unix(t, 1_000_000, 200);
        }
        store.flush().unwrap();
    }
    let files = || std::fs::read_dir(dir.path()).unwrap().count();
    let before = files();
    let year = 365 * 24 * 3600;
    {
        let store = Store::open(dir.path(), opts()).unwrap();
        let newest = store.stats().newest_s;
        let s = store.series("x");
        s.record_at_unix(now + year, 1_000_000, 200);
        s.record_batch_at_unix(now + year, &[(1_000_000, 200), (2_000_000, 500)]);
        s.record_at(secs(now + 2 * year), Duration::from_millis(1), 200);
        // Within the bound (an hour by default): kept.
        s.record_at_unix(now + 600, 1_000_000, 200);
        store.flush().unwrap();
        let st = store.stats();
        assert_eq!(st.future, 4);
        assert_eq!(st.newest_s, newest.max(now + 600));
        let w = store.query(Selector::exact("x")).between(secs(start), secs(now + 601)).run();
        assert_eq!(w.unwrap().count(), (start..now).step_by(10).count() as u64 + 1);
    }
    assert!(files() >= before, "files were removed");
    let store = Store::open_read_only(dir.path(), opts()).unwrap();
    let w = store.query(Selector::exact("x")).between(secs(start), secs(now)).run().unwrap();
    assert_eq!(w.count(), (start..now).step_by(10).count() as u64);
}

/// `max_future` is configurable; `Duration::MAX` admits any date.
#[test]
fn max_future_bounds_are_configurable() {
    let now = SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let strict = Store::in_memory(Options::default().max_future(Duration::from_secs(60)));
    strict.series("x").record_at_unix(now + 3600, 1, 200);
    assert_eq!(strict.stats().future, 1);
    let open = Store::in_memory(Options::default().max_future(Duration::MAX));
    open.series("x").record_at_unix(now + 10 * 365 * 24 * 3600, 1, 200);
    assert_eq!(open.stats().future, 0);
}

/// Past `max_series`, new names share the overflow series: every sample is
/// still counted (in the overflow series), existing series keep theirs, and
/// the refused lookups are counted.
#[test]
fn series_past_the_cap_go_to_the_overflow_series() {
    let store = Store::in_memory(Options::default().keep_everything().max_series(3));
    for k in 0..10 {
        let s = store.series(&format!("/scan/{k}"));
        s.record_at_unix(T, 1_000_000, 404);
        // A name already in the store keeps its own series.
        store.series("/scan/0").record_at_unix(T, 1_000_000, 200);
    }
    let count = |sel: Selector| store.query(sel).between(secs(T), secs(T + 1)).run().unwrap();
    assert_eq!(store.series_names(), ["(overflow)", "/scan/0", "/scan/1", "/scan/2"]);
    assert_eq!(count(Selector::exact("/scan/0")).count(), 11);
    assert_eq!(count(Selector::exact(tailstore::OVERFLOW_SERIES)).count(), 7);
    assert_eq!(count(Selector::all()).count(), 20);
    assert_eq!(store.stats().overflowed, 7);
    // 0 = no cap.
    let free = Store::in_memory(Options::default().max_series(0));
    for k in 0..20 {
        let _ = free.series(&format!("/{k}"));
    }
    assert_eq!(free.stats().series, 20);
}
