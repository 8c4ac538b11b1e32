//! A store with known traffic, shared by the test groups.

use std::time::{Duration, UNIX_EPOCH};

use tailstore::{Options, Store};

/// 2025-12-01T00:00:00Z.
pub const T0: u64 = 1_764_547_200;

/// Three series (one with a name that needs escaping) over ten minutes:
/// 600 requests each, 2 % 503s, 1 % 404s, latencies 1 ms ..= 1.2 s.
#[must_use]
#[cfg_attr(
    not(any(feature = "server", feature = "promtool", feature = "real-prometheus")),
    expect(dead_code, reason = "used by the feature-gated groups")
)]
pub fn store() -> Store {
    let store = Store::in_memory(Options::default().keep_everything());
    for name in ["/models/fraud-v2/predict", "/models/churn/predict", "/models/\"odd\"\\name\n"] {
        let s = store.series(name);
        for i in 0..600u64 {
            let status = match i % 100 {
                0 | 50 => 503,
                7 => 404,
                _ => 200,
            };
            let at = UNIX_EPOCH + Duration::from_secs(T0 + i);
            s.record_at(at, Duration::from_micros(1_000 + (i * 7_919) % 1_200_000), status);
        }
    }
    store
}
