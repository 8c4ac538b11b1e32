//! The HTML report: the time to compute and write the page of a day of
//! 1 s data, and the size of the page for a day and for a week.
//!
//! Setup (untimed): five series `/models/m{0..4}/predict` with 5 lognormal
//! samples per second (about 2 % 503, 1 % 404, 0.5 % 429) from the first
//! whole hour after [`BASE_SECOND`], on a store that keeps its minute and
//! hour rollups for everything and its seconds for an hour (as a store
//! opened from disk keeps them by default), so the whole-day view (step
//! 10 min) slides over minute pieces and the last-hour view (step 30 s)
//! over seconds.
//!
//! * `report/day_5_series`: `Report::render` of the day into a `Vec`: the
//!   whole-day and last-1 h views, each with the merged panels and the
//!   five endpoints' panels (12 range queries, 12 single queries).
//! * After it, printed once (a plain measurement, not criterion): the same
//!   for 7 days of the same data (views: 7 d, 24 h, 1 h), time and bytes.
//!
//! Run: `cargo bench -p tailstore-benches --bench report`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion};
use tailstore::{Options, Selector, Store};
use tailstore_benches::{Lognormal, SplitMix64, BASE_SECOND};
use tailstore_report::Report;

const PER_SECOND: usize = 5;
const SERIES: usize = 5;

fn build(span_s: u64) -> Store {
    let t0 = Instant::now();
    let store = Store::in_memory(
        Options::default()
            .keep_everything()
            .retention(Duration::from_secs(3_600))
            .lateness(Duration::from_secs(1)),
    );
    let start = BASE_SECOND.div_ceil(3600) * 3600;
    let mut lat = Lognormal::latency(21);
    let mut st = SplitMix64::new(22);
    let mut batch = Vec::with_capacity(PER_SECOND);
    for i in 0..SERIES {
        let s = store.series(&format!("/models/m{i}/predict"));
        for k in 0..span_s {
            batch.clear();
            batch.extend((0..PER_SECOND).map(|_| {
                let status = match st.next_u64() % 1000 {
                    0..=19 => 503,
                    20..=29 => 404,
                    30..=34 => 429,
                    _ => 200,
                };
                (lat.sample_ns(), status)
            }));
            s.record_batch_at_unix(start + k, &batch);
        }
        store.seal_now();
    }
    store.flush().expect("in memory");
    eprintln!(
        "report setup: {SERIES} series x {span_s} s x {PER_SECOND} samples in {:.1?}",
        t0.elapsed()
    );
    store
}

fn render(store: &Store) -> (Vec<u8>, tailstore_report::Summary) {
    let mut page = Vec::new();
    let summary = Report::new(Selector::all()).render(store, &mut page).expect("report renders");
    (page, summary)
}

fn report(c: &mut Criterion) {
    let day = build(86_400);
    let (page, summary) = render(&day);
    eprintln!(
        "report of a day: {} bytes ({} KiB); views {:?}",
        page.len(),
        page.len() >> 10,
        summary.views.iter().map(|v| (v.label.as_str(), v.step_s, v.points)).collect::<Vec<_>>()
    );
    let mut g = c.benchmark_group("report");
    g.sample_size(10);
    g.bench_function("day_5_series", |b| b.iter(|| render(black_box(&day))));
    g.finish();
    drop(day);

    let week = build(7 * 86_400);
    let t0 = Instant::now();
    let (page, summary) = render(&week);
    eprintln!(
        "report of a week: {:.1?}, {} bytes ({} KiB); views {:?}",
        t0.elapsed(),
        page.len(),
        page.len() >> 10,
        summary.views.iter().map(|v| (v.label.as_str(), v.step_s, v.points)).collect::<Vec<_>>()
    );
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    report(&mut c);
}

criterion_main!(benches);
