//! Rendering window statistics: the `--json` contract and the human table.

use serde_json::{json, Map, Value};
use tailstore::WindowStats;

/// `p` + the percentile with trailing zeros dropped: 0.5 -> `p50`, 0.999 -> `p99.9`.
pub fn quantile_key(q: f64) -> String {
    let s = format!("{:.6}", q * 100.0);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("p{s}")
}

#[expect(
    clippy::cast_precision_loss,
    reason = "latencies are far below 2^53 ns (104 days), so the f64 is exact; as_secs_f64() * 1e3 would round differently and change the --json contract"
)]
fn ms(d: Option<std::time::Duration>) -> Value {
    d.map_or(Value::Null, |d| json!(d.as_nanos() as f64 / 1e6))
}

/// The fields of one window, in the contract's order:
/// `start, end, count, errors, error_ratio, rate_per_s, quantiles_ms, min_ms,
/// max_ms, mean_ms, status` (latencies in ms, `null` where the window is empty).
pub fn window_json(w: &WindowStats, qs: &[f64]) -> Map<String, Value> {
    let (start, end) = w.bounds_s();
    let mut m = Map::new();
    m.insert("start".into(), json!(start));
    m.insert("end".into(), json!(end));
    m.insert("count".into(), json!(w.count()));
    m.insert("errors".into(), json!(w.errors()));
    m.insert("error_ratio".into(), w.error_ratio().map_or(Value::Null, |r| json!(r)));
    m.insert("rate_per_s".into(), json!(w.rate_per_sec()));
    let mut qm = Map::new();
    for (q, v) in qs.iter().zip(w.quantiles(qs)) {
        qm.insert(quantile_key(*q), ms(v));
    }
    m.insert("quantiles_ms".into(), Value::Object(qm));
    m.insert("min_ms".into(), ms(w.min()));
    m.insert("max_ms".into(), ms(w.max()));
    m.insert("mean_ms".into(), ms(w.mean()));
    let mut st = Map::new();
    for (code, n) in w.status_counts().iter() {
        st.insert(code.to_string(), json!(n));
    }
    m.insert("status".into(), Value::Object(st));
    m
}

/// A latency in ms for tables (`-` when absent).
pub fn ms_text(d: Option<std::time::Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
}

/// The most frequent statuses, `200:901 404:99`.
pub fn top_statuses(w: &WindowStats, n: usize) -> String {
    let mut st: Vec<(u16, u64)> = w.status_counts().iter().collect();
    st.sort_by_key(|e| std::cmp::Reverse(e.1));
    st.iter().take(n).map(|(c, k)| format!("{c}:{k}")).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(quantile_key(0.5), "p50");
        assert_eq!(quantile_key(0.95), "p95");
        assert_eq!(quantile_key(0.99), "p99");
        assert_eq!(quantile_key(0.999), "p99.9");
        assert_eq!(quantile_key(0.9999), "p99.99");
        assert_eq!(quantile_key(0.0), "p0");
        assert_eq!(quantile_key(1.0), "p100");
    }
}
