//! Latency, not throughput: how long one `record()` call can take while
//! the store seals and flushes 1 000 series on another thread (the issue's
//! "a live `record()` caller must never be blocked by a seal pass or a
//! flush"). A plain `main` (criterion reports means, not tails): one thread
//! times every `Series::record` call with `Instant` into an
//! `hdrhistogram`, first alone, then while another thread calls
//! `Store::flush` (a forced seal of every series, then a write of every
//! segment) in a loop on a durable store of 1 000 active series; beside it,
//! the same two runs for `Mutex<hdrhistogram::Histogram>` locked by a
//! thread that merges it 1 000 times per pass (the peer's "seal").
//!
//! The tight loop makes the recording thread drain its own ring every 256
//! calls; at a live pace (~20 000 calls/s) the clock thread drains the rings
//! every 10 ms tick and the caller never does.
//!
//! Run: `cargo bench -p tailstore-benches --bench record_latency` (~40 s).
//! Prints lines like `record_latency: tailstore, flushing: p50 … p99.99 … max …`.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tailstore::{Options, Store};
use tailstore_benches::{latencies_ns, new_hdr, SLICE, SLICE_MASK};

/// Timed calls per run.
const CALLS: usize = 4_000_000;
/// Series the background seal and flush visit.
const SERIES: usize = 1_000;

/// Times `CALLS` calls of `f` (each with a value from a fixed slice) into a
/// histogram of nanoseconds. The timer itself costs ~20 ns; it is the same
/// for every contender.
fn time_calls(f: &dyn Fn(u64)) -> hdrhistogram::Histogram<u64> {
    time_calls_paced(f, CALLS, CALLS, Duration::ZERO)
}

/// [`time_calls`] for `calls` calls in bursts of `burst`, with a sleep of
/// `pause` after each (a live server's pace rather than a tight loop).
fn time_calls_paced(
    f: &dyn Fn(u64),
    calls: usize,
    burst: usize,
    pause: Duration,
) -> hdrhistogram::Histogram<u64> {
    let vals = latencies_ns(SLICE, 5);
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3)
        .expect("valid bounds");
    for i in 0..calls {
        let v = vals[i & SLICE_MASK];
        let t0 = Instant::now();
        f(v);
        let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        h.saturating_record(ns.max(1));
        if (i + 1) % burst == 0 && !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    h
}

fn report(who: &str, what: &str, h: &hdrhistogram::Histogram<u64>, passes: u64) {
    println!(
        "record_latency: {who}, {what}: p50 {} ns, p99 {} ns, p99.9 {} ns, p99.99 {} ns, max {} ns \
         ({} calls, {passes} background passes)",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.value_at_quantile(0.9999),
        h.max(),
        h.len(),
    );
}

/// Runs `timed` on this thread while `background` runs in a loop on
/// another (if given); returns the histogram and the background passes.
fn with_background(
    timed: &dyn Fn() -> hdrhistogram::Histogram<u64>,
    background: Option<&(dyn Fn() + Sync)>,
) -> (hdrhistogram::Histogram<u64>, u64) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|sc| {
        let bg = background.map(|b| {
            let stop = &stop;
            sc.spawn(move || {
                let mut passes = 0u64;
                while !stop.load(Relaxed) {
                    b();
                    passes += 1;
                }
                passes
            })
        });
        let h = timed();
        stop.store(true, Relaxed);
        let passes = bg.map_or(0, |t| t.join().expect("background thread"));
        (h, passes)
    })
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(dir.path(), Options::default()).expect("open a fresh store");
    let others: Vec<_> =
        (0..SERIES).map(|k| store.series(&format!("/models/m{k}/predict"))).collect();
    let hot = store.series("/models/hot/predict");
    // Keep the other series active: a few samples each per background pass.
    let flush = || {
        for (k, s) in others.iter().enumerate() {
            s.record(Duration::from_micros(1_000 + k as u64), 200);
        }
        // Errors would be a full disk here; the figure is about latency.
        let _ = store.flush();
    };
    let record = |v: u64| hot.record(Duration::from_nanos(v), 200);
    for (what, bg) in
        [("alone", None), ("while flushing 1000 series", Some(&flush as &(dyn Fn() + Sync)))]
    {
        let (h, passes) = with_background(&|| time_calls(&record), bg);
        report("tailstore Series::record", what, &h, passes);
    }
    // A live pace: ~20 000 calls/s (bursts of 200 every 10 ms), below what
    // the clock thread drains per tick, so the caller never drains.
    let paced = || time_calls_paced(&record, 200_000, 200, Duration::from_millis(10));
    for (what, bg) in [
        ("paced ~20k/s", None),
        ("paced ~20k/s, while flushing 1000 series", Some(&flush as &(dyn Fn() + Sync))),
    ] {
        let (h, passes) = with_background(&paced, bg);
        report("tailstore Series::record", what, &h, passes);
    }

    let peer = Mutex::new(new_hdr());
    let merged = Mutex::new(new_hdr());
    // The peer's seal: take the histogram under its lock and merge it into a
    // per-series target 1 000 times (what a store of 1 000 such series does).
    let seal = || {
        let snapshot = {
            let mut h = peer.lock();
            let s = h.clone();
            h.reset();
            s
        };
        let mut m = merged.lock();
        for _ in 0..SERIES {
            let _ = m.add(&snapshot);
        }
    };
    let peer_record = |v: u64| peer.lock().saturating_record(v);
    for (what, bg) in [("alone", None), ("while sealing", Some(&seal as &(dyn Fn() + Sync)))] {
        let (h, passes) = with_background(&|| time_calls(&peer_record), bg);
        report("Mutex<hdrhistogram> record", what, &h, passes);
    }
}
