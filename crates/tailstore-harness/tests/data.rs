//! Deterministic latency samples shared by the tests.

use std::time::{Duration, UNIX_EPOCH};

use tailstore::{Layout, Options, Selector, Store, WindowStats};

/// 2025-12-01T00:00:00Z: the second the tests record at.
pub const T0_S: u64 = 1_764_547_200;

/// A small xorshift generator (fixed seeds, no dependency).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A uniform float in [0, 1).
    #[expect(clippy::cast_precision_loss, reason = "53 random bits are exact in an f64")]
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` model-server-like latencies in ns: a log-normal body around 20 ms
/// with a 1 % tail of stalls up to 2 s, and a few sub-microsecond values.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "the values are positive and below 1e10 ns, far inside u64"
)]
pub fn latencies(seed: u64, n: usize) -> Vec<u64> {
    let mut r = Rng(seed | 1);
    (0..n)
        .map(|i| {
            let u = r.unit();
            if i % 997 == 3 {
                1 + r.next() % 900
            } else if u < 0.01 {
                200_000_000 + r.next() % 1_800_000_000
            } else {
                // exp of a sum of uniforms: a rough log-normal.
                let z = (0..4).map(|_| r.unit()).sum::<f64>() - 2.0;
                (20e6 * (z * 0.9).exp()) as u64
            }
        })
        .collect()
}

/// A store with `layout` holding `values` in series `name` at [`T0_S`].
pub fn store_with(layout: Layout, name: &str, values: &[u64]) -> Store {
    let store = Store::in_memory(Options::default().layout(layout));
    let s = store.series(name);
    let at = UNIX_EPOCH + Duration::from_secs(T0_S);
    for &v in values {
        s.record_at(at, Duration::from_nanos(v), 200);
    }
    store
}

/// The window of second [`T0_S`] of series `name`.
pub fn window(store: &Store, name: &str) -> WindowStats {
    let at = UNIX_EPOCH + Duration::from_secs(T0_S);
    store.query(Selector::exact(name)).between(at, at + Duration::from_secs(1)).run().unwrap()
}
