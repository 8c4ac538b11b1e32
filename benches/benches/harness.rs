//! The benchmark harness's record path (`tailstore-harness`) beside
//! `hdrhistogram::Histogram::record_correct` behind a mutex, in the same
//! criterion groups so each figure reads as a ratio.
//!
//! * `harness_record`: one response per iteration, latencies from the
//!   pre-generated 4 096-long lognormal slice (median 40 ms), an expected
//!   interval of 100 ms (so ~15 % of the responses add corrected samples).
//!   `open_loop_record` is `OpenLoop::record` (a corrected and an
//!   uncorrected sample, from instants computed outside the loop);
//!   `closed_loop_record_at` is `ClosedLoop::record_at` (the sample in both
//!   series, plus `HdrHistogram`'s added samples in the corrected one). The
//!   peers: `record_correct` into one `Mutex<hdrhistogram>`, and into one
//!   while the plain value goes into a second (what our two series hold).
//!   `store_two_series_record_at_unix` is the floor under both of ours: the
//!   store recording the value into two series, with no harness around it.
//! * `harness_stall`: every response 1 s at a 10 ms interval, so each
//!   record adds 99 samples: `ClosedLoop::record_at` against
//!   `record_correct` (`Throughput::Elements(100)`: per sample).
//!
//! * `harness_2threads`: two threads record into one harness (one store
//!   series pair) against two threads sharing the mutex of the two-histogram
//!   peer; the figure is the wall time in which *each* thread recorded one
//!   response (`Throughput::Elements(2)`: `1 / thrpt` is the aggregate time
//!   per response), as in `benches/record.rs`'s `record_2threads`.
//!
//! Run: `cargo bench -p tailstore-benches --bench harness`.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{criterion_main, Criterion, Throughput};
use parking_lot::Mutex;
use tailstore::{Options, Store};
use tailstore_benches::{latencies_ns, new_hdr, two_threads, BASE_SECOND, SLICE, SLICE_MASK};
use tailstore_harness::{ClosedLoop, OpenLoop, Schedule};

const INTERVAL_NS: u64 = 100_000_000;

fn harness_record(c: &mut Criterion) {
    let vals = latencies_ns(SLICE, 42);
    let at = UNIX_EPOCH + Duration::from_secs(BASE_SECOND);
    let mut g = c.benchmark_group("harness_record");
    g.throughput(Throughput::Elements(1));

    g.bench_function("open_loop_record", |b| {
        let store = Store::in_memory(Options::default());
        let t0 = Instant::now();
        let sched = Schedule::starting_at(t0, at, Duration::from_nanos(INTERVAL_NS))
            .expect("a positive interval");
        let run = OpenLoop::with_schedule(&store, "bench", sched);
        // Slots of one second, each sent 1 ms late and answered after the
        // slice's latency: the instants are computed outside the loop.
        let cases: Vec<_> = vals
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let slot = run.slot(i as u64 % 10);
                let sent = slot.intended() + Duration::from_millis(1);
                (slot, sent, sent + Duration::from_nanos(v))
            })
            .collect();
        let mut i = 0usize;
        b.iter(|| {
            let (slot, sent, done) = &cases[i & SLICE_MASK];
            i = i.wrapping_add(1);
            black_box(run.record(slot, *sent, *done, 200));
        });
    });

    g.bench_function("closed_loop_record_at", |b| {
        let store = Store::in_memory(Options::default());
        let h = ClosedLoop::new(&store, "bench", Duration::from_nanos(INTERVAL_NS));
        cycle(b, &vals, |v| h.record_at(at, Duration::from_nanos(v), 200));
    });

    // The floor of both: the store's own record of one sample into each of
    // two series, without the harness.
    g.bench_function("store_two_series_record_at_unix", |b| {
        let store = Store::in_memory(Options::default());
        let (s1, s2) = (store.series("bench"), store.series("bench:uncorrected"));
        cycle(b, &vals, |v| {
            s1.record_at_unix(BASE_SECOND, v, 200);
            s2.record_at_unix(BASE_SECOND, v, 200);
        });
    });

    g.bench_function("hdrhistogram_mutex_record_correct", |b| {
        let h = Mutex::new(new_hdr());
        cycle(b, &vals, |v| {
            let _ = h.lock().record_correct(v, INTERVAL_NS);
        });
        black_box(h.lock().len());
    });

    g.bench_function("hdrhistogram_mutex_record_correct_and_record", |b| {
        let h = Mutex::new((new_hdr(), new_hdr()));
        cycle(b, &vals, |v| {
            let mut g = h.lock();
            let _ = g.0.record_correct(v, INTERVAL_NS);
            g.1.saturating_record(v);
        });
        black_box(h.lock().0.len());
    });
    g.finish();
}

fn harness_stall(c: &mut Criterion) {
    let at: SystemTime = UNIX_EPOCH + Duration::from_secs(BASE_SECOND);
    let mut g = c.benchmark_group("harness_stall");
    // 1 response and 99 added samples per iteration.
    g.throughput(Throughput::Elements(100));
    g.bench_function("closed_loop_record_at", |b| {
        let store = Store::in_memory(Options::default());
        let h = ClosedLoop::new(&store, "bench", Duration::from_millis(10));
        b.iter(|| h.record_at(at, Duration::from_secs(1), 200));
    });
    g.bench_function("hdrhistogram_mutex_record_correct", |b| {
        let h = Mutex::new(new_hdr());
        b.iter(|| {
            let _ = h.lock().record_correct(1_000_000_000, 10_000_000);
        });
        black_box(h.lock().len());
    });
    g.finish();
}

fn harness_2threads(c: &mut Criterion) {
    let vals = [latencies_ns(SLICE, 44), latencies_ns(SLICE, 45)];
    let at = UNIX_EPOCH + Duration::from_secs(BASE_SECOND);
    let mut g = c.benchmark_group("harness_2threads");
    g.throughput(Throughput::Elements(2));
    g.bench_function("closed_loop_record_at", |b| {
        let store = Store::in_memory(Options::default());
        let h = ClosedLoop::new(&store, "bench", Duration::from_nanos(INTERVAL_NS));
        b.iter_custom(|iters| {
            two_threads(iters, |t, n| {
                let vals = &vals[t];
                for i in 0..n {
                    h.record_at(at, Duration::from_nanos(vals[i & SLICE_MASK]), 200);
                }
            })
        });
    });
    g.bench_function("hdrhistogram_mutex_record_correct_and_record", |b| {
        let h = Mutex::new((new_hdr(), new_hdr()));
        b.iter_custom(|iters| {
            two_threads(iters, |t, n| {
                let vals = &vals[t];
                for i in 0..n {
                    let v = vals[i & SLICE_MASK];
                    let mut g = h.lock();
                    let _ = g.0.record_correct(v, INTERVAL_NS);
                    g.1.saturating_record(v);
                }
            })
        });
        black_box(h.lock().0.len());
    });
    g.finish();
}

fn cycle(b: &mut criterion::Bencher<'_>, vals: &[u64], mut f: impl FnMut(u64)) {
    let mut i = 0usize;
    b.iter(|| {
        let v = vals[i & SLICE_MASK];
        i = i.wrapping_add(1);
        f(v);
    });
}

/// Private, so the `pub fn` that `criterion_group!` generates is not
/// exported (and needs no doc).
mod groups {
    criterion::criterion_group!(
        benches,
        super::harness_record,
        super::harness_stall,
        super::harness_2threads
    );
}
criterion_main!(groups::benches);
