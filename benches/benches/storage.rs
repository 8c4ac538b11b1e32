//! Storage: bytes on disk per request, per level, at 200, 1 000 and 20 000
//! requests/s (lognormal latencies, median 40 ms, σ 0.6; statuses 200 / 404 /
//! 503), against hdrhistogram's V2+DEFLATE encoding of the same one-second
//! and one-minute histograms and against 16 bytes per raw sample; then write
//! throughput (seconds sealed and persisted per second of wall time) and the
//! cost of `flush()`. A plain `main`: bytes are not a timing.
//!
//! Run: `cargo bench -p tailstore-benches --bench storage`.

use std::time::{Duration, Instant};

use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use tailstore::{FsyncPolicy, Options, Selector, Store};
use tailstore_benches::{new_hdr, Lognormal, SplitMix64};

/// Seconds of traffic per rate: one hour, so the minute level has 60 pieces.
const SECONDS: u64 = 3600;
/// First second: an hour boundary, so files and rollups align.
const START: u64 = 1_700_000_000 - 1_700_000_000 % 3600;

/// Bytes in the files of `level` with extension `ext` (`seg`: the data;
/// `idx`: the index files, a cache that can be deleted).
fn level_bytes(dir: &std::path::Path, level: u8, ext: &str) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            (name.starts_with(&format!("L{level}-")) && name.ends_with(&format!(".{ext}")))
                .then(|| e.metadata().unwrap().len())
        })
        .sum()
}

fn status(r: &mut SplitMix64) -> u16 {
    match r.next_u64() % 100 {
        0 => 503,
        1 | 2 => 404,
        _ => 200,
    }
}

