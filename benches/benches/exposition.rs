//! A Prometheus scrape: the time to encode `/metrics` for N series.
//!
//! Setup (untimed): N series `/models/m{i}/predict`, an hour of 1 s data
//! each with 2 lognormal samples per second (about 2 % 503, 1 % 404),
//! sealed and rolled up (keep everything), so each series' query over its
//! retained data merges one hour piece.
//!
//! * `exposition/text_{100,1000}_series`: `Exposition::encode` of every
//!   series under the ingress-nginx names (11 buckets + `+Inf`, 3 statuses)
//!   in the text format 0.0.4, into a reused `Vec`.
//! * `exposition/openmetrics_1000_series`: the same in `OpenMetrics` 1.0
//!   (`_created` lines, `# EOF`).
//! * `exposition/protobuf_1000_series`: the same in the protobuf format
//!   (length-delimited `MetricFamily` messages), each histogram with its
//!   classic buckets and a native histogram from the HDR counts.
//!
//! Run: `cargo bench -p tailstore-benches --bench exposition`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_main, Criterion};
use tailstore::Store;
use tailstore_benches::{endpoints_store, BASE_SECOND};
use tailstore_prometheus::{Exposition, Format, Names};

const PER_SECOND: usize = 2;
const SPAN_S: u64 = 3_600;

fn build(series: usize) -> Store {
    let t0 = Instant::now();
    let start = BASE_SECOND.div_ceil(3600) * 3600;
    let store = endpoints_store(series, start, SPAN_S, PER_SECOND, 31);
    eprintln!(
        "exposition setup: {series} series x {SPAN_S} s x {PER_SECOND} samples in {:.1?}",
        t0.elapsed()
    );
    store
}

fn exposition(c: &mut Criterion) {
    let e = Exposition::new(Names::ingress_nginx());
    let mut g = c.benchmark_group("exposition");
    g.sample_size(10);
    for n in [100, 1_000] {
        let store = build(n);
        let mut out = Vec::new();
        let scrape = e.encode(&store, Format::text(), &mut out).expect("encodes");
        eprintln!("text, {n} series: {} bytes, {} samples", out.len(), scrape.samples);
        g.bench_function(format!("text_{n}_series"), |b| {
            b.iter(|| {
                out.clear();
                e.encode(black_box(&store), Format::text(), &mut out).expect("encodes")
            });
        });
        if n == 1_000 {
            g.bench_function("openmetrics_1000_series", |b| {
                b.iter(|| {
                    out.clear();
                    e.encode(black_box(&store), Format::openmetrics(), &mut out).expect("encodes")
                });
            });
            out.clear();
            let scrape = e.encode(&store, Format::protobuf(), &mut out).expect("encodes");
            eprintln!("protobuf, {n} series: {} bytes, {} metrics", out.len(), scrape.samples);
            g.bench_function("protobuf_1000_series", |b| {
                b.iter(|| {
                    out.clear();
                    e.encode(black_box(&store), Format::protobuf(), &mut out).expect("encodes")
                });
            });
        }
    }
    g.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    exposition(&mut c);
}

criterion_main!(benches);
