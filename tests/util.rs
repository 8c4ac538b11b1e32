//! Test helpers: a deterministic PRNG, latency distributions, the exact oracle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tailstore_hist::{nearest_rank, ErrorSet};

/// Sets its flag when dropped, also while a panic unwinds: made first in a
/// thread scope whose helper threads loop until the flag is set, so that a
/// failed assertion (or a writer's panic) fails the test instead of leaving
/// the scope waiting for them forever.
pub struct StopOnDrop<'a>(pub &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// splitmix64: small, fast, deterministic.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    #[expect(
        clippy::cast_precision_loss,
        reason = "both operands are at most 2^53, so they are exact in f64"
    )]
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// An index below `len`, drawn as [`Rng::below`] draws it.
    pub fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).expect("below a usize length")
    }

    pub fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.unit(), self.unit());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Latency distributions the property tests draw from (values in ns).
#[derive(Clone, Copy, Debug)]
pub enum Dist {
    LogNormal { median_ns: f64, sigma: f64 },
    Bimodal { a_ns: f64, b_ns: f64, p_b: f64 },
    HeavyTail { scale_ns: f64, alpha: f64 },
    Constant(u64),
    Tiny,
}

impl Dist {
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "test latencies are below 1e10 ns (exact in f64) and the f64 is clamped to [0, 1e16] before the cast back"
    )]
    pub fn sample(&self, r: &mut Rng) -> u64 {
        let v = match *self {
            Dist::LogNormal { median_ns, sigma } => median_ns * (sigma * r.normal()).exp(),
            Dist::Bimodal { a_ns, b_ns, p_b } => {
                let m = if r.unit() < p_b { b_ns } else { a_ns };
                m * (0.1 * r.normal()).exp()
            }
            Dist::HeavyTail { scale_ns, alpha } => scale_ns / r.unit().powf(1.0 / alpha),
            Dist::Constant(v) => v as f64,
            Dist::Tiny => r.below(3000) as f64,
        };
        v.min(1e16) as u64
    }
}

/// A latency from 1 us to ~2.8 h, log-uniform by decade (the default layout
/// clamps above 1 h).
pub fn wide_latency(r: &mut Rng) -> u64 {
    let decade = u32::try_from(r.below(10)).expect("below 10");
    let base = 1_000 * 10u64.pow(decade);
    base + r.below(9 * base)
}

pub const STATUSES: [u16; 10] = [200, 200, 200, 200, 201, 404, 429, 500, 503, 0];

pub fn at(second: u64, frac_ns: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(second, frac_ns)
}

pub fn secs(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

/// A sample as the oracle sees it.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub series: usize,
    pub second: u64,
    pub latency_ns: u64,
    pub status: u16,
}

/// The exact answer over samples: sorted latencies, counts, statuses.
pub struct Oracle {
    /// The raw latencies, sorted (also those above the layout's range).
    pub sorted: Vec<u64>,
    /// The layout's highest value: ranks between the first and the last
    /// that fall above it answer from the top bucket.
    pub highest_ns: u64,
    pub count: u64,
    pub errors: u64,
    pub status: std::collections::BTreeMap<u16, u64>,
}

impl Oracle {
    pub fn new<'a>(samples: impl Iterator<Item = &'a Sample>, highest_ns: u64) -> Oracle {
        let set = ErrorSet::default();
        let mut o = Oracle {
            sorted: Vec::new(),
            highest_ns,
            count: 0,
            errors: 0,
            status: std::collections::BTreeMap::new(),
        };
        for s in samples {
            o.sorted.push(s.latency_ns);
            o.count += 1;
            let code = if s.status >= 1000 { 0 } else { s.status };
            o.errors += u64::from(set.contains(code));
            *o.status.entry(code).or_default() += 1;
        }
        o.sorted.sort_unstable();
        o
    }

    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.sorted.is_empty() {
            return None;
        }
        let n = self.sorted.len() as u64;
        let k = nearest_rank(q, n);
        let v = self.sorted[usize::try_from(k - 1).expect("a rank is at most the length")];
        // The first and last ranks are the exact extremes; the others are
        // read from the histogram, which clamps at the layout's top, and
        // then kept within the exact extremes (so a window whose samples
        // all lie above the top answers at least its exact minimum).
        let (lo, hi) = (self.sorted[0], self.sorted[self.sorted.len() - 1]);
        Some(if k == 1 || k == n { v } else { v.min(self.highest_ns).clamp(lo, hi) })
    }
}

pub const QS: [f64; 7] = [0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0];

/// Asserts a window's statistics against the oracle; `ctx` names the case.
#[expect(
    clippy::cast_precision_loss,
    reason = "relative-error and mean checks in f64: test latencies are below 1e16 ns and counts below 2^52"
)]
pub fn check(w: &tailstore::WindowStats, o: &Oracle, rel: f64, ctx: &str) {
    assert_eq!(w.count(), o.count, "count {ctx}");
    assert_eq!(w.errors(), o.errors, "errors {ctx}");
    let st: Vec<(u16, u64)> = w.status_counts().iter().collect();
    let want: Vec<(u16, u64)> = o.status.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(st, want, "status {ctx}");
    for q in QS {
        let got = w.quantile(q).map(|d| u64::try_from(d.as_nanos()).unwrap());
        let exact = o.quantile(q);
        match (got, exact) {
            (None, None) => {}
            (Some(g), Some(e)) => {
                let err = (g as f64 - e as f64).abs();
                assert!(
                    err <= e as f64 * rel,
                    "q {q}: got {g} exact {e} rel {} {ctx}",
                    err / e as f64
                );
            }
            other => panic!("q {q}: {other:?} {ctx}"),
        }
    }
    assert_eq!(
        w.min().map(|d| u64::try_from(d.as_nanos()).unwrap()),
        o.sorted.first().copied(),
        "min {ctx}"
    );
    assert_eq!(
        w.max().map(|d| u64::try_from(d.as_nanos()).unwrap()),
        o.sorted.last().copied(),
        "max {ctx}"
    );
    if !o.sorted.is_empty() {
        let mean = o.sorted.iter().map(|v| *v as f64).sum::<f64>() / o.sorted.len() as f64;
        let got = w.mean().unwrap().as_nanos() as f64;
        assert!((got - mean).abs() <= 1.0 + mean * 1e-9, "mean {got} vs {mean} {ctx}");
    }
}
