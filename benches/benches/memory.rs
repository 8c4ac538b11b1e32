//! Bytes, not time: what one active series' recorder holds while two (or
//! one) threads record lognormal latencies into it second after second, next
//! to one dense hdrhistogram of the same range and precision. A plain `main`
//! (criterion measures time); it prints lines like
//! `memory: 2 threads, 1000 req/s each: shards N B, with open seconds M B`.
//!
//! Run: `cargo bench -p tailstore-benches --bench memory`.

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
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

/// Heap bytes requested and not freed, their high-water mark, and the
/// number of live allocations (each costs the allocator a header besides
/// its bytes: 8-16 B with glibc).
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static BLOCKS: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = LIVE.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(now, Relaxed);
}

/// The system allocator, counting live heap bytes and their peak.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are this allocator's; the counting
// touches atomics only and never allocates.
#[expect(unsafe_code, reason = "a counting global allocator needs `unsafe impl GlobalAlloc`")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        grew(layout.size());
        BLOCKS.fetch_add(1, Relaxed);
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: AllocLayout) -> *mut u8 {
        grew(layout.size());
        BLOCKS.fetch_add(1, Relaxed);
        // SAFETY: the caller's contract for `alloc_zeroed` is `System`'s.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        BLOCKS.fetch_sub(1, Relaxed);
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Relaxed);
        grew(new_size);
        // SAFETY: `ptr` came from `System` with `layout`; the caller's
        // contract for `new_size` is `System.realloc`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Resident bytes of this process (Linux `/proc/self/statm`; 0 elsewhere).
fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// What `n` series of `k` samples cost, per series.
struct PerSeries {
    /// `Series::memory_bytes`: recorder and tier, as the store accounts them.
    accounted: usize,
    /// Heap bytes still allocated after the flush (every allocation the
    /// series caused: maps, names, handles included).
    live: usize,
    /// Allocations still live after the flush.
    blocks: f64,
    /// The heap's high-water mark during the run (what the process needed).
    peak: usize,
    /// The process's resident growth (the allocator's high-water mark).
    resident: usize,
}

/// `n` series of `k` samples each over an hour, in time order (a replay's
/// shape: a scanner's paths seen once, a long tail of rare endpoints),
/// recorded by `threads` threads (the samples of round `m / n` by thread
/// `(m / n) % threads`: each series records from every thread, as one
/// behind a server's worker pool does), everything sealed and rolled up.
fn per_series_bytes(n: usize, k: u64, threads: usize) -> PerSeries {
    let store = Store::in_memory(Options::default().keep_everything().max_series(0));
    let (rss0, live0, blocks0) = (rss_bytes(), LIVE.load(Relaxed), BLOCKS.load(Relaxed));
    PEAK.store(live0, Relaxed);
    let series: Vec<_> = (0..n).map(|i| store.series(&format!("/scan/{i}"))).collect();
    // In time order over an hour, as a log holds them: sample `m` goes to
    // series `m % n`.
    let total = n * usize::try_from(k).expect("a bench's sample count fits usize");
    std::thread::scope(|sc| {
        for t in 0..threads {
            let series = &series;
            sc.spawn(move || {
                for m in (0..total).filter(|m| (m / n) % threads == t) {
                    let second = BASE_SECOND + m as u64 * 3600 / total as u64;
                    series[m % n].record_at_unix(second, 10_000_000, 404);
                }
            });
        }
    });
    store.flush().expect("in memory: flush cannot fail");
    let accounted = series.iter().map(tailstore::Series::memory_bytes).sum::<usize>() / n;
    #[expect(clippy::cast_precision_loss, reason = "a count of allocations, printed")]
    let blocks = BLOCKS.load(Relaxed).saturating_sub(blocks0) as f64 / n as f64;
    PerSeries {
        accounted,
        live: LIVE.load(Relaxed).saturating_sub(live0) / n,
        blocks,
        peak: PEAK.load(Relaxed).saturating_sub(live0) / n,
        resident: rss_bytes().saturating_sub(rss0) / n,
    }
}

fn main() {
    for (k, threads) in [(1u64, 1usize), (10, 1), (100, 1), (2, 2)] {
        let m = per_series_bytes(50_000, k, threads);
        println!(
            "memory: 50 000 series of {k} sample(s) from {threads} thread(s), sealed, per series: {} B accounted, {} B live heap in {:.1} allocations, {} B peak heap, {} B resident",
            m.accounted, m.live, m.blocks, m.peak, m.resident
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
