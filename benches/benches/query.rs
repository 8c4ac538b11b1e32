//! P99 over a window: tailstore's planned merge of sealed intervals and
//! rollups against a naive merge of one dense hdrhistogram per second.
//!
//! Setup (untimed, once): one series with 20 lognormal samples per second
//! for 7 days + 1 hour + 1234 s, recorded with `record_batch_at_unix` from
//! the old fixed epoch [`BASE_SECOND`], on a store that keeps everything.
//! The data starts 20 s past a minute, so every window ends (and starts) at
//! a non-round second and the planner has to cut ragged edges. Windows end
//! at `end` = last data second + 1 (exclusive). One sentinel sample at
//! second `end + 1`, outside every window, pushes the seal frontier (1 s
//! lateness) so that every second of every window is sealed.
//!
//! Group `p99_window`, `Throughput::Elements(window seconds)`, so the
//! per-element figure is the time per second of window:
//! * `tailstore/<w>`: `store.query(..).between(start, end).run()?.quantile(0.99)`.
//! * `naive_hdr_merge/<w>`: `Histogram::add` of each per-second histogram
//!   into a fresh one, then `value_at_quantile(0.99)`. Only for 5 min and
//!   1 h: its cost is linear in the window (one pass over the 24 576-counter
//!   array of every second merged), and 24 h / 7 d would also need 16 GB /
//!   116 GB of per-second histograms (192 KB each).
//!
//! Setup prints its duration and, per window, the number of pieces
//! (`WindowStats::pieces()`) tailstore's plan merged.
//!
//! Run: `cargo bench -p tailstore-benches --bench query`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use tailstore::{Options, Selector, Store};
use tailstore_benches::{at, new_hdr, Lognormal, SplitMix64, BASE_SECOND};

/// Samples per second of data.
const PER_SECOND: usize = 20;
/// Seconds of data: 7 days + 1 hour + an odd remainder.
const SPAN_S: u64 = 7 * 86_400 + 3_600 + 1_234;
/// Seconds of trailing data that also get a per-second hdrhistogram.
const NAIVE_S: u64 = 3_600;
/// Series name.
const NAME: &str = "/models/fraud-v2/predict";
/// The windows: label and length in seconds.
const WINDOWS: [(&str, u64, bool); 4] =
    [("5m", 300, true), ("1h", 3_600, true), ("24h", 86_400, false), ("7d", 7 * 86_400, false)];

struct Fixture {
    store: Store,
    /// Exclusive end (unix seconds) of every window: last data second + 1.
    end_s: u64,
    /// One dense hdrhistogram per second for the last [`NAIVE_S`] seconds.
    per_second: Vec<hdrhistogram::Histogram<u64>>,
}

fn build() -> Fixture {
    let t0 = Instant::now();
    let store =
        Store::in_memory(Options::default().keep_everything().lateness(Duration::from_secs(1)));
    let s = store.series(NAME);
    let mut lat = Lognormal::latency(7);
    let mut st = SplitMix64::new(8);
    let mut batch = Vec::with_capacity(PER_SECOND);
    let mut per_second = Vec::with_capacity(usize::try_from(NAIVE_S).unwrap());
    for k in 0..SPAN_S {
        batch.clear();
        batch.extend(
            (0..PER_SECOND).map(|_| {
                (lat.sample_ns(), if st.next_u64().is_multiple_of(50) { 503 } else { 200 })
            }),
        );
        let second = BASE_SECOND + k;
        s.record_batch_at_unix(second, &batch);
        if k >= SPAN_S - NAIVE_S {
            let mut h = new_hdr();
            for &(v, _) in &batch {
                h.saturating_record(v);
            }
            per_second.push(h);
        }
    }
    let end_s = BASE_SECOND + SPAN_S;
    // Sentinel outside every window: newest = end + 1, so with 1 s lateness
    // every second below `end_s` is sealed by the pass below.
    s.record_at_unix(end_s + 1, 40_000_000, 200);
    store.seal_now();
    let stats = store.stats();
    eprintln!(
        "p99_window setup: {} s x {PER_SECOND} samples in {:.1?}; store holds ~{} MB; \
         {} naive per-second histograms of {} KB each",
        SPAN_S,
        t0.elapsed(),
        stats.memory_bytes >> 20,
        per_second.len(),
        tailstore_benches::hdr_dense_bytes() >> 10,
    );
    Fixture { store, end_s, per_second }
}

