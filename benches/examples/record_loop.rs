//! A fixed recording loop to count instructions and cycles with
//! `perf stat` or `valgrind --tool=callgrind` (criterion's timings on a
//! shared 2-vCPU machine drift by ~10 % between runs; instruction counts
//! compare two builds exactly).
//!
//! `cargo run --release -p tailstore-benches --example record_loop -- CASE N`
//! with CASE one of `narrow`, `wide`, `wide_1m`, `dyn`, `hdr` (plain
//! `hdrhistogram::Histogram::record`, wide), `in_order` and `jitter_2s`
//! (`record_at_unix`, 2 000 samples per data second, in order or each up to
//! 2 s late, as `record_at_disorder` in `benches/record.rs`) and N records
//! (default 20 M).

use std::hint::black_box;
use std::time::{Duration, Instant};

use tailstore::{Options, Store};
use tailstore_benches::{new_hdr, SplitMix64};

fn uniform_ns(n: usize, lo_ns: u64, hi_ns: u64, seed: u64) -> Vec<u64> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| lo_ns + rng.next_u64() % (hi_ns - lo_ns)).collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_else(|| "wide".to_owned());
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000_000);
    let vals = match case.as_str() {
        "narrow" => uniform_ns(4096, 30_000_000, 46_000_000, 7),
        "wide_1m" => uniform_ns(1 << 20, 1_000_000, 1_050_000_000, 9),
        _ => uniform_ns(4096, 1_000_000, 1_050_000_000, 8),
    };
    let mask = vals.len() - 1;
    let store = Store::in_memory(Options::default());
    let s = store.series("loop");
    let t0 = Instant::now();
    match case.as_str() {
        "hdr" => {
            let mut h = new_hdr();
            for i in 0..n {
                black_box(h.record(vals[i & mask]).is_ok());
            }
            black_box(h.len());
        }
        "in_order" | "jitter_2s" => {
            let jitter_ms = if case == "in_order" { 0 } else { 2_000 };
            let mut rng = SplitMix64::new(12);
            let mut v: Vec<(u64, u64)> = (0..n)
                .map(|k| {
                    let arrival_ms = k as u64 / 2;
                    let back_ms = if jitter_ms == 0 { 0 } else { rng.next_u64() % jitter_ms };
                    (1_700_000_000 + arrival_ms.saturating_sub(back_ms) / 1_000, vals[k & mask])
                })
                .collect();
            if jitter_ms == 0 {
                v.sort_by_key(|p| p.0);
            }
            let t0 = Instant::now();
            for &(second, value) in &v {
                s.record_at_unix(second, value, 200);
            }
            #[expect(
                clippy::cast_precision_loss,
                reason = "a count of records, for a printed mean"
            )]
            let ns = t0.elapsed().as_secs_f64() * 1e9 / n as f64;
            println!("{case}: {n} records, {ns:.2} ns each");
            return;
        }
        "dyn" => {
            let f = |v: u64| s.record(Duration::from_nanos(v), 200);
            let f: &dyn Fn(u64) = &f;
            for i in 0..n {
                black_box(f)(vals[i & mask]);
            }
        }
        _ => {
            for i in 0..n {
                s.record(Duration::from_nanos(vals[i & mask]), 200);
            }
        }
    }
    #[expect(clippy::cast_precision_loss, reason = "a count of records, for a printed mean")]
    let ns = t0.elapsed().as_secs_f64() * 1e9 / n as f64;
    println!("{case}: {n} records, {ns:.2} ns each");
}
