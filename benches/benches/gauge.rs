//! Gauge setting cost: `Gauge::set` (live, at the coarse clock second) and
//! `Gauge::set_at_unix` beside a `Mutex` of the same aggregate (count, min,
//! max, sum, last) and the `prometheus` crate's gauge (one atomic store,
//! which keeps only the last value), in one criterion group; then the same
//! with two threads setting one gauge (`Throughput::Elements(2)` per
//! iteration pair, see `two_threads`).
//!
//! Run: `cargo bench -p tailstore-benches --bench gauge`.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion, Throughput};
use parking_lot::Mutex;
use tailstore::{Options, Store};
use tailstore_benches::BASE_SECOND;

/// The aggregate a gauge keeps per second, behind a mutex: the naive peer.
#[derive(Default)]
struct Agg {
    count: u64,
    min: f64,
    max: f64,
    sum: f64,
    last: f64,
}

impl Agg {
    fn add(&mut self, v: f64) {
        if self.count == 0 || v < self.min {
            self.min = v;
        }
        if self.count == 0 || v > self.max {
            self.max = v;
        }
        self.count += 1;
        self.sum += v;
        self.last = v;
    }
}

/// Values set: a slowly varying memory figure.
fn value(i: u64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "small index")]
    let x = (i & 1023) as f64;
    8.0e8 + x * 4096.0
}

fn gauge_1thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("gauge_set_1thread");
    g.throughput(Throughput::Elements(1));
    g.bench_function("tailstore_set", |b| {
        let store = Store::in_memory(Options::default());
        let gauge = store.gauge("bench");
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            gauge.set(value(i));
        });
    });
    g.bench_function("tailstore_set_at_unix", |b| {
        let store = Store::in_memory(Options::default());
        let gauge = store.gauge("bench");
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            gauge.set_at_unix(BASE_SECOND, value(i));
        });
    });
    g.bench_function("mutex_aggregate", |b| {
        let m = Mutex::new(Agg::default());
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            m.lock().add(value(i));
        });
        black_box(m.lock().count);
    });
    g.bench_function("prometheus_gauge_set", |b| {
        let p = prometheus::Gauge::new("bench", "bench").expect("a valid name");
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            p.set(value(i));
        });
        black_box(p.get());
    });
    g.finish();
}

/// Two threads setting one target `iters` times each; the figure is the
/// wall time of both over `2 * iters` sets.
fn two_threads(iters: u64, set: &(dyn Fn(f64) + Sync)) -> Duration {
    let barrier = Barrier::new(2);
    let run = || {
        barrier.wait();
        let t = Instant::now();
        for i in 0..iters {
            set(value(i));
        }
        t.elapsed()
    };
    std::thread::scope(|s| {
        let other = s.spawn(run);
        let mine = run();
        mine.max(other.join().unwrap_or(mine))
    })
}

fn gauge_2threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("gauge_set_2threads");
    g.throughput(Throughput::Elements(2));
    g.bench_function("tailstore_set", |b| {
        let store = Store::in_memory(Options::default());
        let gauge = store.gauge("bench");
        b.iter_custom(|iters| two_threads(iters, &|v| gauge.set(v)));
    });
    g.bench_function("mutex_aggregate", |b| {
        let m = Mutex::new(Agg::default());
        b.iter_custom(|iters| two_threads(iters, &|v| m.lock().add(v)));
    });
    g.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    gauge_1thread(&mut c);
    gauge_2threads(&mut c);
}

criterion_main!(benches);
