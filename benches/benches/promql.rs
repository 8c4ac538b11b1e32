//! The `PromQL` API: a Grafana panel's range query, answered by sliding
//! windows, against the same points answered one instant query at a time.
//!
//! Setup (untimed): 10 series `/models/m{i}/predict`, two hours of 1 s data
//! each with 2 lognormal samples per second (about 2 % 503, 1 % 404),
//! sealed and rolled up (keep everything).
//!
//! * `promql/p99_range_1h_step15s`: `query_range` of the guide's P99
//!   (`histogram_quantile(0.99, sum(rate(…_bucket{path=~"/models/.*"}[5m])) by (le))`)
//!   over the second hour, step 15 s (241 points): one sliding range query.
//! * `promql/p99_instants_1h_step15s` (the peer): the same 241 points as
//!   241 instant queries (`query`), each planning its 5 min window.
//! * `promql/error_rate_range_1h_step15s`: the dashboard's error rate
//!   (`100 * sum(rate(…{status=~"5.."}[5m])) / sum(rate(…[5m]))`), same range.
//!
//! Run: `cargo bench -p tailstore-benches --bench promql`.

use std::hint::black_box;
use std::time::{Duration, Instant, UNIX_EPOCH};

use criterion::{criterion_main, Criterion};
use tailstore::Store;
use tailstore_benches::{endpoints_store, BASE_SECOND};
use tailstore_prometheus::{Exposition, Names, PromqlApi};

const SERIES: usize = 10;
const PER_SECOND: usize = 2;
const SPAN_S: u64 = 7_200;
const STEP_S: u64 = 15;

fn build() -> (Store, u64) {
    let t0 = Instant::now();
    let start = BASE_SECOND.div_ceil(3600) * 3600;
    let store = endpoints_store(SERIES, start, SPAN_S, PER_SECOND, 41);
    eprintln!(
        "promql setup: {SERIES} series x {SPAN_S} s x {PER_SECOND} samples in {:.1?}",
        t0.elapsed()
    );
    (store, start)
}

fn promql(c: &mut Criterion) {
    let (store, start) = build();
    let api = PromqlApi::new(&Exposition::new(Names::ingress_nginx()));
    let p99 = "histogram_quantile(0.99, sum(rate(nginx_ingress_controller_request_duration_seconds_bucket{path=~\"/models/.*\"}[5m])) by (le))";
    let errors = "100 * sum(rate(nginx_ingress_controller_requests{status=~\"5..\",path=~\"/models/.*\"}[5m])) / sum(rate(nginx_ingress_controller_requests{path=~\"/models/.*\"}[5m]))";
    let (a, b) = (start + 3_600, start + SPAN_S);
    let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
    let step = Duration::from_secs(STEP_S);
    // The two ways give the same numbers.
    let (range, _) = api.query_range(&store, p99, at(a), at(b), step).expect("answers");
    let values = range["result"][0]["values"].as_array().expect("a matrix").clone();
    assert_eq!(values.len(), 241);
    for p in &values {
        let t = p[0].as_u64().expect("whole seconds");
        let (one, _) = api.query(&store, p99, at(t)).expect("answers");
        assert_eq!(one["result"][0]["value"][1], p[1]);
    }
    let mut g = c.benchmark_group("promql");
    g.sample_size(10);
    g.bench_function("p99_range_1h_step15s", |bch| {
        bch.iter(|| api.query_range(black_box(&store), p99, at(a), at(b), step).expect("answers"));
    });
    g.bench_function("p99_instants_1h_step15s", |bch| {
        bch.iter(|| {
            for t in (a..=b).step_by(usize::try_from(STEP_S).expect("small")) {
                black_box(api.query(black_box(&store), p99, at(t)).expect("answers"));
            }
        });
    });
    g.bench_function("error_rate_range_1h_step15s", |bch| {
        bch.iter(|| {
            api.query_range(black_box(&store), errors, at(a), at(b), step).expect("answers")
        });
    });
    g.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    promql(&mut c);
}

criterion_main!(benches);
