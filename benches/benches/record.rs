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
//!
//! Run: `cargo bench -p tailstore-benches --bench record`.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion, Throughput};
use parking_lot::Mutex;
use tailstore::{Options, Store};
use tailstore_benches::{
    latencies_ns, new_hdr, new_prometheus, ns_to_secs, samples, BASE_SECOND, SLICE, SLICE_MASK,
};
use tailstore_hist::Layout;

#[expect(
    clippy::many_single_char_names,
    reason = "criterion's c (Criterion), g (group) and b (Bencher), plus s/i/v in each bench closure"
)]
fn record_1thread(c: &mut Criterion) {
    let vals = latencies_ns(SLICE, 42);
    let mut g = c.benchmark_group("record_1thread");
    g.throughput(Throughput::Elements(1));

    g.bench_function("tailstore_record_at_unix", |b| {
        let store = Store::in_memory(Options::default());
        let s = store.series("bench");
        // A fixed second: every record after the first stays on the fast path.
        let mut i = 0usize;
        b.iter(|| {
            let v = vals[i & SLICE_MASK];
            i = i.wrapping_add(1);
            s.record_at_unix(BASE_SECOND, v, 200);
        });
    });

    g.bench_function("tailstore_record", |b| {
        let store = Store::in_memory(Options::default());
        let s = store.series("bench");
        // Wall-clock second: the shard turns over (cold path) once a second.
        let mut i = 0usize;
        b.iter(|| {
            let v = vals[i & SLICE_MASK];
            i = i.wrapping_add(1);
            s.record(Duration::from_nanos(v), 200);
        });
    });

    g.bench_function("hdrhistogram_mutex", |b| {
        let h = Mutex::new(new_hdr());
        let mut i = 0usize;
        b.iter(|| {
            let v = vals[i & SLICE_MASK];
            i = i.wrapping_add(1);
            h.lock().saturating_record(v);
        });
        black_box(h.lock().len());
    });

    g.bench_function("hdrhistogram_bare", |b| {
        let mut h = new_hdr();
        let mut i = 0usize;
        b.iter(|| {
            let v = vals[i & SLICE_MASK];
            i = i.wrapping_add(1);
            h.saturating_record(v);
        });
        black_box(h.len());
    });

    g.bench_function("prometheus_observe", |b| {
        let h = new_prometheus();
        let mut i = 0usize;
        b.iter(|| {
            let v = vals[i & SLICE_MASK];
            i = i.wrapping_add(1);
            h.observe(ns_to_secs(v));
        });
        black_box(h.get_sample_count());
    });

    g.bench_function("floor_index_increment", |b| {
        let layout = Layout::default();
        let mut counts = vec![0u64; layout.len()];
        let mut i = 0usize;
        b.iter(|| {
            let v = vals[i & SLICE_MASK];
            i = i.wrapping_add(1);
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

/// Wall time of two threads each running `work(thread, iters)` concurrently:
/// from the earliest start to the latest end, both started behind a barrier
/// so thread creation is not timed.
///
/// Reading the figure: criterion divides this wall time by `iters` and
/// prints it as `time`: the wall time in which *each* thread did one record.
/// With `Throughput::Elements(2)` its `thrpt` line counts both threads'
/// records, so `1 / thrpt` (= `time / 2`) is the aggregate wall time per
/// record across both threads: half the single-thread figure would be
/// perfect 2x scaling, equal to it no scaling, more than it contention
/// making two threads slower than one. The machine has 2 cores shared with
/// the store's clock thread and other tenants, so treat this as contention
/// behaviour, not a scaling curve.
fn two_threads<F>(iters: u64, work: F) -> Duration
where
    F: Fn(usize, usize) + Sync,
{
    let iters = usize::try_from(iters).expect("criterion's iteration count fits in usize");
    let barrier = Barrier::new(2);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let (barrier, work) = (&barrier, &work);
                sc.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    work(t, iters);
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("bench thread panicked")).collect()
    });
    let start = spans.iter().map(|s| s.0).min().expect("two spans");
    let end = spans.iter().map(|s| s.1).max().expect("two spans");
    end - start
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

/// Private, so the `pub fn` that `criterion_group!` generates is not
/// exported (and needs no doc).
mod groups {
    criterion::criterion_group!(
        benches,
        super::record_1thread,
        super::record_batch,
        super::record_2threads
    );
}
criterion_main!(groups::benches);
