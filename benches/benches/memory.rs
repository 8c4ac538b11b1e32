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

/// Resident bytes of this process (Linux `/proc/self/statm`; 0 elsewhere).
fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// `n` series of `k` samples each over an hour, in time order (one thread,
/// a replay's shape: a scanner's paths seen once, a long tail of rare
/// endpoints), everything sealed and rolled up. Returns the accounted bytes per series
/// (`Series::memory_bytes`: recorder and tier) and the process's resident
/// growth per series (allocator overhead, maps and names included).
fn per_series_bytes(n: usize, k: u64) -> (usize, usize) {
    let store = Store::in_memory(Options::default().keep_everything().max_series(0));
    let before = rss_bytes();
    let series: Vec<_> = (0..n).map(|i| store.series(&format!("/scan/{i}"))).collect();
    // In time order over an hour, as a log holds them: sample `m` goes to
    // series `m % n`.
    let total = n * usize::try_from(k).expect("a bench's sample count fits usize");
    for m in 0..total {
        series[m % n].record_at_unix(BASE_SECOND + m as u64 * 3600 / total as u64, 10_000_000, 404);
    }
    store.flush().expect("in memory: flush cannot fail");
    let accounted = series.iter().map(tailstore::Series::memory_bytes).sum::<usize>() / n;
    (accounted, rss_bytes().saturating_sub(before) / n)
}

fn main() {
    for k in [1u64, 10, 100] {
        let (accounted, rss) = per_series_bytes(50_000, k);
        println!(
            "memory: 50 000 series of {k} sample(s), sealed: {accounted} B accounted, {rss} B resident per series"
        );
    }
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
