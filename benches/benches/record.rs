//! Recording cost: tailstore against its peers, in the same criterion groups
//! so that each figure reads as a ratio to the others on the same machine.
//!
//! * `record_1thread`: one record per iteration (`Throughput::Elements(1)`),
//!   latencies taken from a pre-generated 4096-long lognormal slice with a
//!   running index `i & 4095`. The `floor` entry is a bare bucket-index
//!   increment into a `Vec<u64>`: the cost no histogram of this layout can beat.
//! * `record_batch`: 4096 samples of one second per iteration
//!   (`Throughput::Elements(4096)`), batch API against a scalar loop.
//! * `record_2threads`: two threads recording into one shared target; see
//!   [`two_threads`] for how to read the figure.
//! * `record_ranges`: narrow and wide value ranges, from a 4 096-long and a
//!   1 M-long slice, beside `Mutex<hdrhistogram>` and plain `record`.
//! * `record_dyn_fn`: the middleware call shape, behind `&dyn Fn(u64)`.
//! * `record_at_disorder`: `record_at` with timestamps out of order by up
//!   to 2 s and 9 s against the same samples in order (and a naive
//!   `Mutex<BTreeMap<second, hdrhistogram>>`).
//!
//! Run: `cargo bench -p tailstore-benches --bench record`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_main, Criterion, Throughput};
use parking_lot::Mutex;
use tailstore::{Options, Store};
use tailstore_benches::{
    latencies_ns, new_hdr, new_prometheus, ns_to_secs, samples, two_threads, SplitMix64,
    BASE_SECOND, SLICE, SLICE_MASK,
};
use tailstore_hist::Layout;

fn record_1thread(c: &mut Criterion) {
    let vals = latencies_ns(SLICE, 42);
    let mut g = c.benchmark_group("record_1thread");
    g.throughput(Throughput::Elements(1));

    g.bench_function("tailstore_record_at_unix", |b| {
        let store = Store::in_memory(Options::default());
        let s = store.series("bench");
        // A fixed second: every record after the first stays on the fast path.
        cycle(b, &vals, |v| {
            s.record_at_unix(BASE_SECOND, v, 200);
        });
    });

    g.bench_function("tailstore_record", |b| {
        let store = Store::in_memory(Options::default());
        let s = store.series("bench");
        // Wall-clock second: the thread's ring is folded into it as it fills.
        cycle(b, &vals, |v| {
            s.record(Duration::from_nanos(v), 200);
        });
    });

    g.bench_function("hdrhistogram_mutex", |b| {
        let h = Mutex::new(new_hdr());
        cycle(b, &vals, |v| {
            h.lock().saturating_record(v);
        });
        black_box(h.lock().len());
    });

    g.bench_function("hdrhistogram_bare", |b| {
        let mut h = new_hdr();
        cycle(b, &vals, |v| {
            h.saturating_record(v);
        });
        black_box(h.len());
    });

    g.bench_function("prometheus_observe", |b| {
        let h = new_prometheus();
        cycle(b, &vals, |v| {
            h.observe(ns_to_secs(v));
        });
        black_box(h.get_sample_count());
    });

    g.bench_function("floor_index_increment", |b| {
        let layout = Layout::default();
        let mut counts = vec![0u64; layout.len()];
        cycle(b, &vals, |v| {
            counts[layout.index(v) as usize] += 1;
        });
        black_box(counts.iter().sum::<u64>());
    });

    g.finish();
}

fn record_batch(c: &mut Criterion) {
    let pairs = samples(SLICE, 43);
    let mut g = c.benchmark_group("record_batch");
    g.throughput(Throughput::Elements(SLICE as u64));

    g.bench_function("tailstore_record_batch_at_unix", |b| {
        let store = Store::in_memory(Options::default());
        let s = store.series("bench");
        b.iter(|| s.record_batch_at_unix(BASE_SECOND, black_box(&pairs)));
    });

    g.bench_function("tailstore_scalar_record_at_unix", |b| {
        let store = Store::in_memory(Options::default());
        let s = store.series("bench");
        b.iter(|| {
            for &(v, status) in black_box(&pairs) {
                s.record_at_unix(BASE_SECOND, v, status);
            }
        });
    });

    g.finish();
}

