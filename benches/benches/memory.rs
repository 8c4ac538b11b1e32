//! Bytes, not time: what one active series' recorder holds while two (or
//! one) threads record lognormal latencies into it second after second, next
//! to one dense hdrhistogram of the same range and precision. A plain `main`
//! (criterion measures time); it prints lines like
//! `memory: 2 threads, 1000 req/s each: shards N B, with open seconds M B`.
//!
//! Run: `cargo bench -p tailstore-benches --bench memory`.

use std::time::Duration;

use tailstore::{Options, Store};
use tailstore_benches::{hdr_dense_bytes, latencies_ns, BASE_SECOND};
use tailstore_hist::Layout;

/// Seconds of data time each run records.
const SECONDS: usize = 30;

/// `threads` threads each record `rate` samples per data second for
/// `SECONDS` seconds into one series. Returns the recorder's bytes with the
/// default 10 s lateness (shards plus the open seconds that lateness keeps),
/// and with lateness 0 after a seal (shards alone).
fn recorder_bytes(threads: u64, rate: usize, lateness: Duration) -> usize {
    let store = Store::in_memory(Options::default().lateness(lateness));
    let s = store.series("bench");
    let inputs: Vec<Vec<u64>> =
        (0..threads).map(|t| latencies_ns(rate * SECONDS, 100 + t)).collect();
    std::thread::scope(|sc| {
        for vals in &inputs {
            let s = s.clone();
            sc.spawn(move || {
                for (i, &v) in vals.iter().enumerate() {
                    s.record_at_unix(BASE_SECOND + i as u64 / rate as u64, v, 200);
                }
            });
        }
    });
    store.seal_now();
    s.recorder_bytes()
}

/// Two threads record live (`Series::record`, the store's clock) at about
/// `rate` requests per second each for `secs` wall-clock seconds, while the
/// clock thread seals; returns the recorder's bytes at the end.
fn live_bytes(threads: u64, rate: u64, secs: u64) -> usize {
    let store = Store::in_memory(Options::default());
    let s = store.series("live");
    let vals = latencies_ns(4096, 7);
    std::thread::scope(|sc| {
        for _ in 0..threads {
            let (s, vals) = (s.clone(), &vals);
            sc.spawn(move || {
                let t0 = std::time::Instant::now();
                let mut i = 0u64;
                while t0.elapsed() < Duration::from_secs(secs) {
                    // Bursts of rate/100 every 10 ms.
                    for _ in 0..rate / 100 {
                        s.record(Duration::from_nanos(vals[(i % 4096) as usize]), 200);
                        i += 1;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
        }
    });
    s.recorder_bytes()
}

fn main() {
    for rate in [1_000u64, 100_000] {
        let live = live_bytes(2, rate, 3);
        println!("memory: live record(), 2 threads, ~{rate} req/s each, 3 s: {live} B per series");
    }
    // `cargo bench` passes `--bench` (and any filter); there is nothing to select.
    for rate in [1_000usize, 100_000] {
        for threads in [1u64, 2] {
            let shards = recorder_bytes(threads, rate, Duration::ZERO);
            let open = recorder_bytes(threads, rate, Duration::from_secs(10));
            println!(
                "memory: {threads} thread(s), {rate} req/s each: shards {shards} B; with the open seconds of a 10 s lateness {open} B"
            );
        }
    }
    println!(
        "memory: hdrhistogram dense (1 us ..= 1 h, 3 digits): {} bytes per histogram",
        hdr_dense_bytes()
    );
    println!(
        "memory: tailstore dense layout (1 us ..= 1 h, 3 digits): {} bytes per Vec<u64> of layout.len()",
        Layout::default().len() * std::mem::size_of::<u64>()
    );
}
