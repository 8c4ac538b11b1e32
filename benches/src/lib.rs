//! Shared helpers of the tailstore benchmarks: a deterministic PRNG, a
//! lognormal latency sampler and the peers' constructors, so every bench
//! feeds every contender the same fixed-seed inputs, built outside timing.
//!
//! Latencies are in nanoseconds. The default distribution is lognormal with
//! a median of 40 ms and sigma 0.6, a typical model-serving latency shape.

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Median of the default latency distribution, in ns (40 ms).
pub const MEDIAN_NS: f64 = 40_000_000.0;
/// Sigma (standard deviation of the log) of the default distribution.
pub const SIGMA: f64 = 0.6;
/// Length of the pre-generated input slices of the record benches.
pub const SLICE: usize = 4096;
/// Mask to index a [`SLICE`]-long slice with a running counter.
pub const SLICE_MASK: usize = SLICE - 1;
/// A fixed, old data second (unix seconds) the benches record at.
pub const BASE_SECOND: u64 = 1_700_000_000;
/// Lowest value of the peer hdrhistograms (1 µs, in ns).
pub const HDR_LOW: u64 = 1_000;
/// Highest value of the peer hdrhistograms (1 h, in ns).
pub const HDR_HIGH: u64 = 3_600_000_000_000;
/// Significant digits of the peer hdrhistograms.
pub const HDR_SIGFIG: u8 = 3;