fn record_2threads(c: &mut Criterion) {
    // One fixed-seed slice per thread, so the threads do not walk in lockstep.
    let vals = [latencies_ns(SLICE, 44), latencies_ns(SLICE, 45)];
    let mut g = c.benchmark_group("record_2threads");
    g.throughput(Throughput::Elements(2));

    g.bench_function("tailstore_record_at_unix", |b| {
        let store = Store::in_memory(Options::default());
        let s = store.series("bench");
        b.iter_custom(|iters| {
            two_threads(iters, |t, n| {
                let vals = &vals[t];
                for i in 0..n {
                    s.record_at_unix(BASE_SECOND, vals[i & SLICE_MASK], 200);
                }
            })
        });
    });

    g.bench_function("hdrhistogram_mutex", |b| {
        let h = Mutex::new(new_hdr());
        b.iter_custom(|iters| {
            two_threads(iters, |t, n| {
                let vals = &vals[t];
                for i in 0..n {
                    h.lock().saturating_record(vals[i & SLICE_MASK]);
                }
            })
        });
        black_box(h.lock().len());
    });

    g.bench_function("prometheus_observe", |b| {
        let h = new_prometheus();
        b.iter_custom(|iters| {
            two_threads(iters, |t, n| {
                let vals = &vals[t];
                for i in 0..n {
                    h.observe(ns_to_secs(vals[i & SLICE_MASK]));
                }
            })
        });
        black_box(h.get_sample_count());
    });

    g.finish();
}

/// Uniform latencies in `[lo_ns, hi_ns)` (fixed seed).
fn uniform_ns(n: usize, lo_ns: u64, hi_ns: u64, seed: u64) -> Vec<u64> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| lo_ns + rng.next_u64() % (hi_ns - lo_ns)).collect()
}

/// `record()` on the value ranges that a 4 096-long lognormal slice hides:
/// narrow (30-46 ms, a few hundred buckets, all in cache), wide (uniform
/// 1 ms-1.05 s, ~10 000 buckets) from a 4 096-long slice and from a
/// 1 M-long one (inputs stream from memory, as a replay's do), each beside
/// `Mutex<hdrhistogram>` and a plain `hdrhistogram::Histogram::record`
/// (no atomics, one thread: the figure the target divides by).
fn record_ranges(c: &mut Criterion) {
    let workloads: [(&str, Vec<u64>); 3] = [
        ("narrow", uniform_ns(SLICE, 30_000_000, 46_000_000, 7)),
        ("wide", uniform_ns(SLICE, 1_000_000, 1_050_000_000, 8)),
        ("wide_1m", uniform_ns(1 << 20, 1_000_000, 1_050_000_000, 9)),
    ];
    let mut g = c.benchmark_group("record_ranges");
    g.throughput(Throughput::Elements(1));
    for (name, vals) in &workloads {
        g.bench_function(format!("{name}/tailstore_record"), |b| {
            let store = Store::in_memory(Options::default());
            let s = store.series("bench");
            cycle(b, vals, |v| {
                s.record(Duration::from_nanos(v), 200);
            });
        });
        g.bench_function(format!("{name}/hdrhistogram_mutex"), |b| {
            let h = Mutex::new(new_hdr());
            cycle(b, vals, |v| {
                h.lock().saturating_record(v);
            });
            black_box(h.lock().len());
        });
        g.bench_function(format!("{name}/hdrhistogram_record"), |b| {
            let mut h = new_hdr();
            cycle(b, vals, |v| {
                // `record` (not saturating): the plain call the target names.
                black_box(h.record(v).is_ok());
            });
            black_box(h.len());
        });
    }
    g.finish();
}

/// The call shape of a middleware: the recorder behind a `&dyn Fn(u64)`
/// that the caller cannot inline, wide values, for tailstore and the mutex
/// peer through the same shape (and the plain peer inline, for the ratio).
fn record_dyn(c: &mut Criterion) {
    let vals = uniform_ns(SLICE, 1_000_000, 1_050_000_000, 10);
    let mut g = c.benchmark_group("record_dyn_fn");
    g.throughput(Throughput::Elements(1));
    let drive = |b: &mut criterion::Bencher<'_>, f: &dyn Fn(u64)| {
        cycle(b, &vals, |v| {
            black_box(f)(v);
        });
    };
    {
        let store = Store::in_memory(Options::default());
        let s = store.series("bench");
        let f = move |v: u64| s.record(Duration::from_nanos(v), 200);
        g.bench_function("tailstore_record", |b| drive(b, &f));
    }
    {
        let h = Mutex::new(new_hdr());
        let f = |v: u64| h.lock().saturating_record(v);
        g.bench_function("hdrhistogram_mutex", |b| drive(b, &f));
    }
    g.finish();
}

