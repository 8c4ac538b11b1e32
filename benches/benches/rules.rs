//! Rule evaluation: a backtest of 7 days of 1 s data, 5 rules × 3 series
//! (15 instances) at a 1 min evaluation interval, and the cost of one live
//! evaluation of one rule.
//!
//! Setup (untimed, once): three series `/models/m{0,1,2}/predict` with 5
//! lognormal samples per second (2 % of them 503) for 7 days from the first
//! whole minute after [`BASE_SECOND`], on a store that keeps its minute
//! and hour rollups for everything and its seconds for an hour (so every
//! 5 min and 15 min window slides over minute pieces, as a store opened
//! from disk would).
//!
//! * `backtest/7d_15_instances`: `tailstore_rules::backtest` over the 7
//!   days: 10 081 evaluations per instance; one sliding range query per
//!   distinct (series, window), then the state machines.
//! * `live/one_rule`: one rule evaluated at the end of the data as a live
//!   evaluator would: `Store::query(..).last(5m).ending_at(t).run()`, then
//!   `Condition::evaluate_windows` and an `Evaluator` step.
//! * `live/catch_up_1d_15_instances`: a `LiveEvaluator` started at the
//!   data's last day (`start_at`), timed until it has evaluated all 1 441
//!   ticks of the 15 instances on its thread (one query per window per
//!   instance per tick, the path a live store takes one tick at a time);
//!   divided by 21 615 instance evaluations it is the live cost per rule.
//!
//! Run: `cargo bench -p tailstore-benches --bench rules`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion};
use tailstore::{Options, Selector, Store};
use tailstore_benches::{at, Lognormal, SplitMix64, BASE_SECOND};
use tailstore_rules::{backtest, Evaluator, LiveEvaluator, LiveOptions, Rules, WindowSource};

const PER_SECOND: usize = 5;
const SPAN_S: u64 = 7 * 86_400;
const SERIES: [&str; 3] = ["/models/m0/predict", "/models/m1/predict", "/models/m2/predict"];

const RULES: &str = "
evaluation_interval: 1m
rules:
  - name: High Error Rate
    series: '/models/.*'
    condition: error_rate > 5
    for: 5m
    group_by: series
    annotations: { description: 'Error rate is {{ $value }}%' }
  - name: High Latency
    series: '/models/.*'
    condition: latency_p99 > 2
    for: 5m
    group_by: series
  - name: Slow median
    series: '/models/.*'
    condition: latency_p50[15m] > 0.5
    for: 10m
    group_by: series
  - name: Low Traffic
    series: '/models/.*'
    condition: requests_per_min[1m] < 1
    for: 15m
    group_by: series
  - name: Busy and failing
    series: '/models/.*'
    condition: request_rate > 100 and error_rate[15m] > 1
    group_by: series
";

fn build() -> (Store, u64) {
    let t0 = Instant::now();
    let store = Store::in_memory(
        Options::default()
            .keep_everything()
            .retention(Duration::from_secs(3_600))
            .lateness(Duration::from_secs(1)),
    );
    let start = BASE_SECOND.div_ceil(60) * 60;
    let mut lat = Lognormal::latency(11);
    let mut st = SplitMix64::new(12);
    let mut batch = Vec::with_capacity(PER_SECOND);
    for name in SERIES {
        let s = store.series(name);
        for k in 0..SPAN_S {
            batch.clear();
            batch.extend((0..PER_SECOND).map(|_| {
                (lat.sample_ns(), if st.next_u64().is_multiple_of(50) { 503 } else { 200 })
            }));
            s.record_batch_at_unix(start + k, &batch);
        }
        store.seal_now();
    }
    store.flush().expect("in memory");
    eprintln!(
        "rules setup: {} series x {SPAN_S} s x {PER_SECOND} samples in {:.1?}; ~{} MB",
        SERIES.len(),
        t0.elapsed(),
        store.stats().memory_bytes >> 20
    );
    (store, start)
}

fn rules(c: &mut Criterion) {
    let (store, start) = build();
    let end = start + SPAN_S;
    let rules = Rules::from_yaml(RULES).expect("the bench's rules load");
    let bt = backtest(&store, &rules, start, end).expect("backtest runs");
    eprintln!(
        "backtest: {} rules, {} evaluations each, {} episodes",
        rules.rules().len(),
        (end - start) / 60 + 1,
        bt.episodes.len()
    );
    let mut g = c.benchmark_group("backtest");
    g.sample_size(10);
    g.bench_function("7d_15_instances", |b| {
        b.iter(|| backtest(&store, &rules, black_box(start), end).expect("backtest runs"));
    });
    g.finish();

    let rule = &rules.rules()[0];
    let mut g = c.benchmark_group("live");
    g.bench_function("one_rule", |b| {
        let mut ev = Evaluator::new(rule.for_s(), rule.keep_firing_for_s(), rule.no_data());
        b.iter(|| {
            let w = store
                .query(Selector::exact(SERIES[0]))
                .last(Duration::from_secs(300))
                .ending_at(at(black_box(end)))
                .run()
                .expect("valid window");
            let (truth, value) =
                rule.condition().evaluate_windows(&[(300, &w as &dyn WindowSource)]);
            ev.step(end, truth, value)
        });
    });
    g.sample_size(10);
    g.bench_function("catch_up_1d_15_instances", |b| {
        b.iter(|| {
            let live = LiveEvaluator::start(
                &store,
                rules.clone(),
                LiveOptions::default().start_at(black_box(end - 86_400)),
            )
            .expect("threads start");
            assert!(live.wait_evaluated(end, Duration::from_secs(600)), "caught up");
            live.stats().evaluations
        });
    });
    g.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    rules(&mut c);
}

criterion_main!(benches);
