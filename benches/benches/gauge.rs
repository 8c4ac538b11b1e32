//! Gauge setting cost: `Gauge::set` (live, at the coarse clock second) and
//! `Gauge::set_at_unix` beside a `Mutex` of the same aggregate (count, min,
//! max, sum, last) and the `prometheus` crate's gauge (one atomic store,
//! which keeps only the last value) and the `metrics` crate's gauge (on its
//! own atomic storage, as exporters register it: also one store of the last
//! value), in one criterion group; then the same with two threads setting
//! one gauge (`Throughput::Elements(2)` per iteration pair, see
//! `two_threads`). Last, the bytes a durable store writes per gauge sample
//! (printed, not timed).
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
    g.bench_function("metrics_gauge_set", |b| {
        let cell = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let m = metrics::Gauge::from_arc(cell.clone());
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            m.set(value(i));
        });
        black_box(cell.load(std::sync::atomic::Ordering::Relaxed));
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
    g.bench_function("metrics_gauge_set", |b| {
        let m = metrics::Gauge::from_arc(std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)));
        b.iter_custom(|iters| two_threads(iters, &|v| m.set(v)));
    });
    g.finish();
}

/// Bytes on disk per gauge sample: a durable store with three gauges set
/// once a second for six hours (the sampler's shape), closed; the gauge
/// files' bytes over the samples, with the rollups' share.
fn disk_bytes_per_sample() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Store::open(dir.path(), Options::default().manual_seal(true))
        .expect("a store in a fresh directory");
    let names = ["process_resident_memory_bytes", "process_cpu_percent", "process_threads"];
    let gauges: Vec<_> = names.iter().map(|n| store.gauge(n)).collect();
    let seconds = 6 * 3600u64;
    for s in 0..seconds {
        for (k, g) in (0u64..).zip(&gauges) {
            g.set_at_unix(BASE_SECOND + s, value(s * 3 + k));
        }
        if s % 600 == 0 {
            store.seal_now();
        }
    }
    store.close().expect("the store closes");
    let (mut level0, mut rollups) = (0u64, 0u64);
    for e in std::fs::read_dir(dir.path()).expect("the store directory").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let len = e.metadata().map_or(0, |m| m.len());
        if name.starts_with("G0-") {
            level0 += len;
        } else if name.starts_with('G') {
            rollups += len;
        }
    }
    let samples = seconds * names.len() as u64;
    #[expect(clippy::cast_precision_loss, reason = "byte counts far below 2^52")]
    let per = |b: u64| b as f64 / samples as f64;
    eprintln!(
        "gauge disk bytes: {samples} samples (3 gauges x 1/s x 6 h): {level0} B of seconds \
         ({:.2} B/sample), {rollups} B of rollups ({:.3} B/sample)",
        per(level0),
        per(rollups)
    );
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    gauge_1thread(&mut c);
    gauge_2threads(&mut c);
    disk_bytes_per_sample();
}

criterion_main!(benches);