/// `record_at` of traffic whose timestamps are out of order, as a model
/// server recording request start times (or a replay of Envoy/Istio logs,
/// stamped at start and written at completion) produces: ~2 000 samples per
/// data second, each arriving up to `jitter` seconds after its own second.
/// The same samples sorted by second are the in-order reference; a
/// `Mutex<BTreeMap<second, hdrhistogram>>` (the naive per-second store) is
/// the peer. Data time advances through the run (the slice repeats with its
/// seconds shifted), so the store's seal passes run as they would live.
#[expect(
    clippy::many_single_char_names,
    reason = "criterion's c (Criterion), g (group) and b (Bencher), plus s/i/v in each bench closure"
)]
fn record_at_disorder(c: &mut Criterion) {
    const PER_SECOND: u64 = 2_000;
    const N: usize = 1 << 20;
    let span = (N as u64).div_ceil(PER_SECOND);
    let vals = latencies_ns(N, 11);
    let mut rng = SplitMix64::new(12);
    let make = |jitter_s: u64, rng: &mut SplitMix64| -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = (0..N)
            .map(|k| {
                let arrival_ms = k as u64 * 1_000 / PER_SECOND;
                // Stamped up to jitter_s before it arrives.
                let back_ms = if jitter_s == 0 { 0 } else { rng.next_u64() % (jitter_s * 1_000) };
                (arrival_ms.saturating_sub(back_ms) / 1_000, vals[k])
            })
            .collect();
        if jitter_s == 0 {
            v.sort_by_key(|p| p.0);
        }
        v
    };
    let sorted = make(0, &mut rng);
    let jitter = make(2, &mut rng);
    // 9 s: within the default 10 s lateness, so no sample is late.
    let spread = make(9, &mut rng);
    let mut g = c.benchmark_group("record_at_disorder");
    g.throughput(Throughput::Elements(1));
    for (name, seq) in [("in_order", &sorted), ("jitter_2s", &jitter), ("spread_9s", &spread)] {
        g.bench_function(format!("{name}/tailstore_record_at"), |b| {
            let store = Store::in_memory(Options::default());
            let s = store.series("bench");
            let mut i = 0usize;
            let mut base = BASE_SECOND;
            b.iter(|| {
                let (sec, v) = seq[i];
                i += 1;
                if i == N {
                    i = 0;
                    base += span;
                }
                s.record_at_unix(base + sec, v, 200);
            });
        });
        g.bench_function(format!("{name}/hdrhistogram_mutex_per_second"), |b| {
            let map =
                Mutex::new(std::collections::BTreeMap::<u64, hdrhistogram::Histogram<u64>>::new());
            let mut i = 0usize;
            let mut base = BASE_SECOND;
            b.iter(|| {
                let (sec, v) = seq[i];
                i += 1;
                if i == N {
                    i = 0;
                    base += span;
                    // Keep the map's size bounded as a store would seal.
                    let mut m = map.lock();
                    let keep = m.split_off(&base);
                    *m = keep;
                }
                map.lock().entry(base + sec).or_insert_with(new_hdr).saturating_record(v);
            });
            black_box(map.lock().len());
        });
    }
    g.finish();
}

/// Runs `f` on the values of `vals` in turn, round and round (`vals.len()`
/// is a power of two), as criterion's timed loop: the input every record
/// bench gives its contender.
#[inline]
fn cycle(b: &mut criterion::Bencher<'_>, vals: &[u64], mut f: impl FnMut(u64)) {
    let mask = vals.len() - 1;
    let mut i = 0usize;
    b.iter(|| {
        let v = vals[i & mask];
        i = i.wrapping_add(1);
        f(v);
    });
}

/// Private, so the `pub fn` that `criterion_group!` generates is not
/// exported (and needs no doc).
mod groups {
    criterion::criterion_group!(
        benches,
        super::record_1thread,
        super::record_batch,
        super::record_2threads,
        super::record_ranges,
        super::record_dyn,
        super::record_at_disorder
    );
}
criterion_main!(groups::benches);