fn query_p99(store: &Store, start_s: u64, end_s: u64) -> Option<Duration> {
    store
        .query(Selector::exact(NAME))
        .between(at(start_s), at(end_s))
        .run()
        .expect("valid window")
        .quantile(0.99)
}

fn naive_p99(per_second: &[hdrhistogram::Histogram<u64>]) -> u64 {
    let mut acc = new_hdr();
    for h in per_second {
        acc.add(h).expect("same bounds");
    }
    acc.value_at_quantile(0.99)
}

fn p99_window(c: &mut Criterion) {
    let fx = build();
    let mut g = c.benchmark_group("p99_window");
    for (label, len_s, naive) in WINDOWS {
        let start_s = fx.end_s - len_s;
        let w = fx
            .store
            .query(Selector::exact(NAME))
            .between(at(start_s), at(fx.end_s))
            .run()
            .expect("valid window");
        assert_eq!(w.count(), len_s * PER_SECOND as u64, "window {label}");
        assert!(w.is_complete(), "window {label}");
        eprintln!(
            "p99_window {label}: [{start_s}, {}) merged {} pieces; p99 = {:?}",
            fx.end_s,
            w.pieces(),
            w.quantile(0.99)
        );
        g.throughput(Throughput::Elements(len_s));
        g.sample_size(100);
        g.bench_with_input(BenchmarkId::new("tailstore", label), &start_s, |b, &start_s| {
            b.iter(|| query_p99(&fx.store, black_box(start_s), fx.end_s));
        });
        if naive {
            let hists = &fx.per_second[fx.per_second.len() - usize::try_from(len_s).unwrap()..];
            eprintln!("p99_window {label}: naive p99 = {} ns", naive_p99(hists));
            // Tens of ms per iteration: the fewest samples criterion allows.
            g.sample_size(10);
            g.bench_with_input(BenchmarkId::new("naive_hdr_merge", label), &hists, |b, h| {
                b.iter(|| naive_p99(h));
            });
        }
    }
    g.finish();
}

/// Range queries as graphs and alert rules run them: P99 over a sliding
/// window, one point per step across 24 h of the same fixture.
/// * `tailstore_range/<case>`: `query(..).last(window).range_with(start, end,
///   step, f)` (slides over the level the step and window align with; `f`
///   reads each point's P99);
/// * `per_point_planned/<case>`: the peer, one planned
///   `.last(window).ending_at(t).run()` per point (a fresh merge per point).
///
/// `Throughput::Elements(points)`: the per-element figure is the time per point.
fn p99_range(c: &mut Criterion) {
    let fx = build();
    let mut g = c.benchmark_group("p99_range");
    // (label, step, window): a 5 min alert window every 10 s (seconds level),
    // a 1 h window every minute (minutes level) over the last 24 h.
    for (label, step, window) in [("5m_every_10s", 10u64, 300u64), ("1h_every_1m", 60, 3_600)] {
        let end = fx.end_s - fx.end_s % 3_600;
        let start = end - 86_400;
        let points = (end - start) / step + 1;
        let run_range = || {
            let mut worst = Duration::ZERO;
            fx.store
                .query(Selector::exact(NAME))
                .last(Duration::from_secs(window))
                .range_with(at(start), at(end), Duration::from_secs(step), |_, w| {
                    worst = worst.max(w.quantile(0.99).unwrap_or_default());
                })
                .expect("valid range");
            worst
        };
        let run_points = || {
            (0..points)
                .map(|k| {
                    fx.store
                        .query(Selector::exact(NAME))
                        .last(Duration::from_secs(window))
                        .ending_at(at(start + k * step))
                        .run()
                        .expect("valid window")
                        .quantile(0.99)
                })
                .fold(Duration::ZERO, |a, q| a.max(q.unwrap_or_default()))
        };
        assert_eq!(run_range(), run_points(), "range {label}: same answers");
        g.throughput(Throughput::Elements(points));
        g.sample_size(10);
        g.bench_function(BenchmarkId::new("tailstore_range", label), |b| b.iter(run_range));
        g.bench_function(BenchmarkId::new("per_point_planned", label), |b| b.iter(run_points));
    }
    g.finish();
}

/// Private, so the `pub fn` that `criterion_group!` generates is not
/// exported (and needs no doc).
mod groups {
    criterion::criterion_group!(benches, super::p99_window, super::p99_range);
}
criterion_main!(groups::benches);
