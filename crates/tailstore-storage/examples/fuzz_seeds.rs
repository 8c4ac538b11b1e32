//! Writes seed inputs for the fuzz targets `decode_chunk` (single records)
//! and `open_dir` (whole level-0 segment files) in the current format:
//! `cargo run -p tailstore-storage --features unstable-internals --example fuzz_seeds -- fuzz/corpus`.
//! The fuzzer grows the corpora from these; `tests/fuzz_corpus.rs` replays
//! them on stable.

use std::path::PathBuf;

use tailstore_hist::{Interval, Layout, SparseHist, StatusCounts};
use tailstore_storage::internals::{
    encode_gauge_record, encode_interval_record, encode_series_record, segment_header_bytes,
};

fn interval(start_s: u64, n: u64, spread: u32, seed: u64) -> Interval {
    let layout = Layout::default();
    let mut x = seed | 1;
    let mut d = std::collections::BTreeMap::new();
    let (mut min, mut max, mut sum) = (u64::MAX, 0u64, 0u128);
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = 1_000_000 + (x % (u64::from(spread) * 1_000));
        *d.entry(layout.index(v)).or_insert(0u64) += 1;
        min = min.min(v);
        max = max.max(v);
        sum += u128::from(v);
    }
    let mut iv = Interval::empty(start_s, 1);
    iv.hist = SparseHist::from_sorted(d).expect("sorted by the map");
    let errors = n / 10;
    iv.status = StatusCounts::from_pairs([(200, n - errors), (503, errors)]);
    if n > 0 {
        (iv.min_ns, iv.max_ns, iv.sum_ns) = (min, max, sum);
    }
    iv
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into()));
    let layout = Layout::default();
    let chunk_dir = out.join("decode_chunk");
    let dir_dir = out.join("open_dir");
    std::fs::create_dir_all(&chunk_dir).expect("create decode_chunk corpus dir");
    std::fs::create_dir_all(&dir_dir).expect("create open_dir corpus dir");
    let ivs = [
        interval(0, 0, 1, 1),
        interval(1, 1, 1, 2),
        interval(2, 30, 50, 3),
        interval(3, 1_000, 2_000, 4),
        interval(4, 20_000, 50_000, 5),
    ];
    let mut seg = segment_header_bytes(0, &layout);
    let series = encode_series_record(0, "/models/fraud-v2/predict").expect("short name");
    std::fs::write(chunk_dir.join("seed-series"), &series).expect("write seed");
    seg.extend_from_slice(&series);
    for (k, iv) in ivs.iter().enumerate() {
        for (late, level) in [(false, 3), (true, -5)] {
            let rec = encode_interval_record(0, iv.start_s, iv, late, &layout, level)
                .expect("small interval");
            std::fs::write(chunk_dir.join(format!("seed-interval-{k}-{late}")), &rec)
                .expect("write seed");
            seg.extend_from_slice(&rec);
        }
    }
    std::fs::write(dir_dir.join("seed-segment"), &seg).expect("write seed");
    // A torn tail and a flipped byte, so the damage paths start covered.
    std::fs::write(dir_dir.join("seed-segment-torn"), &seg[..seg.len() - 7]).expect("write seed");
    let mut flipped = seg.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    std::fs::write(dir_dir.join("seed-segment-flipped"), &flipped).expect("write seed");
    // Gauge records (format version 3), alone and as a gauge file.
    let mut gseg = tailstore_storage::internals::gauge_header_bytes(0);
    gseg.extend_from_slice(
        &encode_series_record(0, "process_resident_memory_bytes").expect("short name"),
    );
    for (k, (v, late)) in [(8.0e8, false), (-1.5, true), (0.0, false)].into_iter().enumerate() {
        let agg = tailstore_hist::GaugeAgg::one(k as u64, v);
        let rec = encode_gauge_record(0, k as u64, k as u64, &agg, late).expect("a storable piece");
        std::fs::write(chunk_dir.join(format!("seed-gauge-{k}")), &rec).expect("write seed");
        gseg.extend_from_slice(&rec);
    }
    std::fs::write(dir_dir.join("seed-gauge-segment"), &gseg).expect("write seed");
    println!("seeds written under {}", out.display());
}