/// splitmix64: a tiny, fast, deterministic 64-bit PRNG (no `rand` crate).
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`; equal seeds give equal streams.
    #[must_use]
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in `(0, 1]` (never 0, so `ln` of it is finite).
    #[inline]
    #[expect(
        clippy::cast_precision_loss,
        reason = "both operands are at most 2^53, so they are exact in f64"
    )]
    pub fn next_unit(&mut self) -> f64 {
        // 53 random bits, shifted by one ulp so the result is never zero.
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Lognormal sampler by Box-Muller: `median * exp(sigma * z)`, `z ~ N(0, 1)`.
#[derive(Clone, Debug)]
pub struct Lognormal {
    median_ns: f64,
    sigma: f64,
    rng: SplitMix64,
    spare: Option<f64>,
}

impl Lognormal {
    /// A sampler of median `median_ns` and log-sigma `sigma`, seeded with `seed`.
    #[must_use]
    pub fn new(median_ns: f64, sigma: f64, seed: u64) -> Lognormal {
        Lognormal { median_ns, sigma, rng: SplitMix64::new(seed), spare: None }
    }

    /// The default latency shape (median 40 ms, sigma 0.6) with `seed`.
    #[must_use]
    pub fn latency(seed: u64) -> Lognormal {
        Lognormal::new(MEDIAN_NS, SIGMA, seed)
    }

    /// One standard normal deviate (Box-Muller, both halves used).
    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * self.rng.next_unit().ln()).sqrt();
        let theta = std::f64::consts::TAU * self.rng.next_unit();
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }

    /// One latency in ns (at least 1).
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "median * exp(..) is positive and far below u64::MAX, and `as` saturates anyway"
    )]
    pub fn sample_ns(&mut self) -> u64 {
        let v = self.median_ns * (self.sigma * self.normal()).exp();
        // `as` saturates for floats; the distribution stays far below u64::MAX.
        (v.round() as u64).max(1)
    }

    /// `n` latencies in ns.
    pub fn samples_ns(&mut self, n: usize) -> Vec<u64> {
        (0..n).map(|_| self.sample_ns()).collect()
    }
}

/// `n` fixed-seed lognormal latencies (ns) of the default shape.
#[must_use]
pub fn latencies_ns(n: usize, seed: u64) -> Vec<u64> {
    Lognormal::latency(seed).samples_ns(n)
}

/// `n` fixed-seed `(latency_ns, status)` pairs: ~2 % of them 503, the rest 200.
#[must_use]
pub fn samples(n: usize, seed: u64) -> Vec<(u64, u16)> {
    let mut lat = Lognormal::latency(seed);
    let mut rng = SplitMix64::new(seed ^ 0x5DEE_CE66_D1CE_5EED);
    (0..n)
        .map(|_| (lat.sample_ns(), if rng.next_u64().is_multiple_of(50) { 503 } else { 200 }))
        .collect()
}

/// An empty peer hdrhistogram: 1 µs ..= 1 h in ns, 3 significant digits.
///
/// # Panics
///
/// Never: the bounds are valid constants.
#[must_use]
pub fn new_hdr() -> hdrhistogram::Histogram<u64> {
    // The bounds are valid constants, so construction cannot fail.
    hdrhistogram::Histogram::new_with_bounds(HDR_LOW, HDR_HIGH, HDR_SIGFIG)
        .expect("valid hdrhistogram bounds")
}

/// Bytes of the counts array of one dense peer hdrhistogram.
#[must_use]
pub fn hdr_dense_bytes() -> usize {
    new_hdr().distinct_values() * std::mem::size_of::<u64>()
}

/// The peer prometheus histogram, in seconds, with 16 exponential buckets
/// from 1 ms (1 ms .. 32.8 s).
///
/// # Panics
///
/// Never: the bucket and histogram options are valid constants.
#[must_use]
pub fn new_prometheus() -> prometheus::Histogram {
    // Valid constant arguments, so neither call can fail.
    let buckets = prometheus::exponential_buckets(0.001, 2.0, 16).expect("valid buckets");
    prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("lat", "lat").buckets(buckets))
        .expect("valid histogram options")
}

/// Nanoseconds to prometheus seconds.
#[inline]
#[must_use]
#[expect(
    clippy::cast_precision_loss,
    reason = "prometheus observes f64 seconds; latencies are far below 2^53 ns (104 days)"
)]
pub fn ns_to_secs(ns: u64) -> f64 {
    ns as f64 * 1e-9
}

/// The unix second `s` as a `SystemTime`.
#[must_use]
pub fn at(s: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_secs(s)
}

/// An in-memory store (keep everything, 1 s lateness) of `series` endpoints
/// `/models/m{i}/predict`, each `span_s` seconds of 1 s data from unix second
/// `start` with `per_second` lognormal samples a second (about 2 % 503 and 1 %
/// 404, seeded by `seed`), sealed and rolled up: the store a scrape or a
/// dashboard query reads.
///
/// # Panics
///
/// Never: an in-memory store's flush does no I/O.
#[must_use]
pub fn endpoints_store(
    series: usize,
    start: u64,
    span_s: u64,
    per_second: usize,
    seed: u64,
) -> tailstore::Store {
    let store = tailstore::Store::in_memory(
        tailstore::Options::default().keep_everything().lateness(Duration::from_secs(1)),
    );
    let mut lat = Lognormal::latency(seed);
    let mut st = SplitMix64::new(seed + 1);
    let mut batch = Vec::with_capacity(per_second);
    for i in 0..series {
        let s = store.series(&format!("/models/m{i}/predict"));
        for k in 0..span_s {
            batch.clear();
            batch.extend((0..per_second).map(|_| {
                let status = match st.next_u64() % 100 {
                    0 | 1 => 503,
                    2 => 404,
                    _ => 200,
                };
                (lat.sample_ns(), status)
            }));
            s.record_batch_at_unix(start + k, &batch);
        }
        store.seal_now();
    }
    store.flush().expect("an in-memory store flushes without I/O");
    store
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
///
/// # Panics
///
/// When a bench thread panics (or `iters` does not fit `usize`).
pub fn two_threads<F>(iters: u64, work: F) -> Duration
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prng_is_deterministic() {
        assert_eq!(latencies_ns(16, 7), latencies_ns(16, 7));
        assert_ne!(latencies_ns(16, 7), latencies_ns(16, 8));
    }

    #[test]
    fn lognormal_median_is_close() {
        let mut v = latencies_ns(100_001, 1);
        v.sort_unstable();
        #[expect(clippy::cast_precision_loss, reason = "a latency in ns, far below 2^53")]
        let median = v[50_000] as f64;
        assert!((median / MEDIAN_NS - 1.0).abs() < 0.02, "median {median}");
    }
}