/// Reopens a durable store of `days` days at 20 req/s and times the open
/// (scan + load) and P99 queries, first (cold) and repeated (warm, median).
fn cold_and_warm(days: u64) {
    let dir = tempfile::tempdir().unwrap();
    let secs = days * 86_400;
    {
        let store = Store::open(
            dir.path(),
            Options::default().lateness(Duration::ZERO).fsync(FsyncPolicy::Never),
        )
        .unwrap();
        let s = store.series("/models/fraud-v2/predict");
        let mut lat = Lognormal::latency(7);
        let mut r = SplitMix64::new(7);
        let mut batch = Vec::new();
        for k in 0..secs {
            batch.clear();
            batch.extend((0..20).map(|_| (lat.sample_ns(), status(&mut r))));
            s.record_batch_at_unix(START + k, &batch);
        }
        store.flush().unwrap();
    }
    let bytes: u64 = (0..3).map(|l| level_bytes(dir.path(), l, "seg")).sum();
    // Best of 3 opens, with the index files the writer left, then without
    // them (every record's header read and checked).
    let best_open = || {
        (0..3)
            .map(|_| {
                let t = Instant::now();
                let s = Store::open_read_only(dir.path(), Options::default()).unwrap();
                let e = t.elapsed();
                (e, s.open_report().map_or(0, |r| r.indexed))
            })
            .min()
            .unwrap()
    };
    let (indexed_open, indexed) = best_open();
    let idx: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "idx"))
        .collect();
    let saved: Vec<(std::path::PathBuf, Vec<u8>)> =
        idx.iter().map(|p| (p.clone(), std::fs::read(p).unwrap())).collect();
    for p in &idx {
        std::fs::remove_file(p).unwrap();
    }
    let (scan_open, _) = best_open();
    for (p, b) in saved {
        std::fs::write(p, b).unwrap();
    }
    let t = Instant::now();
    let store = Store::open_read_only(dir.path(), Options::default()).unwrap();
    let open = t.elapsed();
    println!(
        "durable: {days} d at 20 req/s ({} MB on disk): open_read_only {:.0} ms \
         (best of 3: {:.0} ms from {indexed} index files, {:.0} ms scanning every record)",
        bytes / 1_000_000,
        open.as_secs_f64() * 1e3,
        indexed_open.as_secs_f64() * 1e3,
        scan_open.as_secs_f64() * 1e3
    );
    let end = START + secs - 7; // not aligned to a minute
    for (name, len) in [("5m", 300u64), ("1h", 3600), ("24h", 86_400), ("7d", 7 * 86_400)] {
        let q = || {
            let t = Instant::now();
            let w = store
                .query(Selector::exact("/models/fraud-v2/predict"))
                .between(tailstore_benches::at(end - len), tailstore_benches::at(end))
                .run()
                .unwrap();
            std::hint::black_box(w.quantile(0.99));
            t.elapsed()
        };
        let cold = q();
        let mut warm: Vec<Duration> = (0..101).map(|_| q()).collect();
        warm.sort();
        println!(
            "durable: p99 over {name}: first query after open {:.1} us, warm median {:.1} us",
            cold.as_secs_f64() * 1e6,
            warm[50].as_secs_f64() * 1e6
        );
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "byte counts, request counts and seconds printed as per-request ratios, all far below 2^52"
)]
fn main() {
    cold_and_warm(8);
    println!("storage: {SECONDS} s of lognormal traffic per rate; bytes per request");
    println!(
        "{:>8} {:>12} {:>12} {:>14} {:>14} {:>10} {:>12} {:>12} {:>12}",
        "req/s",
        "1s level",
        "1m level",
        "hdr V2+DEFL 1s",
        "hdr V2+DEFL 1m",
        "raw 16 B",
        "write s/s",
        "flush ms",
        "1s index"
    );
    for rate in [200u64, 1_000, 20_000] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            Options::default()
                .keep_everything()
                .lateness(Duration::ZERO)
                .fsync(FsyncPolicy::Never)
                .flush_every(Duration::from_secs(3600)),
        )
        .unwrap();
        let s = store.series("/models/fraud-v2/predict");
        let mut lat = Lognormal::latency(rate);
        let mut r = SplitMix64::new(rate ^ 0x5eed);
        let mut hdr_second_bytes = 0usize;
        let mut hdr_minute_bytes = 0usize;
        let mut minute = new_hdr();
        let mut ser = V2DeflateSerializer::new();
        let mut buf = Vec::new();
        let mut flush_total = Duration::ZERO;
        let mut batch = Vec::with_capacity(usize::try_from(rate).unwrap());
        let t0 = Instant::now();
        let mut record_time = Duration::ZERO;
        for k in 0..SECONDS {
            batch.clear();
            batch.extend((0..rate).map(|_| (lat.sample_ns(), status(&mut r))));
            let tr = Instant::now();
            s.record_batch_at_unix(START + k, &batch);
            record_time += tr.elapsed();
            // The peer: the same second as its own hdrhistogram, V2+DEFLATE.
            let mut h = new_hdr();
            for (v, _) in &batch {
                h.saturating_record(*v);
            }
            buf.clear();
            hdr_second_bytes += ser.serialize(&h, &mut buf).unwrap();
            minute.add(&h).unwrap();
            if (k + 1) % 60 == 0 {
                buf.clear();
                hdr_minute_bytes += ser.serialize(&minute, &mut buf).unwrap();
                minute.reset();
            }
            // One flush per second, as a live store does (flush_every = 1 s).
            let tf = Instant::now();
            store.flush().unwrap();
            flush_total += tf.elapsed();
        }
        let wall = t0.elapsed();
        drop(store);
        let n = (rate * SECONDS) as f64;
        let l0 = level_bytes(dir.path(), 0, "seg") as f64;
        let l1 = level_bytes(dir.path(), 1, "seg") as f64;
        let ix0 = level_bytes(dir.path(), 0, "idx") as f64;
        println!(
            "{:>8} {:>12.3} {:>12.3} {:>14.3} {:>14.3} {:>10.1} {:>12.0} {:>12.3} {:>12.3}",
            rate,
            l0 / n,
            l1 / n,
            hdr_second_bytes as f64 / n,
            hdr_minute_bytes as f64 / n,
            16.0,
            SECONDS as f64 / wall.saturating_sub(record_time).as_secs_f64(),
            flush_total.as_secs_f64() * 1e3 / SECONDS as f64,
            ix0 / n,
        );
    }
}
